"""The append-only results file."""

import concurrent.futures
import json
import multiprocessing
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tools.running import results


def record(i=0, **kw):
    base = {"set": "1.9.0", "image": "orthanc", "platforms": ["amd64"], "sequential": False,
            "host": {"name": "h"}, "start": "s", "end": f"e{i:05d}", "wall_seconds": 1.5, "status": "ok",
            "payload": "x" * 5000}
    base.update(kw)
    return base


def test_append_and_read(tmp_path):
    path = tmp_path / "r" / "builds.jsonl"
    results.append(path, record(1))
    results.append(path, record(2, status="failed"))
    found, damaged = results.read(path)
    assert [r["status"] for r in found] == ["ok", "failed"] and damaged == []


def test_damaged_lines_are_reported_and_skipped(tmp_path):
    path = tmp_path / "builds.jsonl"
    results.append(path, record(1))
    with open(path, "a") as handle:
        handle.write("{not json}\n")
        handle.write(json.dumps({"set": "x"}) + "\n")
        handle.write('{"set": "1.9.0", "ima')  # a writer killed mid-line
    results.append(path, record(2))  # starts on a fresh line
    found, damaged = results.read(path)
    assert [r["end"] for r in found] == ["e00001", "e00002"]
    reasons = [str(d) for d in damaged]
    assert len(reasons) == 3
    assert "line 2: skipped, not JSON" in reasons[0]
    assert "line 3: skipped, missing" in reasons[1]
    assert "line 4: skipped, not JSON" in reasons[2]


def test_truncated_last_line(tmp_path):
    path = tmp_path / "builds.jsonl"
    results.append(path, record(1))
    with open(path, "a") as handle:
        handle.write('{"set": "1.9.0"')
    found, damaged = results.read(path)
    assert len(found) == 1 and "truncated" in str(damaged[0])


def test_record_must_be_complete(tmp_path):
    import pytest
    with pytest.raises(ValueError, match="missing status"):
        results.append(tmp_path / "x.jsonl", {k: v for k, v in record().items() if k != "status"})


def _writer(args):
    path, worker = args
    for i in range(40):
        results.append(path, record(worker * 1000 + i))


def test_concurrent_writers_do_not_interleave(tmp_path):
    path = tmp_path / "builds.jsonl"
    with multiprocessing.Pool(4) as pool:
        pool.map(_writer, [(path, w) for w in range(4)])
    found, damaged = results.read(path)
    assert damaged == []
    assert len(found) == 160
    assert len({r["end"] for r in found}) == 160


def test_transient_export_failure_is_recognised():
    from tools.running import runner
    failed = record(status="failed", errors=['exporting to image: failed to prepare extraction snapshot "x"'])
    assert runner.transient(failed) == "image export hit a transient snapshot error"
    pushed = record(status="failed", errors=[
        "pushing 127.0.0.1:5000/x/orthanc:2.0.0 with docker: unexpected status from HEAD request to "
        "http://127.0.0.1:5000/v2/x/orthanc/manifests/2.0.0: 500 Internal Server Error"])
    assert runner.transient(pushed) == "the registry answered a push with a server error"
    assert not runner.transient(record(status="failed", errors=["RUN make: exit code: 2"]))
    assert not runner.transient(record(status="failed", errors=["pushing: 401 Unauthorized"]))
    assert not runner.transient(record(status="OOM", errors=["500 Internal Server Error"]))
    assert not runner.transient(record(status="ok", errors=[]))


def test_identity_and_portable_record():
    record = {"host": {"name": "pi"}, "start": "s", "image": "orthanc", "platforms": ["armv7"], "log": "/x/y"}
    assert results.identity(record) == ("pi", "s", "orthanc", ("armv7",), ())
    assert "log" not in results.portable(record) and results.portable(record)["host"] == {"name": "pi"}


DAMAGED_LINES = [
    ("wall_seconds a string", {"wall_seconds": "12"}, "'wall_seconds' not a number"),
    ("wall_seconds null", {"wall_seconds": None}, "'wall_seconds' not a number"),
    ("wall_seconds negative", {"wall_seconds": -1}, "'wall_seconds' not a finite number"),
    ("wall_seconds a 400-digit number", {"wall_seconds": 10**400}, "'wall_seconds' not a finite number"),
    ("a stage starting at a 400-digit second", {"stages": [{"stage": "a", "started": -10**400, "completed": 2,
                                                            "seconds": 1, "cached": False}]},
     "'stages' item 0: 'started' not a finite number"),
    ("cores beyond 64 bits", {"host": {"name": "h", "cores": 2**64}}, "'host' 'cores' out of range"),
    ("platforms a string", {"platforms": "amd64"}, "'platforms' not a list"),
    ("platforms null", {"platforms": None}, "'platforms' not a list"),
    ("platforms empty", {"platforms": []}, "'platforms' an empty list"),
    ("host a string", {"host": "pi4"}, "'host' not an object"),
    ("host name a number", {"host": {"name": 3}}, "'host' 'name' not a string"),
    ("stages an object", {"stages": {"stage": "x"}}, "'stages' not a list"),
    ("a stage without times", {"stages": [{"stage": "build-orthanc"}]}, "'stages' item 0: no 'started'"),
    ("a stage's seconds a string", {"stages": [{"stage": "a", "started": 1, "completed": 2, "seconds": "1",
                                               "cached": False}]}, "'stages' item 0: 'seconds' not a number"),
    ("status unknown", {"status": "great"}, "'status' not one of"),
    ("sequential a string", {"sequential": "no"}, "'sequential' not true or false"),
    ("bench without an id", {"bench": {"part": "cold", "run": 1, "label": "x"}}, "'bench' no 'id'"),
    ("without a string", {"without": "wsi"}, "'without' not a list"),
]


