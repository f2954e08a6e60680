"""The real ``feedsvc`` console script and its commands."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import func, select

from feedsvc import db
from feedsvc.models import ApiToken, Category, Post, PostCategory


def run_cli(
    tmp_path: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).parent / "feedsvc"
    return subprocess.run(
        [str(exe), *args],
        cwd=tmp_path,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.slow
def test_init_db_demo_and_token_from_scratch(tmp_path: Path) -> None:
    env = {"FEEDSVC_DATABASE_URL": f"sqlite:///{tmp_path / 'fresh.sqlite3'}", "FEEDSVC_CACHE_URL": "simple"}
    init = run_cli(tmp_path, "init-db", env=env)
    assert init.returncode == 0, init.stderr
    assert "database ready" in init.stdout
    again = run_cli(tmp_path, "init-db", env=env)  # idempotent
    assert again.returncode == 0, again.stderr
    demo = run_cli(tmp_path, "demo", env=env)
    assert demo.returncode == 0, demo.stderr
    assert "loaded 15 posts" in demo.stdout
    skipped = run_cli(tmp_path, "demo", "--if-empty", env=env)
    assert "not loaded" in skipped.stdout
    token = run_cli(tmp_path, "tokens", "create", "editor", env=env)
    assert token.returncode == 0 and token.stdout.strip().startswith("fs_")
    dup = run_cli(tmp_path, "tokens", "create", "editor", env=env)
    assert dup.returncode != 0 and "exists already" in dup.stderr
    bad = run_cli(tmp_path, "demo", "--posts", "-3", env=env)
    assert bad.returncode == 2 and "--posts" in bad.stderr


@pytest.mark.slow
def test_bad_configuration_is_a_clear_error(tmp_path: Path) -> None:
    result = run_cli(tmp_path, "init-db", env={"FEEDSVC_TIMEZONE": "Mars/Olympus"})
    assert result.returncode != 0
    assert "FEEDSVC_TIMEZONE" in result.stderr


def test_token_stored_as_hash(app: Flask) -> None:
    result = app.test_cli_runner().invoke(args=["tokens", "create", "ops", "--right", "read"])
    token = result.output.strip()
    with app.app_context():
        row = db.session().scalar(select(ApiToken).where(ApiToken.name == "ops"))
        assert row is not None and row.rights == ["read"]
        assert token not in row.token_hash and len(row.token_hash) == 64


def test_demo_synthetic_bulk(app: Flask) -> None:
    result = app.test_cli_runner().invoke(args=["demo", "--posts", "3000"])
    assert result.exit_code == 0, result.output
    with app.app_context():
        s = db.session()
        assert s.scalar(select(func.count()).select_from(Post)) == 3000
        assert s.scalar(select(func.count()).select_from(PostCategory)) == 3000
        assert s.scalar(select(func.count()).select_from(Category)) == 6
        langs = dict(s.execute(select(Post.language, func.count()).group_by(Post.language)).all())
        assert langs == {"en": 1000, "ru": 1000, "uz": 1000}
        combos = s.execute(select(PostCategory.language, PostCategory.category_id).distinct()).all()
        assert len(combos) == 3 * 6  # every language in every category
    client = app.test_client()
    assert len(client.get("/uz/feed.json").get_json()["items"]) == 50
    # Rows inserted with explicit ids leave the id sequence usable.
    from tests.helpers import Api, make_token

    api = Api(client, make_token(app))
    assert (
        api.post("/api/posts", {"title": "After bulk", "content": "x", "language": "en"}).status_code == 201
    )


# -- feedsvc status, heartbeats, env files ---------------------------------------------------------


def _closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def keep_signals() -> Iterator[None]:
    """The worker command installs SIGTERM/SIGINT handlers; give pytest its own back."""
    import signal

    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    yield
    for sig, handler in saved.items():
        signal.signal(sig, handler)


def _status(app: Flask) -> tuple[int, str, str]:
    result = app.test_cli_runner().invoke(args=["status"])
    return result.exit_code, result.stdout, result.stderr


def test_status_shows_database_workers_sources_outbox_and_front(
    app_factory: Callable[..., Flask], keep_signals: None
) -> None:
    import threading

    from feedsvc import heartbeat
    from feedsvc.websub import work

    app = app_factory(
        ALLOW_PRIVATE_SOURCES=True,
        FETCH_CONNECT_TIMEOUT=1.0,
        FETCH_TIMEOUT=2.0,
        PURGE_URL="http://127.0.0.1:9{path}",
        PURGE_METHOD="REFRESH",
    )
    runner = app.test_cli_runner()
    code, out, err = _status(app)
    assert code == 0, out + err
    assert "workers     none heard from in 24 h" in out
    assert "sources     0 (0 enabled): 0 due now, 0 failing, 0 disabled" in out

    partner = f"http://127.0.0.1:{_closed_port()}/feed.xml"
    added = runner.invoke(args=["sources", "add", partner, "--language", "ru"])
    assert added.exit_code == 0, added.output
    assert runner.invoke(args=["ingest", "--all"]).exit_code == 0
    assert runner.invoke(args=["demo"]).exit_code == 0  # writes: changed scopes wait in the outbox
    ran = runner.invoke(args=["worker", "--passes", "1", "--idle-sleep", "0.05", "--no-websub"])
    assert ran.exit_code == 0, ran.output
    with app.app_context():
        from feedsvc.models import Source

        error = db.session().scalar(select(Source.last_error))
    assert error

    code, out, err = _status(app)
    assert code == 0 and err == "", out + err
    with app.app_context():
        url = db.engine().url.render_as_string(hide_password=True)
    lines = out.splitlines()
    assert lines[0].startswith(f"database    {url} (")
    assert re.search(r"^migrations  current (\w+), head \1: up to date$", out, re.M), out
    cache = app.config["CACHE_URL"]
    assert f"cache       {cache} (" + ("reachable)" if cache.startswith("redis") else "in-process") in out
    assert "front       REFRESH http://127.0.0.1:9{path} after every change" in out
    assert re.search(r"^  ingest  worker@\S+ +last pass \d+ s ago, 1 passes$", out, re.M), out
    assert "sources     1 (1 enabled): 0 due now, 1 failing, 0 disabled" in out
    failing = next(line for line in lines if line.startswith("  failing   "))
    assert partner in failing and "1 in a row" in failing and " ".join(error.split())[:40] in failing
    scopes = int(re.search(r"^hub outbox  (\d+) changed scope\(s\) waiting", out, re.M).group(1))
    assert scopes > 0
    assert out.rstrip().endswith("status: ok")

    # The WebSub loop beats too, and then empties the outbox.
    stop = threading.Event()
    thread = threading.Thread(target=work.run, args=(app, stop, 0.05), daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with app.app_context(), db.new_session() as s:
                if any(b.kind == "websub" for b in heartbeat.recent(s)):
                    break
            time.sleep(0.05)
    finally:
        stop.set()
        thread.join(30)
    code, out, _err = _status(app)
    assert code == 0
    assert re.search(r"^  websub  \S+ +last pass \d+ s ago", out, re.M), out


def test_status_masks_passwords(app_factory: Callable[..., Flask], backend: dict[str, str]) -> None:
    overrides = {"CACHE_URL": f"redis://:s3cret-cache@127.0.0.1:{_closed_port()}/0"}
    if backend["DATABASE_URL"].startswith("postgresql"):
        # Trust authentication ignores the password; it is there to be hidden.
        overrides["DATABASE_URL"] = backend["DATABASE_URL"].replace("//postgres@", "//postgres:s3cret-db@")
    code, out, err = _status(app_factory(**overrides))
    assert "s3cret" not in out + err
    assert "redis://:***@127.0.0.1:" in out and "UNREACHABLE" in out
    if "DATABASE_URL" in overrides:
        assert "postgres:***@127.0.0.1" in out
    assert code == 0, out + err  # feeds flow without Redis: not a failure of the service


def test_status_exits_1_when_the_database_is_unreachable(app_factory: Callable[..., Flask]) -> None:
    app = app_factory(DATABASE_URL=f"postgresql://postgres@127.0.0.1:{_closed_port()}/nothing")
    code, out, err = _status(app)
    assert code == 1
    assert "UNREACHABLE" in out and "unknown (no database)" in out
    assert "status: database unreachable" in err


def test_status_exits_1_while_migrations_are_pending(
    app_factory: Callable[..., Flask], tmp_path: Path
) -> None:
    app = app_factory(DATABASE_URL=f"sqlite:///{tmp_path / 'fresh.sqlite3'}")
    code, out, err = _status(app)
    assert code == 1
    assert "current none (empty database)" in out and "PENDING: run `feedsvc init-db`" in out
    assert "status: migrations pending" in err
    assert app.test_cli_runner().invoke(args=["init-db"]).exit_code == 0
    code, out, err = _status(app)
    assert code == 0, out + err
    with app.app_context():
        app.extensions["feedsvc.engine"].dispose()


def test_heartbeat_writes_at_most_every_few_seconds(
    app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    from feedsvc import heartbeat

    for _ in range(5):
        heartbeat.beat(app, "ingest", "worker@test:1")
    with app.app_context(), db.new_session() as s:
        [beat] = [b for b in heartbeat.recent(s) if b.name == "ingest:worker@test:1"]
        assert beat.passes == 1  # four passes within EVERY seconds wrote nothing
    monkeypatch.setattr(heartbeat, "EVERY", 0.0)
    heartbeat.beat(app, "ingest", "worker@test:1")
    with app.app_context(), db.new_session() as s:
        [beat] = [b for b in heartbeat.recent(s) if b.name == "ingest:worker@test:1"]
        assert beat.passes == 6


def test_mask_url() -> None:
    from feedsvc.status import mask_url

    assert mask_url("redis://:pw@h:6379/0") == "redis://:***@h:6379/0"
    assert mask_url("rediss://user:pw@[::1]:6380/2") == "rediss://user:***@[::1]:6380/2"
    assert mask_url("redis://h:6379/0") == "redis://h:6379/0"
    assert mask_url("simple") == "simple"


def test_warning_when_the_servers_env_file_exists_but_was_not_read(tmp_path: Path) -> None:
    from feedsvc.cli import no_env_file_warning

    system_file = tmp_path / "feedsvc.env"
    assert no_env_file_warning({}, system_file) is None  # a newcomer's machine: nothing to say
    system_file.write_text("FEEDSVC_DATABASE_URL=postgresql://db/feedsvc\n")
    warning = no_env_file_warning({}, system_file)
    assert warning and f"--env-file {system_file}" in warning and "SQLite" in warning
    assert no_env_file_warning({"FEEDSVC_DATABASE_URL": "postgresql://x/y"}, system_file) is None


@pytest.mark.slow
@pytest.mark.parametrize("how", ["-e", "--env-file", "FEEDSVC_ENV_FILE"])
def test_console_script_reads_the_units_env_file(tmp_path: Path, backend: dict[str, str], how: str) -> None:
    """The shipped sample, read as the units read it; the suite's database and cache win over the
    sample's (variables set already are kept), everything else comes from the file."""
    sample = str(Path(__file__).resolve().parent.parent / "deploy" / "feedsvc.env.sample")
    env = {k: v for k, v in os.environ.items() if not k.startswith("FEEDSVC_")}
    env.update(FEEDSVC_DATABASE_URL=backend["DATABASE_URL"], FEEDSVC_CACHE_URL=backend["CACHE_URL"])
    args = ["status"] if how == "FEEDSVC_ENV_FILE" else [how, sample, "status"]
    if how == "FEEDSVC_ENV_FILE":
        env["FEEDSVC_ENV_FILE"] = sample
    exe = Path(sys.executable).parent / "feedsvc"
    done = subprocess.run(
        [str(exe), *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "front       REFRESH http://127.0.0.1{path} after every change" in done.stdout  # from the file
    assert re.search(r"^migrations  current (\w+), head \1: up to date$", done.stdout, re.M)
    assert "CHANGE-ME" not in done.stdout  # the sample's database URL lost to the one set already
    missing = subprocess.run(
        [str(exe), "--env-file", str(tmp_path / "nope.env"), "status"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert missing.returncode == 2 and "cannot read env file" in missing.stderr
