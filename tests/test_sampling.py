"""Memory and CPU sampling, and OOM recognition (pure parts, and one real sampling)."""

import os
import time

from tools.running import sampling

MEMINFO = "MemTotal:       24000000 kB\nMemFree:         1000000 kB\nMemAvailable:   20000000 kB\n"
STAT = "cpu  100 5 50 1000 20 1 2 3 0 0\ncpu0 50 2 25 500 10 0 1 1 0 0\n"


def test_used_memory_and_busy_ticks():
    assert sampling.used_memory(MEMINFO) == 4000000 * 1024
    assert sampling.busy_ticks(STAT) == 100 + 5 + 50 + 1 + 2 + 3


def test_oom_recognised_from_buildkit_errors():
    assert sampling.is_oom(['[build-orthanc 3/3] RUN make: process "/bin/sh -c make" did not complete '
                            'successfully: exit code: 137'])
    assert not sampling.is_oom(["[build-orthanc 3/3] RUN make: exit code: 2"])


def test_sampler_sees_an_allocation(tmp_path):
    """The sampler over a /proc of the test's own, whose numbers the test moves (the machine's own
    MemAvailable moves with everything else that runs, which makes a real allocation a flaky probe)."""
    (tmp_path / "stat").write_text(STAT)
    (tmp_path / "meminfo").write_text(MEMINFO)
    sampler = sampling.Sampler(interval=0.02, proc=tmp_path).start()
    (tmp_path / "meminfo").write_text(MEMINFO.replace("20000000", "19600000"))  # 400000 kB more in use
    time.sleep(0.2)
    (tmp_path / "meminfo").write_text(MEMINFO)  # back down before stop: only a sample saw the peak
    (tmp_path / "stat").write_text(STAT.replace("cpu  100", "cpu  300"))
    usage = sampler.stop()
    assert usage["memory_peak_bytes"] >= usage["memory_baseline_bytes"]
    assert usage["memory_build_peak_bytes"] >= 200 * 2**20
    assert usage["memory_build_peak_bytes"] == 400000 * 1024
    assert usage["cpu_seconds"] >= 0
    assert usage["cpu_seconds"] == round(200 / os.sysconf("SC_CLK_TCK"), 1)


def test_steps_cancelled_because_another_failed_are_not_oom():
    assert not sampling.is_oom([
        'ERROR [build-orthanc 4/4] RUN make: process "/bin/sh -c make" did not complete successfully: '
        'exit code: 137: context canceled: context canceled',
        'ERROR: failed to solve: process "/bin/sh -c apt-get install" did not complete successfully: exit code: 100'])
