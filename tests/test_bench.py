"""The bench's plan and table (pure)."""

from pathlib import Path

from tools.reporting import bench_table
from tools.running import bench

ROOT = Path(__file__).resolve().parent.parent


def test_steps_order_and_shape():
    steps = bench.steps("1.10.1", "orthanc", ["amd64", "arm64", "armv7"], "amd64", runs=2,
                        emulate=["armv7"], bump="orthanc", memory_stages=["build-gdcm", "build-mysql"])
    parts = [s.part for s in steps]
    assert parts == ["cold"] * 3 + ["nochange"] * 9 + ["bump"] * 3 + ["memory"] * 4 + ["cold"]
    assert [s.label for s in steps[:3]] == ["arm64 cross", "armv7 cross", "amd64 native"]
    assert steps[-1].label == "armv7 emulated" and steps[-1].build.emulate
    assert all(s.cold and s.build.no_cache for s in steps if s.part == "cold")
    assert {s.run for s in steps if s.part == "nochange"} == {0, 1, 2}
    bumps = [s for s in steps if s.part == "bump"]
    # Run 0 rebuilds unchanged, on the host's platform, built cold last (its cache is warm).
    assert [(s.run, s.bump) for s in bumps] == [(0, None), (1, "orthanc"), (2, "orthanc")]
    assert all(s.label == "orthanc on amd64" and s.build.platforms == ("amd64",) for s in bumps)
    memory = [s for s in steps if s.part == "memory"]
    assert [(s.run, s.label) for s in memory] == [(0, "parallel"), (1, "parallel"), (1, "sequential"),
                                                  (1, "budget 3GiB")]
    # Sequential as the -sequential sessions are: one stage at a time, one compile job.
    assert [(s.build.max_parallel, s.build.jobs, s.build.memory_budget) for s in memory] == [
        (None, None, None), (None, None, None), (1, 1, None), (None, None, "3GiB")]
    assert all(s.build.stages == ("build-gdcm", "build-mysql") and s.build.platforms == ("amd64",) for s in memory)
    assert all(s.build.no_cache_filter == ("build-gdcm", "build-mysql") for s in memory)
    assert bench.summary(memory[-1].build) == ("orthanc-plugins amd64, stage build-gdcm, stage build-mysql, "
                                               "rebuilding build-gdcm,build-mysql, memory budget 3GiB")
    # Only the measured stages' compiler caches are emptied, and not for the warm-up.
    assert memory[0].ccache == () and not memory[0].cold
    assert all(s.ccache == ("ccache-gdcm-amd64", "ccache-mysql-amd64") and not s.cold for s in memory[1:])


def test_every_build_of_a_bench_uses_its_toolchain():
    steps = bench.steps("1.10.1", "orthanc", ["amd64", "arm64"], "amd64", runs=1, toolchain="clang",
                        memory_stages=["build-gdcm", "build-mysql"])
    assert {s.build.toolchain for s in steps} == {"clang"}
    assert bench.summary(steps[0].build) == "orthanc arm64, no cache, compiled by clang"
    assert {s.build.toolchain for s in bench.steps("1.10.1", "orthanc", ["amd64"], "amd64", runs=1)} == {"gcc"}


def test_bump_and_memory_without_the_host_platform():
    steps = bench.steps("1.10.1", "orthanc", ["arm64", "armv7"], "amd64", parts=("cold", "bump"), runs=1,
                        emulate=[])
    assert [s.build.platforms for s in steps if s.part == "bump"] == [("armv7",), ("armv7",)]


def test_steps_of_some_parts():
    steps = bench.steps("1.10.1", "orthanc", ["amd64"], "amd64", parts=("bump",), runs=3)
    assert [s.part for s in steps] == ["bump"] * 4
    assert all(s.build.platforms == ("amd64",) for s in steps)  # no cold part: the host's platform


DU = """ID:		m6f6tr0sh631iwyfhasig15ix
Size:		6.14MB
Description:	cached mount /ccache from exec /bin/sh -c /opt/orthanc-build/build-plugin.sh postgresql /src "$B" with id "/ccache-postgresql-amd64"
ID:		smdfk60l5inor4z7yri0gsyfo
Description:	cached mount /ccache from exec /bin/sh -c /opt/orthanc-build/build-plugin.sh gdcm /src "$B" with id "/ccache-gdcm-amd64"
ID:		zzz
Description:	cached mount /ccache from exec /bin/sh -c /opt/orthanc-build/build-plugin.sh gdcm /src "$B" with id "/ccache-gdcm-armv7"
"""


