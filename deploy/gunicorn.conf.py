"""gunicorn settings for feedsvc: ``gunicorn -c deploy/gunicorn.conf.py`` (the app is ``wsgi:app``).

Every value can be overridden on the command line (``-b``, ``-w``) or by the variables named below.
The ``FEEDSVC_*`` variables configure the app itself (see deploy/feedsvc.env.sample); gunicorn passes
its environment on to the workers.
"""

from __future__ import annotations

import contextlib
import glob
import multiprocessing
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

wsgi_app = "wsgi:app"
chdir = os.environ.get("FEEDSVC_APP_DIR") or str(ROOT)  # where wsgi.py is
bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")  # behind nginx: loopback only

# Sync workers: nginx buffers slow clients, so a worker is only busy while it computes an answer or
# waits on PostgreSQL/Redis; 2 x cores + 1 keeps the cores busy through those waits. Capped: each
# worker holds its own connection pool (up to 10 PostgreSQL connections) and in-process cache.
worker_class = "sync"
workers = int(os.environ.get("WEB_CONCURRENCY") or min(multiprocessing.cpu_count() * 2 + 1, 12))

# The app bounds its own waits (database statements 3 s, Redis 50 ms); 30 s only catches a stuck worker.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = 20  # a SIGTERM lets requests in hand finish

# Logs: the error log to stderr, the access log to stdout (journald collects both under systemd).
# The app writes its own structured line per request (logger ``feedsvc.access``, with request id and
# cache outcome); once that is configured (FEEDSVC_LOG_FORMAT), set GUNICORN_ACCESS_LOG to an empty
# value to drop gunicorn's line and keep one line per request.
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")
accesslog = os.environ.get("GUNICORN_ACCESS_LOG", "-") or None
access_log_format = '%(h)s "%(r)s" %(s)s %(B)s %(M)sms id=%({x-request-id}i)s'
forwarded_allow_ips = "127.0.0.1"  # nginx on this host sets X-Forwarded-For/-Proto

# Prometheus multiprocess mode: each worker writes its metrics to files in this directory and
# /metrics adds them up. It must be set before any worker imports prometheus_client, hence here.
# A directory given by the environment is shared with `feedsvc worker` (same EnvironmentFile), so
# ingestion metrics appear in the same scrape; without one, a private temporary directory is made.
_made_metrics_dir = not os.environ.get("PROMETHEUS_MULTIPROC_DIR")
if _made_metrics_dir:
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="feedsvc-metrics-")
METRICS_DIR = os.environ["PROMETHEUS_MULTIPROC_DIR"]
os.makedirs(METRICS_DIR, exist_ok=True)
_PID = re.compile(r"_(\d+)\.db$")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, another user's
        return True
    return True


def on_starting(server: Any) -> None:
    """Clean the metrics directory at start: files of processes that are gone (an earlier run's
    workers) would otherwise be added to every scrape forever. A running ingestion worker's stay."""
    for path in glob.glob(os.path.join(METRICS_DIR, "*.db")):
        found = _PID.search(path)
        if found is None or not _alive(int(found.group(1))):
            with contextlib.suppress(FileNotFoundError):
                os.remove(path)


def child_exit(server: Any, worker: Any) -> None:
    # A dead worker's live gauges (breaker state) must not count any more.
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid, METRICS_DIR)


def on_exit(server: Any) -> None:
    if _made_metrics_dir:
        shutil.rmtree(METRICS_DIR, ignore_errors=True)
