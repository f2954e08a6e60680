"""The deployment as the README writes it: Debian's own /etc/nginx, deploy/install.sh, the units.

The nginx test copies this machine's /etc/nginx (installed by Debian's ``nginx`` package: its
nginx.conf, its default site enabled), points the copy's absolute paths into a private directory (as
if that directory were /), runs the README's ``deploy/install.sh`` line against it with ``--prefix``
and private ports, and starts nginx on that configuration, as root, so that its workers run as
www-data as on a server, in front of the real app under gunicorn. Every process is stopped by its PID.
"""

from __future__ import annotations

import os
import pwd
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from lxml import etree

from feedsvc.db import make_engine
from tests.feedcheck import assert_valid
from tests.helpers import start_post_ids_at, wipe
from tests.test_front import NGINX, feedsvc, port_in, wait_until

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
BIN = Path(sys.executable).parent
DEBIAN_NGINX = Path("/etc/nginx")
# Below the kernel's ephemeral range (32768-60999), where an outgoing connection could take the port
# between the check and nginx's bind.
NGINX_PORTS = range(31100, 31150)
GUNICORN_PORTS = range(31150, 31200)
FORMAT_OF = {"rss": "rss", "atom": "atom", "json": "json"}


def readme_install_line() -> list[str]:
    """The install.sh command of the README's production steps, as words."""
    text = (ROOT / "README.md").read_text()
    steps = text[text.index("## Running in production") :]
    lines = [line for line in steps.splitlines() if line.startswith("deploy/install.sh ")]
    assert len(lines) == 1, lines
    return shlex.split(lines[0].split("#", 1)[0])