def test_mounts_named():
    assert bench.mounts_named(DU, ("ccache-gdcm-amd64",)) == ["smdfk60l5inor4z7yri0gsyfo"]
    assert bench.mounts_named(DU, ("ccache-gdcm-arm",)) == []
    assert bench.cache_mount_id("build-gdcm", "armv7") == "ccache-gdcm-armv7"


def test_bumped_sources_change_compiled_code(tmp_path):
    tree = tmp_path / "src" / "orthanc" / "debian-1"
    for name in (".pc/p.patch/OrthancServer/A.cpp", "OrthancFramework/Sources/A.cpp",
                 "OrthancServer/Plugins/Samples/A.cpp", "OrthancServer/Sources/Main.cpp"):
        (tree / name).parent.mkdir(parents=True, exist_ok=True)
        (tree / name).write_text("int main() { return 0; }\n")
    (tmp_path / "src" / "gdcm" / "debian-2").mkdir(parents=True)
    root = bench.bumped_sources(tmp_path / "src", "orthanc", "debian-1", 1)
    changed = root / "orthanc" / "debian-1" / "OrthancServer" / "Sources" / "Main.cpp"
    added = changed.read_text().splitlines()[-1]
    assert added.startswith("int OrthancImagesBenchChange1_") and "//" not in added
    assert (root / "gdcm" / "debian-2").is_symlink()
    assert (tree / "OrthancServer/Sources/Main.cpp").read_text() == "int main() { return 0; }\n"


def rec(part, run, label, seconds, **kw):
    return {"bench": {"id": "x", "part": part, "run": run, "label": label}, "wall_seconds": seconds,
            "status": "ok", "set": "1.10.1", "image": "orthanc", "end": f"{run}", **kw}


def test_summary_medians_and_ratios():
    records = [
        rec("cold", 1, "amd64 native", 100.0, compiler="native", size_bytes=180 * 2**20),
        rec("cold", 1, "armv7 cross", 120.0, compiler="cross"),
        rec("cold", 1, "armv7 emulated", 1000.0, compiler="emulated"),
        {**rec("cold", 1, "amd64 plugins", 900.0, compiler="native", without=["wsi"]), "image": "orthanc-plugins"},
        {**rec("cold", 1, "armv7 plugins", 1800.0, compiler="cross"), "image": "orthanc-plugins"},
        rec("nochange", 0, "amd64", 500.0), rec("nochange", 0, "armv7", 500.0),  # warm-up: not counted
        rec("nochange", 1, "amd64", 2.0), rec("nochange", 1, "armv7", 3.0),
        rec("nochange", 2, "amd64", 4.0), rec("nochange", 2, "armv7", 4.0),
        rec("nochange", 3, "amd64", 1.0), rec("nochange", 3, "armv7", 1.0),
        rec("bump", 0, "orthanc on amd64", 600.0),  # warm-up: not counted
        rec("memory", 0, "parallel", 900.0, memory_build_peak_bytes=9 * 2**30),  # warm-up: not counted
        rec("bump", 1, "orthanc on amd64", 30.0, stages=[{"stage": "build-orthanc", "cached": False},
                                                         {"stage": "builder-base", "cached": True}]),
        rec("bump", 2, "orthanc on amd64", 10.0), rec("bump", 3, "orthanc on amd64", 20.0),
        rec("memory", 1, "parallel", 50.0, memory_build_peak_bytes=2 * 2**30, scheduler={"max_concurrent": 2}),
        rec("memory", 1, "sequential", 80.0, memory_build_peak_bytes=2**30, scheduler={"max_concurrent": 1}),
    ]
    headers, rows = bench_table.summarise(records)
    table = {(r[0], r[1]): dict(zip(headers, r)) for r in rows}
    nochange = table[("nochange", "rebuild 2 platforms (amd64, armv7)")]
    assert nochange["runs"] == "3" and nochange["seconds (median)"] == "5.0"
    bump = table[("bump", "change one file of orthanc on amd64")]
    assert bump["seconds (median)"] == "20.0" and bump["notes"] == "stages run: build-orthanc"
    assert table[("cold", "armv7 cross")]["ratio"] == "1.20 of native"
    assert table[("cold", "armv7 emulated")]["ratio"] == "10.00 of native"
    assert table[("cold", "amd64 native")]["size MiB"] == "180"
    assert table[("cold", "armv7 plugins")]["ratio"] == "2.00 of native"  # the same image's native build
    assert table[("cold", "amd64 plugins")]["ratio"] == ""
    assert table[("cold", "amd64 plugins")]["notes"] == "orthanc-plugins:1.10.1 (without wsi)"
    assert table[("memory", "sequential")]["ratio"] == "0.50 of parallel"
    assert table[("memory", "sequential")]["peak MiB"] == "1024"


