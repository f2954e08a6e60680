"""Child processes for the benchmark: gunicorn servers in their own process groups, always reaped.

Every server is started in a new session, registered, and killed as a whole group on ``stop()``, at
interpreter exit (atexit) and on SIGTERM/SIGINT, so an interrupted run leaves nothing listening.
Worker memory is read from /proc: VmHWM (peak RSS, reset per phase through clear_refs when the kernel
allows it) plus VmRSS sampled in a background thread, the larger of the two being reported.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

import httpx

_LIVE: dict[int, subprocess.Popen[Any]] = {}


def kill_group(proc: subprocess.Popen[Any], grace: float = 5.0) -> None:
    """SIGTERM the process group, wait up to ``grace`` seconds, then SIGKILL it."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=grace)
    # Workers may outlive a master killed hard; the group id is the master's pid.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    _LIVE.pop(proc.pid, None)


def _kill_all() -> None:
    for proc in list(_LIVE.values()):
        kill_group(proc, grace=3.0)


def _on_signal(signum: int, _frame: object) -> None:
    # Turn the signal into an exception so every finally block (database drop, temp dirs) runs.
    raise SystemExit(128 + signum)


atexit.register(_kill_all)
signal.signal(signal.SIGTERM, _on_signal)


def register(proc: subprocess.Popen[Any]) -> None:
    """Have ``proc`` (started with start_new_session=True) killed with the others at exit."""
    _LIVE[proc.pid] = proc


def spawn(
    cmd: list[str], *, env: Mapping[str, str], cwd: Path, log: Path, user: str | None = None
) -> subprocess.Popen[bytes]:
    """Start ``cmd`` in its own process group, output to ``log``; killed at exit if still running.

    ``user``: run as that account (needs root); the pid is then the command itself, not a wrapper.
    """
    as_user: dict[str, Any] = {"user": user, "group": user, "extra_groups": []} if user else {}
    with log.open("ab") as out:
        proc = subprocess.Popen(
            cmd,
            env=dict(env),
            cwd=cwd,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            **as_user,
        )
    _LIVE[proc.pid] = proc
    return proc


