"""Logging, configured once per process: the web app, the CLI and the ingestion worker alike.

Our records (and Python warnings, and other libraries' warnings) go to one place: under gunicorn,
gunicorn's error log handlers, so tracebacks land in ``--error-logfile`` next to gunicorn's own lines;
elsewhere, stderr. ``FEEDSVC_LOG_LEVEL`` sets our level; ``FEEDSVC_LOG_FORMAT`` is ``text`` or ``json``.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from flask import Flask
from flask.logging import default_handler

from feedsvc.config import ConfigError

FORMATS = ("text", "json")
TEXT_FORMAT = "%(asctime)s [%(process)d] %(levelname)s %(name)s: %(message)s"
OTHERS_LEVEL = logging.WARNING  # other libraries' INFO (SQLAlchemy, httpx…) is noise in the service log

_configured: list[logging.Handler] = []  # the handlers installed, once per process


# Attributes every LogRecord has; anything else on a record came from ``extra=`` (request and fetch
# fields of the access and fetch lines) and is written as a field of its own.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, the fields given with ``extra=``,
    and the traceback as a string."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "process": record.process,
        }
        for name, value in vars(record).items():
            if name not in _STANDARD and not name.startswith("_"):
                entry.setdefault(name, value)
        if record.exc_info:
            entry["exc_info"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack_info"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def make_formatter(name: str) -> logging.Formatter:
    # The one place a format is chosen: a later format is one more branch here.
    if name == "json":
        return JsonFormatter()
    return logging.Formatter(TEXT_FORMAT)


def configure_logging(app_or_config: Flask | Mapping[str, Any]) -> None:
    """Set up logging for this process; later calls only adjust our level."""
    config = app_or_config.config if isinstance(app_or_config, Flask) else app_or_config
    level = str(config.get("LOG_LEVEL") or "INFO").upper()
    fmt = str(config.get("LOG_FORMAT") or "text").lower()
    if fmt not in FORMATS:
        raise ConfigError(f"FEEDSVC_LOG_FORMAT must be one of {', '.join(FORMATS)}, not {fmt!r}")
    ours = logging.getLogger("feedsvc")  # also the Flask app's logger (the app is named feedsvc)
    ours.setLevel(level)
    # Flask adds its own stderr handler to app.logger unless one is there: ours is, on the root.
    ours.removeHandler(default_handler)
    if _configured:
        return
    root = logging.getLogger()
    gunicorn = logging.getLogger("gunicorn.error").handlers
    if gunicorn:
        # Gunicorn's handlers already write where the operator pointed the error log (and reopen
        # it on USR1); sharing them keeps one log. JSON then applies to gunicorn's lines too.
        handlers = list(gunicorn)
        if fmt == "json":
            for handler in handlers:
                handler.setFormatter(make_formatter(fmt))
    else:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(make_formatter(fmt))
        handlers = [handler]
    for handler in handlers:
        root.addHandler(handler)
    # Records of every logger reach the root's handlers; the root's level only governs loggers
    # that set none, i.e. other libraries.
    root.setLevel(OTHERS_LEVEL)
    logging.captureWarnings(True)  # warnings.warn(...) → the "py.warnings" logger → the same handlers
    _configured.extend(handlers)
