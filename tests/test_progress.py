"""Decoding buildx's rawjson stream."""

import base64
import json

from tools.running import progress


def vertex(digest, name, started=None, completed=None, cached=False):
    v = {"digest": digest, "name": name}
    if started:
        v["started"] = started
    if completed:
        v["completed"] = completed
    if cached:
        v["cached"] = True
    return v


def pretty(*objects):
    """As buildx 0.13 writes it: pretty-printed objects one after another."""
    return "".join(json.dumps(o, indent=2) + "\n" for o in objects)


STREAM = pretty(
    {"vertexes": [vertex("d0", "[internal] load build definition from Dockerfile",
                         "2026-01-01T00:00:00.000000001Z", "2026-01-01T00:00:00.5Z")]},
    {"vertexes": [vertex("d1", "[build-a 1/2] RUN make", "2026-01-01T00:00:01.123456789Z")]},
    {"logs": [{"vertex": "d1", "stream": 1, "data": base64.b64encode(b"compiling\nlinking\n").decode(),
               "timestamp": "2026-01-01T00:00:02Z"}]},
    {"vertexes": [vertex("d1", "[build-a 1/2] RUN make", "2026-01-01T00:00:01.123456789Z",
                         "2026-01-01T00:00:11.123456789Z")]},
    {"vertexes": [vertex("d2", "[build-a 2/2] RUN install", "2026-01-01T00:00:11.2Z", "2026-01-01T00:00:12Z")]},
    {"vertexes": [vertex("d3", "[build-b 1/1] RUN make", "2026-01-01T00:00:01Z", "2026-01-01T00:00:03Z",
                         cached=True)]},
)


def test_stream_in_arbitrary_chunks_gives_the_same_objects():
    whole = progress.JsonStream().feed(STREAM)
    for size in (1, 7, 64, 1000):
        stream = progress.JsonStream()
        got = []
        for i in range(0, len(STREAM), size):
            got += stream.feed(STREAM[i:i + size])
        assert got == whole
        assert stream.rest() == ""
    assert len(whole) == 6


def test_plain_text_lines_are_passed_through():
    stream = progress.JsonStream()
    got = stream.feed('ERROR: failed to solve\n{"vertexes": []}\n')
    assert got == [{"text": "ERROR: failed to solve"}, {"vertexes": []}]


def test_truncated_stream_leaves_rest():
    stream = progress.JsonStream()
    assert stream.feed(STREAM[:-20])[-1] != {}
    assert stream.rest().startswith("{")


def test_stages_and_cache_flags():
    tracker = progress.parse_stream(STREAM)
    stages = {s.name: s for s in tracker.stages()}
    assert set(stages) == {"build-a", "build-b"}  # [internal] is not a stage
    assert round(stages["build-a"].seconds, 3) == round(12 - 1.123456, 3)
    assert stages["build-a"].steps == 2 and not stages["build-a"].cached
    assert stages["build-b"].cached


def test_events_for_live_output():
    tracker = progress.Tracker()
    lines = []
    for obj in progress.JsonStream().feed(STREAM):
        for kind, item in tracker.update(obj):
            line = progress.describe(kind, item)
            if line:
                lines.append(line)
    assert "build-a| compiling" in lines and "build-a| linking" in lines
    assert any(line.startswith("DONE") and "10.0s [build-a 1/2] RUN make" in line for line in lines)
    assert "CACHED [build-b 1/1] RUN make" in lines


def test_errors_collected():
    tracker = progress.parse_stream(pretty({"vertexes": [
        {"digest": "x", "name": "[build-a 1/1] RUN false", "started": "2026-01-01T00:00:00Z",
         "completed": "2026-01-01T00:00:01Z", "error": "process did not complete successfully: exit code: 1"}]}))
    assert tracker.errors() == ["[build-a 1/1] RUN false: process did not complete successfully: exit code: 1"]


def test_compiler_cache_hits_per_stage():
    summary = b"ccache: Cacheable calls:    207 /  207 (100.0%)\nccache:   Hits:             205 /  207 (99.03%)\n"
    tracker = progress.parse_stream(STREAM + pretty(
        {"logs": [{"vertex": "d2", "stream": 1, "data": base64.b64encode(summary).decode()}]}))
    assert tracker.ccache == {"build-a": {"hits": 205, "calls": 207}}


def test_a_base_image_step_does_not_make_a_cached_stage_count_as_run():
    # BuildKit reports "FROM <image>" uncached on every build, though nothing is built.
    stream = pretty(
        {"vertexes": [vertex("f1", "[runtime 1/2] FROM 127.0.0.1:5000/library/debian:bookworm-slim@sha256:00",
                             "2026-01-01T00:00:00Z", "2026-01-01T00:00:00.02Z")]},
        {"vertexes": [vertex("f2", "[runtime 2/2] RUN apt-get install", "2026-01-01T00:00:00Z",
                             "2026-01-01T00:00:00Z", cached=True)]},
        {"vertexes": [vertex("f3", "[build-a 1/1] RUN make", "2026-01-01T00:00:01Z", "2026-01-01T00:00:05Z")]},
    )
    stages = {s.name: s for s in progress.parse_stream(stream).stages()}
    assert stages["runtime"].cached and not stages["build-a"].cached
