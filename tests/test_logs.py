"""Logging is configured once per process, and errors reach the service's log with their traceback."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from flask import Flask

from feedsvc import logs
from tests.test_processes import ROOT, env_for, free_port


def test_a_view_that_raises_logs_its_traceback_through_our_handler(
    app_factory: Callable[..., Flask], caplog: pytest.LogCaptureFixture
) -> None:
    app = app_factory()

    @app.get("/boom")
    def boom() -> str:
        raise RuntimeError("boom in a view")

    response = app.test_client().get("/boom")
    assert response.status_code == 500
    record = next(r for r in caplog.records if r.exc_info and "boom in a view" in str(r.exc_info[1]))
    assert record.name.startswith("feedsvc") and "GET /boom" in record.getMessage()
    ours = [h for h in logging.getLogger().handlers if h in logs._configured]
    assert ours, "configure_logging installed no handler on the root logger"
    assert "Traceback" in ours[0].format(record) and "RuntimeError: boom in a view" in ours[0].format(record)


def test_configured_once(app_factory: Callable[..., Flask]) -> None:
    app_factory()
    before = list(logging.getLogger().handlers)
    app_factory(LOG_LEVEL="DEBUG")
    assert logging.getLogger().handlers == before  # a second app adds nothing
    assert logging.getLogger("feedsvc").level == logging.DEBUG
    assert not logging.getLogger("feedsvc").handlers  # no Flask default handler: no line twice
    app_factory()
    assert logging.getLogger("feedsvc").level == logging.INFO


def test_bad_log_format_is_refused(app_factory: Callable[..., Flask]) -> None:
    with pytest.raises(ValueError, match="FEEDSVC_LOG_FORMAT"):
        app_factory(LOG_FORMAT="xml")


def test_json_format_is_one_object_per_line() -> None:
    try:
        raise KeyError("gone")
    except KeyError:
        record = logging.getLogger("feedsvc.x").makeRecord(
            "feedsvc.x", logging.ERROR, __file__, 1, "failed %s", ("here",), sys.exc_info()
        )
    line = logs.make_formatter("json").format(record)
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["level"] == "ERROR" and entry["logger"] == "feedsvc.x" and entry["message"] == "failed here"
    assert entry["time"].endswith("+00:00") and "KeyError: 'gone'" in entry["exc_info"]


def test_json_access_line_carries_the_request_fields(client) -> None:  # type: ignore[no-untyped-def]
    """One line per request, fast path included: request id, route, status, duration, bytes, cache."""
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    access = logging.getLogger("feedsvc.access")
    keep, level = Keep(), access.level
    access.addHandler(keep)
    access.setLevel(logging.INFO)
    try:
        response = client.get("/feed.json", headers={"X-Request-Id": "req-42"})
    finally:
        access.removeHandler(keep)
        access.setLevel(level)
    assert response.headers["X-Request-Id"] == "req-42"
    entry = json.loads(logs.make_formatter("json").format(records[-1]))
    assert entry["request_id"] == "req-42" and entry["status"] == 200
    for name in ("route", "duration_ms", "bytes", "cache"):
        assert name in entry, entry


APP_WITH_ERRORS = textwrap.dedent("""
    import warnings

    from feedsvc import create_app

    app = create_app()


    @app.get("/boom")
    def boom():
        warnings.warn("a deprecated thing was used", DeprecationWarning)
        raise RuntimeError("boom under gunicorn")
""")


@pytest.mark.slow
def test_traceback_and_warning_land_in_gunicorns_error_log(
    app: Flask, backend: dict[str, str], tmp_path: Path
) -> None:
    (tmp_path / "errorapp.py").write_text(APP_WITH_ERRORS)
    log_file = tmp_path / "error.log"
    port = free_port()
    env = {**env_for(backend), "PYTHONPATH": f"{tmp_path}:{ROOT}", "PYTHONWARNINGS": "always"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-w", "1", "-b", f"127.0.0.1:{port}", "--error-logfile",
         str(log_file), "errorapp:app"],
        cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        assert httpx.get(url + "/boom").status_code == 500
    finally:
        proc.terminate()
        _out, err = proc.communicate(timeout=10)
    text = log_file.read_text()
    assert "Traceback" in text and "RuntimeError: boom under gunicorn" in text, text[-3000:]
    assert "unhandled error on GET /boom" in text
    assert "DeprecationWarning: a deprecated thing was used" in text
    assert b"boom under gunicorn" not in err  # not on the worker's stderr instead