def test_latest_run():
    a = {**rec("cold", 1, "x", 1.0), "end": "2"}
    b = {**rec("cold", 1, "x", 1.0), "end": "3", "bench": {**a["bench"], "id": "y"}}
    assert bench_table.latest_run([a, b, {"end": "9"}]) == [b]


def test_a_cold_build_empties_the_compiler_caches_of_its_own_platform_only():
    plan = bench.steps("1.13.0", "orthanc-plugins", ["armv7", "amd64"], "amd64", parts=("cold",), emulate=[],
                       compile_stages=("framework", "build-orthanc", "build-wsi"))
    assert [(s.label, s.ccache) for s in plan] == [
        ("armv7 cross", ("ccache-framework-armv7", "ccache-orthanc-armv7", "ccache-wsi-armv7")),
        ("amd64 native", ("ccache-framework-amd64", "ccache-orthanc-amd64", "ccache-wsi-amd64")),
    ]
    assert all(s.cold for s in plan)


def test_the_compile_stages_are_those_with_a_compiler_cache():
    from tools.planning import dockerfile
    text = (ROOT / "dockerfiles" / "Dockerfile").read_text()
    # The framework is compiled once, inside build-orthanc: its own stage only configures it.
    assert dockerfile.compile_stages(text) == ["build-orthanc", "build-postgresql", "build-mysql",
                                               "build-dicomweb", "build-gdcm", "build-webviewer", "build-wsi"]


def test_the_bench_runs_each_step_as_a_build_request(monkeypatch, tmp_path, capsys):
    from tools.commands import bench as bench_command, build
    from tools.errors import UsageError
    seen = []

    def fake_build(request):
        seen.append(request)
        if len(seen) == 1:
            raise UsageError("this build cannot be made")
        return 0
    monkeypatch.setattr(build, "run", fake_build)
    monkeypatch.setattr(bench, "empty_compiler_cache", lambda ids=(): None)
    results_file = tmp_path / "builds.jsonl"
    request = bench_command.BenchRequest(set_name="1.13.0", images=("orthanc",), platforms=("amd64",), emulate=("none",),
                                         parts=("nochange",), runs=1, results=results_file)
    assert bench_command.run(request) == 1  # one build failed: the bench says so, after the others ran
    assert [(r.images, r.platforms, r.bench.part, r.bench.run) for r in seen] == [
        (("orthanc",), ("amd64",), "nochange", 0), (("orthanc",), ("amd64",), "nochange", 1)]
    assert all(r.results == results_file and r.bench.id == seen[0].bench.id for r in seen)
    assert "error: this build cannot be made" in capsys.readouterr().err


def test_every_build_of_the_bench_reads_the_sources_folder_it_is_given(tmp_path):
    # --sources-dir of the bench reaches its builds (a bench once ignored it, and each build looked
    # in the default folder, found nothing and failed).
    steps = bench.steps("1.10.1", "orthanc-plugins", ["amd64", "armv7"], "amd64", runs=1, emulate=["armv7"],
                        bump="wsi", memory_stages=["build-gdcm", "build-mysql"], sources_dir=tmp_path)
    assert {s.part for s in steps} == {"cold", "nochange", "bump", "memory"}
    assert all(s.build.sources_dir == tmp_path for s in steps)


def test_the_cold_part_builds_each_image_and_the_other_parts_measure_the_last():
    steps = bench.steps("1.13.0", "orthanc-plugins", ["amd64", "armv7"], "amd64", parts=("cold", "nochange"),
                        runs=1, emulate=[], cold_images=("orthanc", "orthanc-plugins"))
    assert [(s.label, s.build.images) for s in steps if s.part == "cold"] == [
        ("orthanc armv7 cross", ("orthanc",)), ("orthanc amd64 native", ("orthanc",)),
        ("orthanc-plugins armv7 cross", ("orthanc-plugins",)), ("orthanc-plugins amd64 native", ("orthanc-plugins",))]
    assert {s.build.images for s in steps if s.part == "nochange"} == {("orthanc-plugins",)}
    # one image: the rows keep their short labels
    alone = bench.steps("1.13.0", "orthanc", ["amd64"], "amd64", parts=("cold",), cold_images=("orthanc",))
    assert [s.label for s in alone] == ["amd64 native"]