def copy_debian_nginx(root: Path) -> Path:
    """/etc/nginx copied under ``root`` with its absolute paths moved there; the copy's etc/nginx."""
    etc = root / "etc" / "nginx"
    shutil.copytree(DEBIAN_NGINX, etc, symlinks=True)
    for path in etc.rglob("*"):
        if path.is_symlink():
            target = os.readlink(path)
            if target.startswith("/etc/nginx/"):  # sites-enabled/default → the copy's default
                path.unlink()
                path.symlink_to(str(root) + target)
        elif path.is_file():
            text = path.read_text(errors="surrogateescape")
            moved = (
                text.replace("/etc/nginx/", f"{root}/etc/nginx/")
                .replace("/run/nginx.pid", f"{root}/run/nginx.pid")
                .replace("/var/log/nginx/", f"{root}/var/log/nginx/")
            )
            if moved != text:
                path.write_text(moved, errors="surrogateescape")
    for sub in ("run", "var/log/nginx"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    return etc


@pytest.fixture(scope="module")
def deployed(backend: dict[str, str]) -> Iterator[dict[str, object]]:
    if NGINX is None:
        pytest.skip("nginx is not installed (make nginx installs Debian's package)")
    if not (DEBIAN_NGINX / "nginx.conf").exists() or not (DEBIAN_NGINX / "sites-available/default").exists():
        pytest.skip("no /etc/nginx from Debian's nginx package (make nginx installs it)")
    if os.geteuid() != 0:
        pytest.skip("nginx must start as root to run its workers as www-data, as on a server")
    base = Path(tempfile.mkdtemp(prefix="feedsvc-deploy-"))
    base.chmod(0o755)  # www-data walks through it to the cache
    root = base / "root"
    etc = copy_debian_nginx(root)
    assert (etc / "sites-enabled" / "default").exists()  # Debian's default site, enabled
    nginx_port, app_port = port_in(NGINX_PORTS), port_in(GUNICORN_PORTS)
    front = f"http://127.0.0.1:{nginx_port}"
    procs: dict[str, subprocess.Popen[bytes]] = {}
    engine = make_engine(backend["DATABASE_URL"])
    wipe(engine)
    try:
        words = readme_install_line()
        # The README's line, then this run's prefix and private ports (later options win).
        argv = [str(ROOT / words[0]), *words[1:], "--prefix", str(root)]
        argv += ["--listen", f"127.0.0.1:{nginx_port}", "--upstream", f"127.0.0.1:{app_port}"]
        installed = subprocess.run(argv, capture_output=True, text=True, timeout=60)
        assert installed.returncode == 0, installed.stdout + installed.stderr

        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("FEEDSVC_")},
            "FEEDSVC_DATABASE_URL": backend["DATABASE_URL"],
            "FEEDSVC_CACHE_URL": backend["CACHE_URL"],
            "FEEDSVC_BASE_URL": front,
            "FEEDSVC_PURGE_URL": front + "{path}",
            "FEEDSVC_PURGE_METHOD": "REFRESH",
            "FEEDSVC_TRUSTED_PROXIES": "1",
            "PROMETHEUS_MULTIPROC_DIR": str(base / "metrics"),
        }
        (base / "metrics").mkdir()
        feedsvc(env, "init-db")
        feedsvc(env, "demo")
        # Ids of six digits: the post keys of ?limit=200 outgrow nginx's default 4 KB header buffer.
        start_post_ids_at(backend["DATABASE_URL"], 100_000)
        feedsvc(env, "demo", "--posts", "3000")
        gunicorn_log = (base / "gunicorn.log").open("wb")
        procs["gunicorn"] = subprocess.Popen(
            [
                str(BIN / "gunicorn"),
                "-c",
                str(DEPLOY / "gunicorn.conf.py"),
                "-b",
                f"127.0.0.1:{app_port}",
                "-w",
                "2",
            ],
            cwd=ROOT,
            env=env,
            stdout=gunicorn_log,
            stderr=subprocess.STDOUT,
        )
        error_log = root / "var/log/nginx/error.log"
        procs["nginx"] = subprocess.Popen(
            [NGINX, "-c", str(etc / "nginx.conf"), "-e", str(error_log), "-g", "daemon off;"],
            stdout=(base / "nginx.out").open("wb"),
            stderr=subprocess.STDOUT,
        )
        try:
            wait_until(lambda: httpx.get(front + "/healthz", timeout=1).status_code == 200, 30, "the front")
        except AssertionError:
            logs = error_log.read_text() if error_log.exists() else ""
            pytest.fail("the front did not start:\n" + logs + (base / "gunicorn.log").read_text()[-3000:])
        yield {"url": front, "root": root, "etc": etc, "install": installed.stdout}
    finally:
        for name, proc in procs.items():
            if proc.poll() is None:
                proc.send_signal(15 if name == "gunicorn" else 3)  # SIGTERM; nginx: SIGQUIT
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=5)
        wipe(engine)
        engine.dispose()
        shutil.rmtree(base, ignore_errors=True)


def test_install_sh_sets_up_debians_nginx(deployed: dict[str, object]) -> None:
    root, etc = Path(str(deployed["root"])), Path(str(deployed["etc"]))
    # The default site is disabled (its link gone), the package's file kept; the feedsvc site enabled.
    assert not (etc / "sites-enabled" / "default").exists()
    assert (etc / "sites-available" / "default").exists()
    assert (etc / "sites-enabled" / "feedsvc").resolve() == etc / "sites-available" / "feedsvc"
    assert "default site" in str(deployed["install"])
    cache = root / "var" / "cache" / "nginx" / "feedsvc"
    assert pwd.getpwuid(cache.stat().st_uid).pw_name == "www-data"
    assert (cache.stat().st_mode & 0o777) == 0o700
    for unit in ("feedsvc-web.service", "feedsvc-worker.service"):
        assert (root / "etc/systemd/system" / unit).read_text() == (DEPLOY / unit).read_text()
    # The env file's metrics directory exists from boot on, for the CLI run before the units start.
    tmpfiles = (root / "etc/tmpfiles.d/feedsvc.conf").read_text()
    assert "d /run/feedsvc/metrics 0750 feedsvc feedsvc -" in tmpfiles
    assert "PROMETHEUS_MULTIPROC_DIR=/run/feedsvc/metrics" in (DEPLOY / "feedsvc.env.sample").read_text()
    env_file = root / "etc/feedsvc/feedsvc.env"
    assert (env_file.stat().st_mode & 0o777) == 0o640
    assert "FEEDSVC_PURGE_METHOD=REFRESH" in env_file.read_text()
    # nginx's workers (www-data) wrote the cache.
    url = str(deployed["url"])
    assert httpx.get(url + "/en/feed.rss", timeout=10).status_code == 200
    stored = [p for p in cache.rglob("*") if p.is_file()]
    assert stored and all(pwd.getpwuid(p.stat().st_uid).pw_name == "www-data" for p in stored)


