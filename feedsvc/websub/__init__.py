"""Reaching readers within seconds: WebSub (W3C Recommendation) and purges of the cache in front.

* Publisher: every feed names its hubs and its self URL (in the document and in ``Link`` headers);
  after each committed change, external hubs (``FEEDSVC_WEBSUB_HUBS``) get a publish ping per feed URL.
* Our own hub at ``/websub`` (``FEEDSVC_WEBSUB_HUB``, on by default): subscriptions, verification of
  intent, signed deliveries of the full current document.
* Purges: ``FEEDSVC_PURGE_URL`` gets a purge per changed feed, naming its surrogate keys.

Web processes only record: the subscription request (``hub``) and, inside the writing transaction,
the outbox row (``outbox``). Everything that talks to other servers runs in the worker (``work``):
``feedsvc worker`` runs it in a thread beside ingestion, ``feedsvc websub-worker`` alone.
"""

from __future__ import annotations

from flask import Flask

from feedsvc.websub.settings import WebSubSettings, from_config


def init_app(app: Flask) -> None:
    from feedsvc.websub import hub, outbox
    from feedsvc.websub.purge import ImmediatePurges, await_purges

    settings = from_config(app.config, app.extensions["feedsvc.site"])
    app.extensions["feedsvc.websub"] = settings
    # Recorded in the changing transaction, so a change and its notification commit together.
    app.extensions["feedsvc.events"].subscribe_in_transaction(outbox.record)
    if settings.purge_url:
        # At once after each commit, besides the outbox's durable purges a moment later.
        app.extensions["feedsvc.events"].subscribe(ImmediatePurges(settings, app.extensions["feedsvc.site"]))
        if settings.purge_wait > 0:
            await_purges(app, settings.purge_wait)  # the API's 201 comes once the cache in front is fresh
    if settings.own_hub:
        app.register_blueprint(hub.bp)


__all__ = ["WebSubSettings", "init_app"]
