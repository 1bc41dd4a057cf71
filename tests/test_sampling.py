"""Memory and CPU sampling, and OOM recognition (pure parts, and one real sampling)."""

import time

from tools import sampling

MEMINFO = "MemTotal:       24000000 kB\nMemFree:         1000000 kB\nMemAvailable:   20000000 kB\n"
STAT = "cpu  100 5 50 1000 20 1 2 3 0 0\ncpu0 50 2 25 500 10 0 1 1 0 0\n"


def test_used_memory_and_busy_ticks():
    assert sampling.used_memory(MEMINFO) == 4000000 * 1024
    assert sampling.busy_ticks(STAT) == 100 + 5 + 50 + 1 + 2 + 3


def test_oom_recognised_from_buildkit_errors():
    assert sampling.is_oom(['[build-orthanc 3/3] RUN make: process "/bin/sh -c make" did not complete '
                            'successfully: exit code: 137'])
    assert not sampling.is_oom(["[build-orthanc 3/3] RUN make: exit code: 2"])


def test_sampler_sees_an_allocation():
    sampler = sampling.Sampler(interval=0.05).start()
    block = bytearray(300 * 2**20)  # touched, so it is resident
    for i in range(0, len(block), 4096):
        block[i] = 1
    time.sleep(0.3)
    usage = sampler.stop()
    del block
    assert usage["memory_peak_bytes"] >= usage["memory_baseline_bytes"]
    assert usage["memory_build_peak_bytes"] >= 200 * 2**20
    assert usage["cpu_seconds"] >= 0
