"""Load generation: wrk in a separate process, or a clearly labelled Python fallback when wrk is missing.

The wrk script only defines ``done()``, which prints exact figures (requests, bytes, errors, latency
percentiles in microseconds) once at the end; it adds no per-request Lua work, so wrk itself stays as
cheap as possible on a machine whose cores it shares with the server.
"""

from __future__ import annotations

import re
import shutil
import statistics
import subprocess
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import httpx

WRK_DONE_SCRIPT = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("BENCH requests=%d bytes=%d duration_us=%d\\n",
    summary.requests, summary.bytes, summary.duration))
  io.write(string.format("BENCH err_connect=%d err_read=%d err_write=%d err_status=%d err_timeout=%d\\n",
    e.connect, e.read, e.write, e.status, e.timeout))
  io.write(string.format("BENCH p50_us=%d p90_us=%d p99_us=%d mean_us=%.1f max_us=%d\\n",
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.mean, latency.max))
end
"""

_PAIR = re.compile(r"(\w+)=([0-9.]+)")


@dataclass
class LoadResult:
    tool: str  # "wrk" or "python-httpx fallback"
    url: str
    connections: int
    threads: int
    duration_s: float
    requests: int
    rps: float
    bytes_per_request: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    mean_ms: float
    errors: int  # socket errors + non-2xx/3xx responses
    error_detail: str
    round_rps: list[float] = field(default_factory=list)  # one figure per round when combined
    foreign_cpu_pct: float = 0.0  # machine capacity used by processes outside the measurement
    retries: int = 0  # runs discarded because something else was using the machine

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def combine(rounds: list[LoadResult]) -> LoadResult:
    """Rounds of one measurement as one figure: medians, so one disturbed round does not decide it."""
    if len(rounds) == 1:
        return rounds[0]
    med = statistics.median
    requests = sum(r.requests for r in rounds)
    return LoadResult(
        tool=rounds[0].tool,
        url=rounds[0].url,
        connections=rounds[0].connections,
        threads=rounds[0].threads,
        duration_s=round(sum(r.duration_s for r in rounds), 2),
        requests=requests,
        rps=med(r.rps for r in rounds),
        bytes_per_request=sum(r.bytes_per_request * r.requests for r in rounds) / requests
        if requests
        else 0.0,
        p50_ms=med(r.p50_ms for r in rounds),
        p90_ms=med(r.p90_ms for r in rounds),
        p99_ms=med(r.p99_ms for r in rounds),
        mean_ms=med(r.mean_ms for r in rounds),
        errors=sum(r.errors for r in rounds),
        error_detail=" ".join(r.error_detail for r in rounds if r.error_detail),
        round_rps=[r.rps for r in rounds],
        foreign_cpu_pct=max(r.foreign_cpu_pct for r in rounds),
        retries=sum(r.retries for r in rounds),
    )


def wrk_path() -> str | None:
    return shutil.which("wrk")


def wrk_version() -> str:
    path = wrk_path()
    if path is None:
        return "not installed"
    out = subprocess.run([path, "-v"], capture_output=True, text=True, timeout=10)
    return (out.stdout or out.stderr).splitlines()[0].split(" Copyright")[0].strip()


class LoadGenerator:
    def __init__(self, workdir: Path, force_python: bool = False) -> None:
        self.wrk = None if force_python else wrk_path()
        self.tool = "wrk" if self.wrk else "python-httpx fallback"
        self.script = workdir / "done.lua"
        self.script.write_text(WRK_DONE_SCRIPT)

    def run(
        self,
        url: str,
        *,
        connections: int,
        threads: int,
        duration: int,
        headers: dict[str, str] | None = None,
    ) -> LoadResult:
        if self.wrk is None:
            return _python_load(url, connections, duration, headers or {})
        cmd = [
            self.wrk,
            f"-t{threads}",
            f"-c{connections}",
            f"-d{duration}s",
            "--timeout",
            "10s",
            "--latency",
            "-s",
            str(self.script),
        ]
        for name, value in (headers or {}).items():
            cmd += ["-H", f"{name}: {value}"]
        cmd.append(url)
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 60)
        figures: dict[str, float] = {}
        for line in out.stdout.splitlines():
            if line.startswith("BENCH "):
                figures.update((k, float(v)) for k, v in _PAIR.findall(line))
        if out.returncode != 0 or "requests" not in figures:
            raise RuntimeError(f"wrk failed ({out.returncode}): {out.stderr.strip() or out.stdout[-800:]}")
        requests = int(figures["requests"])
        seconds = figures["duration_us"] / 1e6
        errors = {k: int(v) for k, v in figures.items() if k.startswith("err_")}
        return LoadResult(
            tool="wrk",
            url=url,
            connections=connections,
            threads=threads,
            duration_s=round(seconds, 2),
            requests=requests,
            rps=requests / seconds if seconds else 0.0,
            bytes_per_request=figures["bytes"] / requests if requests else 0.0,
            p50_ms=figures["p50_us"] / 1000,
            p90_ms=figures["p90_us"] / 1000,
            p99_ms=figures["p99_us"] / 1000,
            mean_ms=figures["mean_us"] / 1000,
            errors=sum(errors.values()),
            error_detail=" ".join(f"{k[4:]}={v}" for k, v in errors.items() if v),
        )


def _python_load(url: str, connections: int, duration: int, headers: dict[str, str]) -> LoadResult:
    """``connections`` threads, each with its own client, for ``duration`` seconds."""
    latencies: list[list[float]] = [[] for _ in range(connections)]
    sizes = [0] * connections
    errors = [0] * connections
    deadline = time.monotonic() + duration

    def loop(i: int) -> None:
        with httpx.Client(timeout=10.0, headers=headers) as client:
            while time.monotonic() < deadline:  # bounded by the deadline
                t0 = time.perf_counter()
                try:
                    r = client.get(url)
                    sizes[i] += len(r.content)
                    if r.status_code >= 400:
                        errors[i] += 1
                except httpx.HTTPError:
                    errors[i] += 1
                latencies[i].append(time.perf_counter() - t0)

    started = time.monotonic()
    workers = [threading.Thread(target=loop, args=(i,), daemon=True) for i in range(connections)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=duration + 30)
    seconds = time.monotonic() - started
    flat = sorted(x for per in latencies for x in per)
    n = len(flat)

    def pct(p: float) -> float:
        return flat[min(n - 1, int(p / 100 * n))] * 1000 if n else 0.0

    return LoadResult(
        tool="python-httpx fallback",
        url=url,
        connections=connections,
        threads=connections,
        duration_s=round(seconds, 2),
        requests=n,
        rps=n / seconds if seconds else 0.0,
        bytes_per_request=sum(sizes) / n if n else 0.0,
        p50_ms=pct(50),
        p90_ms=pct(90),
        p99_ms=pct(99),
        mean_ms=statistics.fmean(flat) * 1000 if n else 0.0,
        errors=sum(errors),
        error_detail=f"errors={sum(errors)}" if sum(errors) else "",
    )
