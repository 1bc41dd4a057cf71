"""The build-time table rendered from results records."""

from pathlib import Path

from tools.reporting import report

ROOT = Path(__file__).resolve().parent.parent

HOST = {"name": "h", "platform": "amd64", "cores": 2, "memory_bytes": 24 * 2**30}


def rec(image, platform, seconds, status="ok", compiler="native", end="2026-01-01T00:00:00+00:00", **kw):
    return {"set": "1.10.1", "image": image, "platforms": [platform], "sequential": False, "host": HOST,
            "start": end, "end": end, "wall_seconds": seconds, "status": status, "compiler": compiler, **kw}


RECORDS = [
    rec("orthanc", "amd64", 530.2, end="2026-01-01T00:00:00+00:00"),
    rec("orthanc", "amd64", 483.4, end="2026-01-02T00:00:00+00:00"),  # the latest counts
    rec("orthanc", "armv7", 577.7, compiler="cross"),
    rec("orthanc-plugins", "armv7", 9.0, status="OOM", compiler="emulated"),
]


def test_table_rows_images_columns_host_and_platform():
    headers, rows = report.build_table(RECORDS)
    assert headers == ["set", "image", "x86-64, 2 cores, 24 GiB / amd64 native",
                       "x86-64, 2 cores, 24 GiB / armv7 cross", "x86-64, 2 cores, 24 GiB / armv7 emulated"]
    assert rows == [["1.10.1", "orthanc", "483", "578", ""], ["1.10.1", "orthanc-plugins", "", "", "OOM"]]


def test_an_image_built_without_plugins_has_its_own_row():
    partial = rec("orthanc-plugins", "amd64", 700.0, without=["dicomweb", "wsi"])
    headers, rows = report.build_table([*RECORDS, partial])
    assert ["1.10.1", "orthanc-plugins (without dicomweb, wsi)", "700", "", ""] in rows
    assert ["1.10.1", "orthanc-plugins", "", "", "OOM"] in rows


def test_a_clang_build_has_its_own_row_and_gcc_is_the_default():
    clang = rec("orthanc", "amd64", 400.0, toolchain="clang")
    both = rec("orthanc-plugins", "amd64", 800.0, toolchain="clang", without=["wsi"])
    headers, rows = report.build_table([*RECORDS, clang, both, rec("orthanc", "amd64", 480.0, toolchain="gcc", end="2026-01-03T00:00:00+00:00")])
    assert ["1.10.1", "orthanc (clang)", "400", "", ""] in rows
    assert ["1.10.1", "orthanc-plugins (clang, without wsi)", "800", "", ""] in rows
    assert ["1.10.1", "orthanc", "480", "578", ""] in rows  # gcc, said or not, is the default row


def test_formats_and_filters():
    headers, rows = report.build_table(report.select(RECORDS, platforms=["armv7"]))
    assert len(headers) == 4
    assert report.render(headers, rows, "csv").splitlines()[0].startswith("set,image,")
    assert '"image": "orthanc"' in report.render(headers, rows, "json")
    assert report.render(headers, rows, "github").startswith("| set")


def st(name, start, end, cached=False):
    return {"stage": name, "started": start, "completed": end, "seconds": end - start, "cached": cached, "steps": 1}


def test_critical_path_follows_what_each_stage_waited_for():
    stages = [st("builder-base", 0, 10), st("framework", 10, 40), st("build-orthanc", 10, 60),
              st("build-mysql", 40, 50), st("build-gdcm", 40, 70), st("runtime-base", 0, 5),
              st("orthanc", 60, 62), st("orthanc-plugins", 70, 75)]
    assert report.critical_path(stages) == ["builder-base", "framework", "build-gdcm", "orthanc-plugins"]
    headers, rows = report.stage_table({"stages": stages})
    marked = [row[0] for row in rows if row[-1] == "*"]
    assert marked == ["builder-base", "framework", "build-gdcm", "orthanc-plugins"]


def test_critical_path_follows_the_dockerfile_where_a_stage_waits_in_the_middle():
    # A plugin's stage starts early (its packages), then waits for the core's framework library:
    # timing alone would blame the headers' stage; the Dockerfile's dependencies name the core.
    from tools.planning import dockerfile
    needs = dockerfile.dependencies((ROOT / "dockerfiles" / "Dockerfile").read_text())
    stages = [st("builder-base", 0, 55), st("runtime-base", 0, 19), st("framework", 55, 61),
              st("build-orthanc", 55, 820), st("plugin-base", 61, 61.1), st("build-gdcm", 61, 960),
              st("build-postgresql", 61, 1381), st("orthanc", 821, 836), st("orthanc-plugins", 1382, 1390)]
    assert report.critical_path(stages) == ["builder-base", "framework", "build-postgresql", "orthanc-plugins"]
    expected = ["builder-base", "build-orthanc", "build-postgresql", "orthanc-plugins"]
    assert report.critical_path(stages, needs) == expected  # `builder`, not recorded, stands for builder-base
    headers, rows = report.stage_table({"stages": stages}, needs)
    assert [row[0] for row in rows if row[-1] == "*"] == ["builder-base", "build-orthanc", "build-postgresql",
                                                           "orthanc-plugins"]


