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
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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


def spawn(cmd: list[str], *, env: Mapping[str, str], cwd: Path, log: Path) -> subprocess.Popen[bytes]:
    """Start ``cmd`` in its own process group, output to ``log``; killed at exit if still running."""
    with log.open("ab") as out:
        proc = subprocess.Popen(
            cmd, env=dict(env), cwd=cwd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    _LIVE[proc.pid] = proc
    return proc


def free_port() -> int:
    """A port the kernel picks at random among the free ones."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


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
) -> Server:
    """gunicorn with ``workers`` sync workers on a random free port; returns once /healthz answers 200."""
    port = free_port()
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
