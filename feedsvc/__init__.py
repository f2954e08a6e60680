"""feedsvc: RSS, Atom and JSON Feed for a multilingual news portal."""

from __future__ import annotations

import os
from typing import Any

from flask import Flask

from feedsvc import config as config_module


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """Application factory: defaults, then instance/config.py, then FEEDSVC_* variables, then test_config."""
    app = Flask(__name__, instance_relative_config=True)
    app.config.from_mapping(config_module.DEFAULTS)
    app.config.from_pyfile("config.py", silent=True)
    app.config.update(config_module.env_overrides(os.environ))
    if test_config:
        app.config.update(test_config)
    os.makedirs(app.instance_path, exist_ok=True)
    config_module.finalize(app.config, app.instance_path)  # type: ignore[arg-type]

    from feedsvc.logs import configure_logging

    # Before anything logs, and before Flask's app.logger would add a stderr handler of its own.
    configure_logging(app)

    from feedsvc import api, cache, cli, db, health, metrics, sanitize, site, websub
    from feedsvc.public import feeds, pages, websub_callback

    # Partner HTML is cleaned deep inside parsing, away from any app: the one process-wide setting.
    sanitize.configure(embed_hosts=app.config["EMBED_HOST_LIST"])

    site.init_app(app)
    db.init_app(app)
    cache.init_app(app)
    websub.init_app(app)
    api.init_app(app)
    app.register_blueprint(health.bp)
    metrics.init_app(app)
    app.register_blueprint(feeds.bp)
    app.register_blueprint(pages.bp)
    app.register_blueprint(websub_callback.bp)
    cli.init_app(app)
    from feedsvc.public.serving import FeedServer, serve_wsgi

    server = FeedServer(
        app.config, app.extensions["feedsvc.site"], db.database_of(app), app.extensions["feedsvc.cache"]
    )
    app.extensions["feedsvc.server"] = server
    # Feed polls are answered before Flask is entered; everything else goes on to Flask.
    app.extensions["feedsvc.flask_wsgi"] = app.wsgi_app  # Flask alone, for tests that compare the two
    app.wsgi_app = serve_wsgi(server, app.wsgi_app)  # type: ignore[method-assign]
    # Outermost: request id, request counters and the access line cover the fast path too.
    app.wsgi_app = metrics.instrument(app.wsgi_app)  # type: ignore[method-assign]
    if app.config["TRUSTED_PROXIES"] > 0:
        from werkzeug.middleware.proxy_fix import ProxyFix

        # Around everything, so that the access line and per-client limits see the client's address:
        # X-Forwarded-For is believed only as far as the configured number of proxies in front.
        hops = int(app.config["TRUSTED_PROXIES"])
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)  # type: ignore[method-assign]
    return app
