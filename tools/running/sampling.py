"""Sample the machine's memory and CPU while a build runs (BuildKit runs inside dockerd,
so what the build uses shows up as the machine's use)."""

from __future__ import annotations

import math
import os
import threading
import time
from pathlib import Path

#: At most this many points in a record's memory series (a build of hours still makes a small record).
SERIES_POINTS = 600
#: The finest step of a series, in seconds.
SERIES_STEP = 1.0


def used_memory(meminfo: str) -> int:
    """Bytes in use: MemTotal - MemAvailable."""
    values = {}
    for line in meminfo.splitlines():
        key, _, rest = line.partition(":")
        if key in ("MemTotal", "MemAvailable"):
            values[key] = int(rest.split()[0]) * 1024
    return values.get("MemTotal", 0) - values.get("MemAvailable", 0)


def busy_ticks(stat: str) -> int:
    """CPU time in clock ticks spent not idle, over all processors (first line of /proc/stat)."""
    fields = stat.splitlines()[0].split()
    assert fields[0] == "cpu"
    numbers = [int(x) for x in fields[1:]]
    idle = numbers[3] + (numbers[4] if len(numbers) > 4 else 0)  # idle + iowait
    return sum(numbers[:8]) - idle  # user nice system idle iowait irq softirq steal


def series(samples: list[tuple[float, int]], started: float, max_points: int = SERIES_POINTS,
           step: float = SERIES_STEP) -> dict:
    """Memory samples ``(seconds since started, bytes in use)`` as a record's small series (pure).

    Samples fall into buckets of ``step`` seconds, or wider when the build is long, so that there are
    fewer than ``max_points`` buckets; a bucket keeps the most memory any of its samples saw (peaks
    survive), in MiB.  A point is kept only where the value changes, and where the samples end:
    drawn as steps (each value holds until the next point), it is the bucketed series.
    """
    if not samples:
        return {"started": round(started, 3), "step_seconds": step, "points": []}
    span = max(t for t, _ in samples)
    width = step * max(1, math.ceil(span / max(1, max_points - 2) / step))  # whole steps
    buckets: dict[int, int] = {}
    for t, used in samples:
        index = int(max(0.0, t) // width)
        buckets[index] = max(buckets.get(index, 0), used)
    points: list[list] = []
    for index, used in sorted(buckets.items()):
        value = round(used / 2**20)
        if not points or points[-1][1] != value:
            points.append([_seconds(index * width), value])
    if points[-1][0] < _seconds(span):
        points.append([_seconds(span), points[-1][1]])  # where the series ends
    return {"started": round(started, 3), "step_seconds": width, "points": points}


def _seconds(value: float) -> float | int:
    value = round(value, 1)
    return int(value) if value == int(value) else value


class Sampler:
    """Peak used memory and CPU seconds between start() and stop(), and the memory used over time."""

    def __init__(self, interval: float = 0.5, proc: Path = Path("/proc"), keep_series: bool = True):
        self.interval = interval
        self.proc = proc
        self.keep_series = keep_series
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.baseline = self.peak = 0
        self._ticks0 = 0
        self.cpu_seconds = 0.0
        self.started = 0.0
        self._clock0 = 0.0
        self.samples: list[tuple[float, int]] = []

    def _read(self, name: str) -> str:
        return (self.proc / name).read_text()

    def _sample(self) -> None:
        used = used_memory(self._read("meminfo"))
        self.peak = max(self.peak, used)
        if self.keep_series:
            self.samples.append((time.monotonic() - self._clock0, used))

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()

    def start(self) -> "Sampler":
        self.started, self._clock0 = time.time(), time.monotonic()
        self.baseline = self.peak = used_memory(self._read("meminfo"))
        if self.keep_series:
            self.samples = [(0.0, self.baseline)]
        self._ticks0 = busy_ticks(self._read("stat"))
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> dict:
        self._stop.set()
        if self._thread:
            self._thread.join()
        self._sample()
        ticks = busy_ticks(self._read("stat")) - self._ticks0
        self.cpu_seconds = ticks / os.sysconf("SC_CLK_TCK")
        usage = {
            "memory_baseline_bytes": self.baseline,
            "memory_peak_bytes": self.peak,
            "memory_build_peak_bytes": max(0, self.peak - self.baseline),
            "cpu_seconds": round(self.cpu_seconds, 1),
        }
        if self.keep_series:
            usage["memory_series"] = series(self.samples, self.started)
        return usage


OOM_MARKERS = ("exit code: 137", "signal: killed", "out of memory", "Killed")


def is_oom(errors: list[str]) -> bool:
    """A build killed for memory: the kernel's OOM killer ends a step with SIGKILL (exit 137).

    BuildKit also kills the other running steps with SIGKILL when one step fails ("context
    canceled"): those are not memory kills."""
    return any(marker in error and "context canceled" not in error
               for error in errors for marker in OOM_MARKERS)
