"""Sample the machine's memory and CPU while a build runs (BuildKit runs inside dockerd,
so what the build uses shows up as the machine's use)."""

from __future__ import annotations

import os
import threading
from pathlib import Path


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


class Sampler:
    """Peak used memory and CPU seconds between start() and stop()."""

    def __init__(self, interval: float = 0.5, proc: Path = Path("/proc")):
        self.interval = interval
        self.proc = proc
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.baseline = self.peak = 0
        self._ticks0 = 0
        self.cpu_seconds = 0.0

    def _read(self, name: str) -> str:
        return (self.proc / name).read_text()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.peak = max(self.peak, used_memory(self._read("meminfo")))

    def start(self) -> "Sampler":
        self.baseline = self.peak = used_memory(self._read("meminfo"))
        self._ticks0 = busy_ticks(self._read("stat"))
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> dict:
        self._stop.set()
        if self._thread:
            self._thread.join()
        self.peak = max(self.peak, used_memory(self._read("meminfo")))
        ticks = busy_ticks(self._read("stat")) - self._ticks0
        self.cpu_seconds = ticks / os.sysconf("SC_CLK_TCK")
        return {
            "memory_baseline_bytes": self.baseline,
            "memory_peak_bytes": self.peak,
            "memory_build_peak_bytes": max(0, self.peak - self.baseline),
            "cpu_seconds": round(self.cpu_seconds, 1),
        }


OOM_MARKERS = ("exit code: 137", "signal: killed", "out of memory", "Killed")


def is_oom(errors: list[str]) -> bool:
    """A build killed for memory: the kernel's OOM killer ends a step with SIGKILL (exit 137)."""
    return any(marker in error for error in errors for marker in OOM_MARKERS)
