"""The memory a build used over time: a small series in the record, at most one point a second,
runs of equal values kept once, long builds in wider steps, the peaks kept."""

from __future__ import annotations

import json
import time

import pytest

from tools.running import results, sampling

MIB = 2**20
MEMINFO = "MemTotal:       24000000 kB\nMemFree:         1000000 kB\nMemAvailable:   {available} kB\n"
STAT = "cpu  100 5 50 1000 20 1 2 3 0 0\n"


def test_equal_values_are_kept_once_and_the_end_is_marked():
    samples = [(t / 2, 1000 * MIB) for t in range(0, 20)] + [(10.0, 1500 * MIB), (10.5, 1500 * MIB),
                                                             (11.0, 1000 * MIB), (11.5, 1000 * MIB)]
    series = sampling.series(samples, 1_800_000_000.25)
    assert series == {"started": 1_800_000_000.25, "step_seconds": 1.0,
                      "points": [[0, 1000], [10, 1500], [11, 1000], [11.5, 1000]]}


def test_a_second_keeps_its_highest_sample():
    series = sampling.series([(0.0, 800 * MIB), (0.5, 2000 * MIB), (1.0, 900 * MIB), (1.5, 900 * MIB)], 0.0)
    assert series["points"] == [[0, 2000], [1, 900], [1.5, 900]]


def test_a_long_build_is_bounded_and_keeps_its_peak():
    """Five hours sampled twice a second, memory changing at every sample."""
    samples = [(t / 2, (1000 + t % 97) * MIB) for t in range(0, 5 * 3600 * 2)]
    samples[12345] = (samples[12345][0], 7000 * MIB)
    series = sampling.series(samples, 0.0)
    assert len(series["points"]) <= sampling.SERIES_POINTS
    assert series["step_seconds"] == 31.0  # whole seconds
    assert max(v for _, v in series["points"]) == 7000
    assert series["points"][-1][0] == pytest.approx(5 * 3600 - 0.5, abs=0.1)
    assert len(json.dumps(series)) < 10_000


def test_a_short_build_has_a_point_a_second_at_most():
    samples = [(t / 4, (1000 + t) * MIB) for t in range(0, 40)]
    points = sampling.series(samples, 0.0)["points"]
    times = [t for t, _ in points]
    assert times[:-1] == list(range(0, 10)) and times[-1] == 9.8


def test_the_sampler_records_its_series(tmp_path):
    (tmp_path / "stat").write_text(STAT)
    (tmp_path / "meminfo").write_text(MEMINFO.format(available=20000000))
    sampler = sampling.Sampler(interval=0.02, proc=tmp_path).start()
    time.sleep(0.1)
    (tmp_path / "meminfo").write_text(MEMINFO.format(available=19000000))  # about 977 MiB more in use
    time.sleep(0.1)
    usage = sampler.stop()
    series = usage["memory_series"]
    assert abs(series["started"] - time.time()) < 5
    assert series["points"][0] == [0, round(5000000 * 1024 / MIB)]  # the first second's highest sample
    assert len(series["points"]) <= 2
    assert usage["memory_build_peak_bytes"] == 1000000 * 1024
    results.Record.from_dict({**RECORD, **usage})  # a record the results file takes


def test_a_job_sampler_keeps_no_series(tmp_path):
    (tmp_path / "stat").write_text(STAT)
    (tmp_path / "meminfo").write_text(MEMINFO.format(available=20000000))
    usage = sampling.Sampler(interval=0.02, proc=tmp_path, keep_series=False).start().stop()
    assert "memory_series" not in usage and usage["memory_peak_bytes"] == 4000000 * 1024


RECORD = {"set": "1.13.0", "image": "orthanc", "platforms": ["amd64"], "sequential": False,
          "host": {"name": "h", "platform": "amd64", "cores": 2, "memory_bytes": 24 * 2**30},
          "start": "2026-01-01T00:00:00+00:00", "end": "2026-01-01T00:10:00+00:00", "wall_seconds": 600.0,
          "status": "ok"}


@pytest.mark.parametrize("series, problem", [
    ({"points": []}, "'memory_series' no 'started'"),
    ({"started": 1.0, "points": [[0, 1, 2]]}, "'memory_series' 'points' item 0: not a pair of numbers"),
    ({"started": 1.0, "points": [[0, -1]]}, "'memory_series' 'points' item 0: item 1: not a finite number"),
    ({"started": 1.0, "points": [0]}, "'memory_series' 'points' item 0: not a list"),
    ({"started": 1.0, "step_seconds": "1", "points": []}, "'memory_series' 'step_seconds' not a number"),
])
def test_a_damaged_series_is_refused(series, problem):
    with pytest.raises(results.RecordError, match=problem):
        results.Record.from_dict({**RECORD, "memory_series": series})


def test_a_record_with_a_series_goes_through_the_results_file(tmp_path):
    series = sampling.series([(0.0, 800 * MIB), (1.0, 900 * MIB)], 1_800_000_000.0)
    results.append(tmp_path / "builds.jsonl", {**RECORD, "memory_series": series})
    records, damaged = results.read(tmp_path / "builds.jsonl")
    assert not damaged and records[0]["memory_series"] == series