@pytest.mark.parametrize("description,change,reason", DAMAGED_LINES, ids=[d[0] for d in DAMAGED_LINES])
def test_records_of_the_wrong_shape_are_damaged(tmp_path, description, change, reason):
    path = tmp_path / "builds.jsonl"
    path.write_text(json.dumps(record(1, **change)) + "\n" + json.dumps(record(2)) + "\n")
    found, damaged = results.read(path)
    assert [r["end"] for r in found] == ["e00002"]
    assert len(damaged) == 1 and f"line 1: skipped, {reason}" in str(damaged[0])


@pytest.mark.parametrize("line,reason", [
    ('{"wall_seconds": NaN}', "NaN is not a number"),
    ('{"wall_seconds": Infinity}', "Infinity is not a number"),
    ('{"wall_seconds": 1e999}', "out of range"),
    ("[" * 100_000 + "]" * 100_000, "nested too deep"),
    ('{"a": ' * 100_000 + "1" + "}" * 100_000, "nested too deep"),
    ('{"set": "\udcff"}', "not JSON"),  # the byte 0xff: not UTF-8
])
def test_lines_json_cannot_hold_are_damaged(tmp_path, line, reason):
    path = tmp_path / "builds.jsonl"
    path.write_bytes(line.encode("utf-8", "surrogateescape") + b"\n")
    found, damaged = results.read(path)
    assert found == [] and len(damaged) == 1 and reason in str(damaged[0])


def test_a_record_reading_would_skip_is_never_written(tmp_path):
    path = tmp_path / "builds.jsonl"
    for bad in (record(wall_seconds=float("nan")), record(platforms="amd64"), record(host="pi4")):
        with pytest.raises(results.RecordError):
            results.append(path, bad)
    assert not path.exists()


def test_a_results_path_that_is_a_directory_is_one_error(tmp_path):
    with pytest.raises(results.ResultsError, match="is a directory"):
        results.append(tmp_path, record())
    with pytest.raises(results.ResultsError, match="Is a directory"):
        results.read(tmp_path)
    assert results.path_problem(tmp_path) == f"{tmp_path} is a directory, not a results file"
    assert results.path_problem(tmp_path / "new" / "builds.jsonl") is None
    (tmp_path / "file").write_text("")
    assert "Not a directory" in results.path_problem(tmp_path / "file" / "builds.jsonl")


def test_append_new_adds_what_is_not_there_all_at_once(tmp_path):
    path = tmp_path / "builds.jsonl"
    results.append(path, record(1, start="s1"))
    batch = [results.Record.from_dict(record(i, start=f"s{i}")) for i in (1, 2, 3)]
    assert results.append_new(path, batch) == (2, 1)
    assert results.append_new(path, batch) == (0, 3)
    found, damaged = results.read(path)
    assert [r["start"] for r in found] == ["s1", "s2", "s3"] and damaged == []


def _importer(args):
    path, batch = args
    return results.append_new(path, [results.Record.from_dict(r) for r in batch])


def test_concurrent_imports_of_the_same_records_add_each_once(tmp_path):
    path = tmp_path / "builds.jsonl"
    batch = [record(i, start=f"s{i}", payload="x" * 50) for i in range(500)]
    with multiprocessing.Pool(4) as pool:
        outcomes = pool.map(_importer, [(path, batch)] * 4)
    found, damaged = results.read(path)
    assert damaged == [] and len(found) == 500
    assert sum(added for added, _ in outcomes) == 500


def test_four_imports_of_the_same_records_at_once_add_each_once(tmp_path):
    """The command as a user runs it, four times at once, into a file that does not exist yet."""
    source = tmp_path / "other-host.jsonl"
    source.write_text("".join(json.dumps(record(i, start=f"s{i:03d}", host={"name": "pi4"}, log="/var/x.log")) + "\n"
                              for i in range(500)))
    into = tmp_path / "all.jsonl"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}

    def one_import(_):
        return subprocess.run([sys.executable, "-m", "tools", "import", str(source), "--into", str(into)],
                              capture_output=True, text=True, env=env, timeout=120)

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        procs = list(pool.map(one_import, range(4)))
    assert [(p.returncode, p.stderr) for p in procs] == [(0, "")] * 4
    assert sorted(p.stdout for p in procs) == [f"{into}: 0 record(s) added, 500 already there\n"] * 3 + [
        f"{into}: 500 record(s) added, 0 already there\n"]
    found, damaged = results.read(into)
    assert damaged == [] and sorted(r["start"] for r in found) == [f"s{i:03d}" for i in range(500)]
    assert not any("log" in r for r in found)  # the other host's log paths stay there


def test_a_record_is_typed_and_reads_as_it_was_written(tmp_path):
    path = tmp_path / "builds.jsonl"
    old = record(1)  # an older version's record: with "sequential", no bench
    new = {key: value for key, value in record(2).items() if key != "sequential"}
    new["bench"] = {"id": "20260101T000000Z", "part": "cold", "run": 1, "label": "amd64 native"}
    results.append(path, old)
    results.append(path, new)
    found, damaged = results.read(path)
    assert damaged == [] and found == [old, new]
    assert found[0].bench is None and found[0]["sequential"] is False
    assert found[1].bench.part == "cold" and found[1].bench.run == 1 and found[1]["bench"]["label"] == "amd64 native"
    assert (found[1].set_name, found[1].platforms, found[1].wall_seconds) == ("1.9.0", ("amd64",), 1.5)
    assert dict(found[1]) == new and results.portable(found[1])["bench"] == new["bench"]