def free_port() -> int:
    """A port the kernel picks at random among the free ones."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def free_port_in(ports: range, exclude: frozenset[int] = frozenset()) -> int:
    """A free port of ``ports`` (random order, so two runs rarely race for the same one)."""
    candidates = [p for p in ports if p not in exclude]
    random.shuffle(candidates)
    for port in candidates:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {ports.start}-{ports.stop - 1}")


def tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def children(pid: int) -> list[int]:
    """Direct children of ``pid`` (gunicorn's workers)."""
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except (OSError, ValueError):
        pass
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            # The command name may contain spaces; the fields after ")" are fixed.
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def _status_kib(pid: int, key: str) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


@dataclass
class Server:
    name: str
    proc: subprocess.Popen[bytes]
    port: int
    log: Path
    workers: int

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def worker_pids(self) -> list[int]:
        return children(self.proc.pid)

    def stop(self) -> None:
        kill_group(self.proc)


def start_gunicorn(
    name: str,
    app: str,
    *,
    env: Mapping[str, str],
    cwd: Path,
    log: Path,
    workers: int,
    extra: list[str] | None = None,
    ready_timeout: float = 30.0,
    port: int | None = None,
) -> Server:
    """gunicorn with ``workers`` sync workers on ``port`` (default: a random free one); returns once
    /healthz answers 200."""
    port = port or free_port()
    cmd = [
        sys.executable,
        "-m",
        "gunicorn",
        "--workers",
        str(workers),
        "--worker-class",
        "sync",
        "--bind",
        f"127.0.0.1:{port}",
        "--log-level",
        "warning",
        # gunicorn's control socket has one default path per user: two masters (service and ceiling,
        # or anyone else's gunicorn) would fight over it. It plays no part in serving requests.
        "--no-control-socket",
        *(extra or []),
        app,
    ]
    proc = spawn(cmd, env=env, cwd=cwd, log=log)
    server = Server(name, proc, port, log, workers)
    deadline = time.monotonic() + ready_timeout
    last_error = "no answer"
    with httpx.Client(timeout=2.0) as client:
        while time.monotonic() < deadline:  # bounded by the deadline
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited with {proc.returncode} while starting:\n{tail(log)}")
            try:
                if client.get(server.base + "/healthz").status_code == 200 and len(server.worker_pids()) >= 1:
                    break
            except httpx.HTTPError as exc:
                last_error = f"{type(exc).__name__}: {exc}"
            time.sleep(0.1)
        else:
            server.stop()
            raise RuntimeError(f"{name} not ready after {ready_timeout:.0f} s ({last_error}):\n{tail(log)}")
    # Every worker boots the app; give the others the same bounded chance to be up.
    deadline = time.monotonic() + ready_timeout
    while len(server.worker_pids()) < workers and time.monotonic() < deadline:
        time.sleep(0.1)
    return server


@dataclass
class PhaseMemory:
    peak_kib: int = 0  # largest worker's peak RSS during the phase
    per_worker_kib: dict[int, int] = field(default_factory=dict)
    method: str = "VmHWM"


class MemoryWatch:
    """Peak RSS of a server's workers over one phase (``with watch.phase() as mem: ...``)."""

    def __init__(self, server: Server, interval: float = 0.1) -> None:
        self.server = server
        self.interval = interval

    @staticmethod
    def _reset_hwm(pid: int) -> bool:
        try:
            Path(f"/proc/{pid}/clear_refs").write_text("5")  # "5": reset the peak RSS counter
            return True
        except OSError:
            return False

    @contextlib.contextmanager
    def phase(self) -> Iterator[PhaseMemory]:
        mem = PhaseMemory()
        pids = self.server.worker_pids()
        reset = all([self._reset_hwm(p) for p in pids]) if pids else False
        mem.method = "VmHWM reset per phase + VmRSS samples" if reset else "VmRSS samples"
        stop = threading.Event()
        seen: dict[int, int] = {}

        def sample() -> None:
            while not stop.is_set():  # ends with the phase
                for pid in self.server.worker_pids():
                    rss = _status_kib(pid, "VmRSS")
                    if rss is not None:
                        seen[pid] = max(seen.get(pid, 0), rss)
                stop.wait(self.interval)

        thread = threading.Thread(target=sample, daemon=True)
        thread.start()
        try:
            yield mem
        finally:
            stop.set()
            thread.join(timeout=5)
            for pid in self.server.worker_pids():
                hwm = _status_kib(pid, "VmHWM") if reset else None
                seen[pid] = max(seen.get(pid, 0), hwm or 0)
            mem.per_worker_kib = dict(seen)
            mem.peak_kib = max(seen.values(), default=0)


# ------------------------------------------------------------------------------------- interference


def _busy_ticks() -> int:
    # /proc/stat "cpu": user nice system idle iowait irq softirq steal ...; idle and iowait are not busy.
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    return fields[0] + fields[1] + fields[2] + fields[5] + fields[6] + fields[7]


def _process_table() -> dict[int, tuple[int, int, str]]:
    """pid → (ppid, own CPU ticks, command line) for every process we may read."""
    table: dict[int, tuple[int, int, str]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        rest = stat.rsplit(")", 1)[1].split()
        # Fields after the command: state ppid ... utime(12) stime(13) cutime(14) cstime(15).
        ticks = int(rest[11]) + int(rest[12]) + int(rest[13]) + int(rest[14])
        table[int(entry.name)] = (int(rest[1]), ticks, cmd)
    return table


def _ours(table: dict[int, tuple[int, int, str]], database: str) -> dict[int, int]:
    """CPU ticks of this process tree, of the benchmark's PostgreSQL backends and of Redis."""
    me = os.getpid()
    keep: dict[int, int] = {}
    for pid, (_ppid, ticks, cmd) in table.items():
        walk, hops = pid, 0
        while walk not in (0, 1, me) and hops < 64:  # bounded walk up the process tree
            walk, hops = table.get(walk, (0, 0, ""))[0], hops + 1
        ours = walk == me
        if cmd.startswith("postgres: "):
            # Backends name their database; background processes (walwriter, ...) name none.
            client = "127.0.0.1(" in cmd or "[local]" in cmd
            ours = database in cmd or not client
        elif "redis-server" in cmd:
            ours = True
        if ours:
            keep[pid] = ticks
    return keep


class Interference:
    """CPU used on this machine by processes that are not part of the measurement, over a window."""

    def __init__(self, database: str = "feedsvc_bench") -> None:
        self.database = database
        self.hz = os.sysconf("SC_CLK_TCK")
        self.ncpu = os.cpu_count() or 1

    def start(self) -> tuple[float, int, dict[int, int]]:
        return time.monotonic(), _busy_ticks(), _ours(_process_table(), self.database)

    def stop(self, begun: tuple[float, int, dict[int, int]]) -> float:
        """Share of the machine's capacity (0–100 %) that went to foreign processes."""
        t0, busy0, ours0 = begun
        busy1, ours1 = _busy_ticks(), _ours(_process_table(), self.database)
        mine = sum(ticks - ours0.get(pid, 0) for pid, ticks in ours1.items() if ticks >= ours0.get(pid, 0))
        capacity = (time.monotonic() - t0) * self.hz * self.ncpu
        return max(0.0, 100.0 * (busy1 - busy0 - mine) / capacity) if capacity else 0.0


# ------------------------------------------------------------------------------------- private servers
#
# A PostgreSQL cluster, a Redis and the feedsvc service of our own, on ports of their own, that a
# test or a bench may stop, freeze (SIGSTOP) or kill without touching anyone else's servers.

PG_PORTS = range(55432, 55440)
REDIS_PORTS = range(56379, 56390)
GUNICORN_PORTS = range(58000, 58100)
ROOT = Path(__file__).resolve().parent.parent
FEEDSVC = str(Path(sys.executable).with_name("feedsvc"))


_PRIVATE: list[Any] = []  # servers closed at exit, frozen ones thawed first (a SIGKILL would not do)


def _close_private() -> None:
    for server in reversed(_PRIVATE):
        with contextlib.suppress(Exception):
            server.close()


atexit.register(_close_private)  # runs before _kill_all: atexit calls the last registered first


def descendants(pid: int) -> list[int]:
    """Every live descendant of ``pid`` (PostgreSQL's backends make themselves group leaders, so a
    process group does not find them)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            rest = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if rest[0] != "Z":  # fields after the command: state ppid ...; zombies are gone as far as we care
            parents[int(entry.name)] = int(rest[1])
    found: list[int] = []
    frontier = [pid]
    while frontier:  # bounded: each process is visited once
        parent = frontier.pop()
        kids = [child for child, ppid in parents.items() if ppid == parent]
        found += kids
        frontier += kids
    return found


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return "?"


def _signal_pids(pids: list[int], sig: int) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)


def freeze_tree(pid: int, timeout: float = 5.0) -> list[int]:
    """SIGSTOP a server and all its descendants and wait until each is stopped; returns their pids."""
    _signal_pids([pid], signal.SIGSTOP)  # the parent first: a stopped server forks no new children
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:  # bounded
        tree = [pid, *descendants(pid)]
        running = [p for p in tree if _state(p) not in ("T", "t", "?")]
        if not running:
            return tree
        _signal_pids(running, signal.SIGSTOP)
        time.sleep(0.02)
    raise RuntimeError(f"process {pid} and its children did not stop within {timeout:.0f} s")


def thaw_tree(pid: int) -> None:
    _signal_pids([*descendants(pid), pid], signal.SIGCONT)


def kill_tree(pid: int, timeout: float = 10.0) -> None:
    """SIGKILL a server and every descendant at once, then wait (bounded) until they are gone."""
    tree = [pid, *descendants(pid)]
    _signal_pids(tree, signal.SIGKILL)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(_state(p) not in ("?", "Z") for p in tree):
        time.sleep(0.02)


def postgres_bindir() -> Path | None:
    """The newest installed PostgreSQL server's bin folder (Debian layout), or None."""
    found = [p.parent for p in Path("/usr/lib/postgresql").glob("*/bin/postgres")]

    def major(path: Path) -> float:
        try:
            return float(path.parent.name)
        except ValueError:
            return 0.0

    return max(found, key=major) if found else None


def missing_servers() -> str | None:
    """Why private servers cannot be started here, or None when they can."""
    if postgres_bindir() is None:
        return "no PostgreSQL server binaries under /usr/lib/postgresql/*/bin"
    if shutil.which("redis-server") is None:
        return "redis-server is not installed"
    return None


class PrivateServer:
    """What a private PostgreSQL and a private Redis share: freezing, healing and cleaning up.

    Subclasses set ``proc``, ``root``, ``frozen`` and provide ``running``, ``start`` and ``stop``."""

    proc: subprocess.Popen[Any] | None
    root: Path
    frozen: bool
    name = "server"

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self, timeout: float = 30.0) -> None:
        raise NotImplementedError

    def stop(self, timeout: float = 15.0) -> None:
        raise NotImplementedError

    def hang(self) -> list[int]:
        """SIGSTOP the server and all its children; returns the pids stopped."""
        if self.proc is None:
            raise RuntimeError(f"{self.name} is not running")
        pids = freeze_tree(self.proc.pid)
        self.frozen = True
        return pids

    def resume(self) -> None:
        if self.proc is not None:
            thaw_tree(self.proc.pid)
        self.frozen = False

    def heal(self, timeout: float = 30.0) -> None:
        """Whatever was done to it, have it running and answering again."""
        if self.frozen:
            self.resume()
        if not self.running:
            self.proc = None
            self.start(timeout)

    def close(self) -> None:
        try:
            self.stop()
        finally:
            shutil.rmtree(self.root, ignore_errors=True)
            with contextlib.suppress(ValueError):
                _PRIVATE.remove(self)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


class PrivatePostgres(PrivateServer):
    """A throw-away PostgreSQL cluster: initdb into a temporary folder, one database, fsync off.

    Runs as the ``postgres`` account when we are root (initdb refuses root). ``hang()`` freezes the
    postmaster and every backend, so open connections stall exactly as on a frozen host.
    """

    name = "PostgreSQL"

    def __init__(
        self, *, database: str = "feedsvc", ports: range = PG_PORTS, user: str | None = None
    ) -> None:
        bindir = postgres_bindir()
        if bindir is None:
            raise RuntimeError("no PostgreSQL server binaries under /usr/lib/postgresql/*/bin")
        self.bindir = bindir
        self.database = database
        self.ports = ports
        self.user = user if user is not None else ("postgres" if os.geteuid() == 0 else None)
        self.root = Path(tempfile.mkdtemp(prefix="feedsvc-pg-"))
        self.data = self.root / "data"
        self.sockdir = self.root / "sock"
        self.log = self.root / "postgres.log"
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self.frozen = False
        _PRIVATE.append(self)
        self.sockdir.mkdir()
        if self.user:
            for path in (self.root, self.sockdir):
                shutil.chown(path, self.user, self.user)
        self._initdb()

    # -- set-up ------------------------------------------------------------------------------

    def _run(self, cmd: list[str], timeout: float) -> None:
        as_user: dict[str, Any] = (
            {"user": self.user, "group": self.user, "extra_groups": []} if self.user else {}
        )
        out = subprocess.run(
            cmd, capture_output=True, text=True, timeout=timeout, cwd=self.root, env=self._env(), **as_user
        )
        if out.returncode != 0:
            raise RuntimeError(f"{cmd[0]} failed ({out.returncode}):\n{out.stdout}\n{out.stderr}")

    def _env(self) -> dict[str, str]:
        return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C", "HOME": str(self.root)}

    def _initdb(self) -> None:
        self._run(
            [
                str(self.bindir / "initdb"),
                "-D",
                str(self.data),
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ],
            timeout=120,
        )

    # -- life cycle --------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{self.database}"

    def start(self, timeout: float = 30.0) -> None:
        """Start the postmaster (the same port as before, if it ran already) and wait until it answers."""
        if self.running:
            return
        first = self.port == 0
        tried: set[int] = set()
        while True:  # bounded: each port of the range at most once
            if first:
                self.port = free_port_in(self.ports, frozenset(tried))
                tried.add(self.port)
            try:
                self._start_once(timeout)
                break
            except _PortTaken:
                if not first or len(tried) >= len(self.ports):
                    raise RuntimeError(
                        f"PostgreSQL could not bind port {self.port}:\n{tail(self.log)}"
                    ) from None
        if first:
            self._create_database()

    def _start_once(self, timeout: float) -> None:
        mark = self.log.stat().st_size if self.log.exists() else 0
        cmd = [
            str(self.bindir / "postgres"),
            "-D",
            str(self.data),
            "-p",
            str(self.port),
            "-k",
            str(self.sockdir),
            "-c",
            "listen_addresses=127.0.0.1",
            "-c",
            "fsync=off",
            "-c",
            "synchronous_commit=off",
            "-c",
            "full_page_writes=off",
            "-c",
            "shared_buffers=32MB",
            "-c",
            "max_connections=100",
            "-c",
            "log_min_messages=warning",
        ]
        self.proc = spawn(cmd, env=self._env(), cwd=self.root, log=self.log, user=self.user)
        self.frozen = False
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:  # bounded readiness poll
            if self.proc.poll() is not None:
                self.proc = None
                text = self.log.read_bytes()[mark:].decode(errors="replace")
                if "could not bind" in text or "already in use" in text:
                    raise _PortTaken()
                raise RuntimeError(f"PostgreSQL exited while starting:\n{tail(self.log)}")
            if self.answers():
                return
            time.sleep(0.05)
        raise RuntimeError(f"PostgreSQL not ready after {timeout:.0f} s:\n{tail(self.log)}")

    def answers(self, timeout: float = 1.0) -> bool:
        """True when the server completes a query on a fresh connection within ``timeout``."""
        import psycopg

        try:
            with psycopg.connect(
                host="127.0.0.1",
                port=self.port,
                user="postgres",
                dbname="postgres",
                connect_timeout=max(1, int(timeout)),
            ) as conn:
                conn.execute("SELECT 1")
            return True
        except psycopg.Error:
            return False

    def _create_database(self) -> None:
        import psycopg

        with psycopg.connect(
            host="127.0.0.1", port=self.port, user="postgres", dbname="postgres", autocommit=True
        ) as conn:
            conn.execute(f'CREATE DATABASE "{self.database}"')

    def stop(self, timeout: float = 15.0) -> None:
        """Fast shutdown (SIGINT: clients are disconnected, no crash recovery next start)."""
        proc = self.proc
        if proc is None:
            return
        if self.frozen:
            self.resume()
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            kill_tree(proc.pid)
            proc.wait(timeout=timeout)
        _LIVE.pop(proc.pid, None)
        self.proc = None

    def kill9(self) -> None:
        """SIGKILL the postmaster and every backend at once, like a crashed host; start() recovers."""
        proc = self.proc
        if proc is None:
            return
        kill_tree(proc.pid)  # backends are not our children: kill_tree waits until they are gone
        proc.wait(timeout=15)
        _LIVE.pop(proc.pid, None)
        self.proc = None
        self.frozen = False


class _PortTaken(Exception):
    pass


class PrivateRedis(PrivateServer):
    """redis-server on a port of its own: no persistence, bound to 127.0.0.1."""

    name = "redis-server"

    def __init__(self, *, ports: range = REDIS_PORTS) -> None:
        exe = shutil.which("redis-server")
        if exe is None:
            raise RuntimeError("redis-server is not installed")
        self.exe = exe
        self.ports = ports
        self.root = Path(tempfile.mkdtemp(prefix="feedsvc-redis-"))
        self.log = self.root / "redis.log"
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self.frozen = False
        _PRIVATE.append(self)

    def url_for(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    @property
    def url(self) -> str:
        return self.url_for(0)

    def start(self, timeout: float = 15.0) -> None:
        if self.running:
            return
        first = self.port == 0
        tried: set[int] = set()
        while True:  # bounded: each port of the range at most once
            if first:
                self.port = free_port_in(self.ports, frozenset(tried))
                tried.add(self.port)
            cmd = [
                self.exe,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.root),
                "--daemonize",
                "no",
            ]
            self.proc = spawn(cmd, env={"PATH": os.environ.get("PATH", "")}, cwd=self.root, log=self.log)
            self.frozen = False
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and self.proc.poll() is None and not self.answers():
                time.sleep(0.05)  # bounded readiness poll
            if self.proc.poll() is None and self.answers():
                return
            self.stop()
            if not first or len(tried) >= len(self.ports):
                raise RuntimeError(f"redis-server did not start on port {self.port}:\n{tail(self.log)}")

    def answers(self, timeout: float = 0.5) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=timeout) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self, timeout: float = 10.0) -> None:
        proc = self.proc
        if proc is None:
            return
        if self.frozen:
            self.resume()
        kill_group(proc, grace=timeout)
        self.proc = None


