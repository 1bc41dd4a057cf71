"""The build-time table rendered from results records."""

from tools import report

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


def test_sequential_against_parallel():
    par = rec("orthanc-plugins", "armv7", 100.0, memory_build_peak_bytes=2 * 2**30)
    seq = rec("orthanc-plugins", "armv7", 250.0, memory_build_peak_bytes=2**30, sequential=True)
    seq["sequential"] = True
    headers, rows = report.sequential_table([par, seq])
    assert rows == [["1.10.1", "orthanc-plugins", "armv7", "x86-64, 2 cores, 24 GiB", "100", "250", "2.50",
                     "2048", "1024", "0.50"]]
