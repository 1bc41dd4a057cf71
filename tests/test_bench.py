"""The bench's plan and table (pure)."""

from tools import bench


def test_steps_order_and_shape():
    steps = bench.steps("1.10.1", "orthanc", ["amd64", "arm64", "armv7"], "amd64", runs=2,
                        emulate=["armv7"], bump="orthanc", memory_stages=["build-gdcm", "build-mysql"])
    parts = [s.part for s in steps]
    assert parts == ["cold"] * 3 + ["nochange"] * 9 + ["bump"] * 2 + ["memory"] * 3 + ["cold"]
    assert [s.label for s in steps[:3]] == ["amd64 native", "arm64 cross", "armv7 cross"]
    assert steps[-1].label == "armv7 emulated" and "--emulate" in steps[-1].argv
    assert all(s.cold and "--no-cache" in s.argv for s in steps if s.part == "cold")
    assert {s.run for s in steps if s.part == "nochange"} == {0, 1, 2}
    assert all(s.bump == "orthanc" for s in steps if s.part == "bump")
    memory = [s for s in steps if s.part == "memory"]
    assert [s.argv[-2:] for s in memory] == [("--max-parallel", "2"), ("--max-parallel", "1"),
                                             ("--memory-budget", "3GiB")]
    assert all(("--stage", "build-gdcm") == s.argv[6:8] for s in memory)


def test_steps_of_some_parts():
    steps = bench.steps("1.10.1", "orthanc", ["amd64"], "amd64", parts=("bump",), runs=3)
    assert [s.part for s in steps] == ["bump"] * 3


def rec(part, run, label, seconds, **kw):
    return {"bench": {"id": "x", "part": part, "run": run, "label": label}, "wall_seconds": seconds,
            "status": "ok", "set": "1.10.1", "image": "orthanc", "end": f"{run}", **kw}


def test_summary_medians_and_ratios():
    records = [
        rec("cold", 1, "amd64 native", 100.0, compiler="native", size_bytes=180 * 2**20),
        rec("cold", 1, "armv7 cross", 120.0, compiler="cross"),
        rec("cold", 1, "armv7 emulated", 1000.0, compiler="emulated"),
        rec("nochange", 0, "amd64", 500.0), rec("nochange", 0, "armv7", 500.0),  # warm-up: not counted
        rec("nochange", 1, "amd64", 2.0), rec("nochange", 1, "armv7", 3.0),
        rec("nochange", 2, "amd64", 4.0), rec("nochange", 2, "armv7", 4.0),
        rec("nochange", 3, "amd64", 1.0), rec("nochange", 3, "armv7", 1.0),
        rec("bump", 1, "orthanc on amd64", 30.0, stages=[{"stage": "build-orthanc", "cached": False},
                                                         {"stage": "builder-base", "cached": True}]),
        rec("bump", 2, "orthanc on amd64", 10.0), rec("bump", 3, "orthanc on amd64", 20.0),
        rec("memory", 1, "parallel", 50.0, memory_build_peak_bytes=2 * 2**30, scheduler={"max_concurrent": 2}),
        rec("memory", 1, "max-parallel 1", 80.0, memory_build_peak_bytes=2**30, scheduler={"max_concurrent": 1}),
    ]
    headers, rows = bench.summarise(records)
    table = {(r[0], r[1]): dict(zip(headers, r)) for r in rows}
    nochange = table[("nochange", "rebuild 2 platforms (amd64, armv7)")]
    assert nochange["runs"] == "3" and nochange["seconds (median)"] == "5.0"
    bump = table[("bump", "change one file of orthanc on amd64")]
    assert bump["seconds (median)"] == "20.0" and bump["notes"] == "stages run: build-orthanc"
    assert table[("cold", "armv7 cross")]["ratio"] == "1.20 of native"
    assert table[("cold", "armv7 emulated")]["ratio"] == "10.00 of native"
    assert table[("cold", "amd64 native")]["size MiB"] == "180"
    assert table[("memory", "max-parallel 1")]["ratio"] == "0.50 of parallel"
    assert table[("memory", "max-parallel 1")]["peak MiB"] == "1024"


def test_latest_run():
    a = {**rec("cold", 1, "x", 1.0), "end": "2"}
    b = {**rec("cold", 1, "x", 1.0), "end": "3", "bench": {**a["bench"], "id": "y"}}
    assert bench.latest_run([a, b, {"end": "9"}]) == [b]