DEPLOY = ROOT / "deploy"


def render_nginx(prefix: Path, port: int, upstream: str, static: tuple[int, Path] | None = None) -> Path:
    """deploy/nginx.conf and its site under ``prefix``, with this run's port, upstream and cache
    directory; ``static``: also a server on that port serving that folder as plain files (the
    benchmark's "same bytes as a static file")."""
    site = (DEPLOY / "nginx-site.conf").read_text()
    for old, new in (
        ("listen 80;", f"listen 127.0.0.1:{port};"),
        ("server 127.0.0.1:8000", f"server {upstream}"),
        ("/var/cache/nginx/feedsvc", str(prefix / "cache")),
        ("/var/log/nginx/feedsvc.access.log", str(prefix / "logs" / "access.log")),
    ):
        if old not in site:
            raise RuntimeError(f"deploy/nginx-site.conf no longer has {old!r}")
        site = site.replace(old, new)
    if static is not None:
        site += f"\nserver {{\n    listen 127.0.0.1:{static[0]};\n    root {static[1]};\n}}\n"
    main = (DEPLOY / "nginx.conf").read_text()
    if "worker_processes auto;" not in main:
        raise RuntimeError("deploy/nginx.conf no longer has 'worker_processes auto;'")
    main = main.replace("worker_processes auto;", "worker_processes 1;")  # 2 cores, shared
    (prefix / "nginx-site.conf").write_text(site)
    (prefix / "nginx.conf").write_text(main)
    for sub in ("logs", "tmp"):
        (prefix / sub).mkdir(exist_ok=True)
    return prefix / "nginx.conf"