def test_every_feed_its_304_and_gzip_through_debians_nginx(deployed: dict[str, object]) -> None:
    url = str(deployed["url"])
    opml = httpx.get(url + "/feeds.opml", timeout=10)
    assert opml.status_code == 200, opml.text
    assert_valid("opml", opml.content)
    feeds = [o.get("xmlUrl") for o in etree.fromstring(opml.content).iter("outline") if o.get("xmlUrl")]
    assert len(feeds) >= 36 and all(f.startswith(url + "/") for f in feeds)
    with httpx.Client(timeout=10) as client:
        for feed in feeds:
            plain = client.get(feed, headers={"Accept-Encoding": "identity"})
            assert plain.status_code == 200, feed
            assert "Content-Encoding" not in plain.headers
            assert_valid(FORMAT_OF[feed.rsplit(".", 1)[1]], plain.content, self_url=feed)
            etag = plain.headers["ETag"]
            again = client.get(feed, headers={"Accept-Encoding": "identity", "If-None-Match": etag})
            assert again.status_code == 304 and again.content == b"", feed
            # nginx's copy answered it (one that expired meanwhile is revalidated or served stale).
            assert again.headers["X-Cache-Status"] in {"HIT", "REVALIDATED", "UPDATING", "STALE"}
            # The app's own gzip, as a variant of its own, with the same validators.
            zipped = client.get(feed, headers={"Accept-Encoding": "gzip"})
            assert zipped.status_code == 200 and zipped.headers["Content-Encoding"] == "gzip", feed
            assert zipped.headers["ETag"] == etag
            assert zipped.content == plain.content  # httpx decodes it
            zipped_again = client.get(feed, headers={"Accept-Encoding": "gzip", "If-None-Match": etag})
            assert zipped_again.status_code == 304
    # The largest documented page: its post keys need more than nginx's default header buffer.
    for path in ("/en/feed.rss?limit=200", "/feed.atom?limit=150", "/feed.json?limit=200"):
        r = httpx.get(url + path, headers={"Accept-Encoding": "gzip"}, timeout=10)
        assert r.status_code == 200, (path, r.status_code)
        header_bytes = sum(len(k) + len(v) + 4 for k, v in r.headers.raw)
        if path.startswith("/en/"):
            assert header_bytes > 4096, header_bytes
        assert_valid(FORMAT_OF[re.sub(r"\?.*", "", path).rsplit(".", 1)[1]], r.content, self_url=url + path)


def test_systemd_units_verify() -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    with tempfile.TemporaryDirectory() as tmp:
        for unit in ("feedsvc-web.service", "feedsvc-worker.service"):
            # The units' code directory is this checkout: verify checks that ExecStart exists.
            (Path(tmp) / unit).write_text((DEPLOY / unit).read_text().replace("/opt/feedsvc", str(ROOT)))
            text = (DEPLOY / unit).read_text()
            for hardening in (
                "User=feedsvc",
                "NoNewPrivileges=yes",
                "ProtectSystem=strict",
                "ReadWritePaths=-/opt/feedsvc/instance",
                "PrivateTmp=yes",
                "ProtectHome=yes",
                "CapabilityBoundingSet=\n",
            ):
                assert hardening in text, (unit, hardening)
        done = subprocess.run(
            [analyze, "verify", *(str(p) for p in sorted(Path(tmp).iterdir()))],
            capture_output=True,
            text=True,
            timeout=60,
        )
        # Unknown or misspelt settings are warnings only ("ignoring"): none may appear.
        assert done.returncode == 0 and "feedsvc" not in done.stderr + done.stdout, done.stderr
