"""The append-only results file."""

import json
import multiprocessing

from tools import results


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
    with pytest.raises(ValueError, match="lacks status"):
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
    from tools import runner
    failed = record(status="failed", errors=['exporting to image: failed to prepare extraction snapshot "x"'])
    assert runner.transient(failed)
    assert not runner.transient(record(status="failed", errors=["RUN make: exit code: 2"]))
    assert not runner.transient(record(status="ok", errors=[]))


def test_identity_and_portable_record():
    record = {"host": {"name": "pi"}, "start": "s", "image": "orthanc", "platforms": ["armv7"], "log": "/x/y"}
    assert results.identity(record) == ("pi", "s", "orthanc", ("armv7",), ())
    assert "log" not in results.portable(record) and results.portable(record)["host"] == {"name": "pi"}