def feedsvc_cli(args: list[str], env: Mapping[str, str], timeout: float = 300.0) -> str:
    """Run the real ``feedsvc`` command; returns its stdout, raises with its stderr on failure."""
    out = subprocess.run(
        [FEEDSVC, *args], env=dict(env), cwd=ROOT, capture_output=True, text=True, timeout=timeout
    )
    if out.returncode != 0:
        raise RuntimeError(f"feedsvc {' '.join(args)} failed ({out.returncode}):\n{out.stderr[-3000:]}")
    return out.stdout


class Gunicorn:
    """The real service: ``gunicorn -w N wsgi:app`` on the given database and cache.

    ``prepare()`` migrates the schema, loads data and creates an API token; ``start()`` serves.
    The worker timeout stays gunicorn's default (30 s) on purpose: nothing should rely on it.
    """

    def __init__(
        self,
        *,
        database_url: str,
        cache_url: str,
        base_url: str = "https://news.example",
        workers: int = 2,
        timeout: int = 30,
        ports: range = GUNICORN_PORTS,
        env: Mapping[str, str] | None = None,
        log: Path | None = None,
    ) -> None:
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("FEEDSVC_")}
        self.env.update(
            {
                "FEEDSVC_DATABASE_URL": database_url,
                "FEEDSVC_CACHE_URL": cache_url,
                "FEEDSVC_BASE_URL": base_url,
                **(env or {}),
            }
        )
        self.workers = workers
        self.timeout = timeout
        self.ports = ports
        self._tmp: Path | None = None
        if log is None:
            self._tmp = Path(tempfile.mkdtemp(prefix="feedsvc-gunicorn-"))
            log = self._tmp / "gunicorn.log"
        self.log = log
        self.server: Server | None = None
        self.token = ""

    def prepare(self, posts: int | None = None, token_name: str = "fault-harness") -> str:
        """init-db, demo data (the hand-written demo, or ``posts`` synthetic ones), a token."""
        feedsvc_cli(["init-db"], self.env)
        feedsvc_cli(
            ["demo", "--if-empty"] if posts is None else ["demo", "--posts", str(posts)], self.env, 1800
        )
        name = f"{token_name}-{os.getpid()}-{random.randrange(1 << 30):x}"
        self.token = feedsvc_cli(["tokens", "create", name], self.env).strip().splitlines()[-1].strip()
        return self.token

    @property
    def url(self) -> str:
        if self.server is None:
            raise RuntimeError("gunicorn is not running")
        return self.server.base

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def start(self, ready_timeout: float = 30.0) -> None:
        if self.server is not None and self.server.proc.poll() is None:
            return
        self.server = start_gunicorn(
            "feedsvc",
            "wsgi:app",
            env=self.env,
            cwd=ROOT,
            log=self.log,
            workers=self.workers,
            extra=["--timeout", str(self.timeout)],
            ready_timeout=ready_timeout,
            port=free_port_in(self.ports),
        )

    def worker_pids(self) -> list[int]:
        return self.server.worker_pids() if self.server else []

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None

    def close(self) -> None:
        try:
            self.stop()
        finally:
            if self._tmp is not None:
                shutil.rmtree(self._tmp, ignore_errors=True)

    def __enter__(self) -> Gunicorn:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