def test_sequential_against_parallel():
    par = rec("orthanc-plugins", "armv7", 100.0, memory_build_peak_bytes=2 * 2**30)
    seq = rec("orthanc-plugins", "armv7", 250.0, memory_build_peak_bytes=2**30, sequential=True)
    seq["sequential"] = True
    headers, rows = report.sequential_table([par, seq])
    assert rows == [["1.10.1", "orthanc-plugins", "armv7", "x86-64, 2 cores, 24 GiB", "100", "250", "2.50",
                     "2048", "1024", "0.50"]]


def test_date_filters_compare_with_the_end_and_take_whole_days():
    assert len(report.select(RECORDS, since="2026-01-02")) == 1
    assert len(report.select(RECORDS, until="2026-01-01")) == 3  # the whole first day
    assert len(report.select(RECORDS, since="2026-01-01T00:00:01")) == 1
    assert report.select(RECORDS, since="2026-01-03") == []


def test_stage_only_builds_stay_out_of_the_image_table():
    headers, rows = report.build_table([*RECORDS, rec("orthanc-plugins", "amd64", 5.0, only_stages=["build-gdcm"])])
    assert ["1.10.1", "orthanc-plugins", "", "", "OOM"] in rows


def test_a_sequential_build_is_one_stage_at_a_time_whatever_version_wrote_it():
    old = rec("orthanc", "armv7", 300.0, sequential=True)  # as older versions wrote it
    new = {**rec("orthanc", "armv7", 300.0), "scheduler": {"max_parallel": 1, "memory_budget_bytes": None,
                                                          "max_concurrent": 1}}
    del new["sequential"]
    assert report.column(old) == report.column(new) == "x86-64, 2 cores, 24 GiB / armv7 native, sequential"
    assert report.column(rec("orthanc", "armv7", 300.0)) == "x86-64, 2 cores, 24 GiB / armv7 native"


def test_modes_pair_sequential_with_parallel_not_with_budget():
    par = rec("orthanc-plugins", "amd64", 100.0, memory_build_peak_bytes=2 * 2**30, end="1")
    one = rec("orthanc-plugins", "amd64", 150.0, memory_build_peak_bytes=2**30, end="2",
              scheduler={"max_parallel": 1, "memory_budget_bytes": None})
    budget = rec("orthanc-plugins", "amd64", 120.0, memory_build_peak_bytes=2**30, end="3",
                 scheduler={"max_parallel": None, "memory_budget_bytes": 3 * 2**30})
    assert [report.mode(r) for r in (par, one, budget)] == ["parallel", "sequential", "budget"]
    _, rows = report.sequential_table([par, one, budget])
    assert rows[0][4:7] == ["100", "150", "1.50"] and rows[0][-1] == "0.50"


def test_size_table():
    headers, rows = report.size_table([rec("orthanc", "amd64", 1.0, size_bytes=182 * 2**20),
                                       rec("orthanc", "armv7", 1.0, size_bytes=144 * 2**20),
                                       rec("orthanc-plugins", "amd64", 1.0)])
    assert headers == ["set", "image", "amd64 MiB", "armv7 MiB"]
    assert rows == [["1.10.1", "orthanc", "182", "144"]]


def test_digest_table_prefers_the_platform_digest_of_a_reproducible_build():
    records = [rec("orthanc", "amd64", 1.0, digest="sha256:old", end="1"),
               rec("orthanc", "amd64", 1.0, digest="sha256:index", end="2", reproducible=True,
                   platform_digests={"amd64": "sha256:image"}, source_date_epoch=1786000000),
               rec("orthanc", "armv7", 1.0, digest="sha256:arm", end="3")]
    headers, rows = report.digest_table(records)
    assert headers[:6] == ["set", "image", "platform", "digest", "reproducible", "sources' date"]
    assert [row[:6] for row in rows] == [["1.10.1", "orthanc", "amd64", "sha256:image", "yes", "2026-08-06"],
                                         ["1.10.1", "orthanc", "armv7", "sha256:arm", "no", ""]]


def test_chart_is_a_png(tmp_path):
    headers, rows = report.build_table(RECORDS)
    path = tmp_path / "times.png"
    report.chart(headers, rows, path)
    data = path.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 5000


def test_readme_block_is_replaced_between_its_markers():
    start, end = report.README_START.format(name="t"), report.README_END.format(name="t")
    text = f"intro\n{start}\nold table\n{end}\noutro\n"
    assert report.readme_block(text, "t", "new") == f"intro\n{start}\nnew\n{end}\noutro\n"
    import pytest
    with pytest.raises(ValueError, match="no '<!-- u:"):
        report.readme_block(text, "u", "new")


def test_cold_filter():
    records = [rec("orthanc", "amd64", 500.0, no_cache=True), rec("orthanc", "amd64", 2.0, no_cache=False),
               rec("orthanc", "armv7", 3.0)]
    assert [r["wall_seconds"] for r in report.select(records, cold=True)] == [500.0]
