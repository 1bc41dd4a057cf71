"""Read buildx's ``--progress=rawjson`` stream.

buildx 0.13 writes each status update as a pretty-printed JSON object, not one
object per line, so the stream is decoded object by object as bytes arrive.
From the vertices we derive, per Dockerfile stage, when it started and ended
and whether it came from the cache; log records are turned into live output.
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass, field
from datetime import datetime

CCACHE_HITS_RE = re.compile(r"^ccache:\s+Hits:\s+(\d+)\s*/\s*(\d+)")
STAGE_RE = re.compile(r"^\[(?P<stage>[^\]\s]+)(?: (?P<step>\d+)/(?P<steps>\d+))?\] (?P<what>.*)$", re.S)


class JsonStream:
    """Incremental decoder for a concatenation of JSON objects."""

    def __init__(self) -> None:
        self._buffer = ""
        self._decoder = json.JSONDecoder()

    def feed(self, text: str) -> list[dict]:
        self._buffer += text
        objects = []
        while True:
            stripped = self._buffer.lstrip()
            if not stripped:
                self._buffer = ""
                break
            if stripped[0] != "{":
                # Not JSON (buildx prints plain errors too): hand the line back as text.
                line, sep, rest = stripped.partition("\n")
                if not sep:
                    self._buffer = stripped
                    break
                objects.append({"text": line})
                self._buffer = rest
                continue
            try:
                obj, end = self._decoder.raw_decode(stripped)
            except json.JSONDecodeError:
                self._buffer = stripped
                break  # incomplete object: wait for more input
            objects.append(obj)
            self._buffer = stripped[end:]
        return objects

    def rest(self) -> str:
        """Whatever could not be decoded (a truncated stream)."""
        return self._buffer.strip()


def parse_time(text: str | None) -> float | None:
    if not text:
        return None
    # RFC 3339 with nanoseconds: trim to microseconds for fromisoformat.
    match = re.match(r"^(.*?\.\d{1,6})\d*(Z|[+-]\d\d:\d\d)$", text)
    if match:
        text = match.group(1) + match.group(2)
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


@dataclass
class Vertex:
    digest: str
    name: str
    started: float | None = None
    completed: float | None = None
    cached: bool = False
    error: str = ""

    @property
    def _step(self) -> re.Match | None:
        """The ``[stage N/M] what`` parts of a Dockerfile step's name; None for other vertices."""
        match = STAGE_RE.match(self.name)
        return match if match and match.group("stage") != "internal" else None

    @property
    def stage(self) -> str | None:
        step = self._step
        return step.group("stage") if step else None

    @property
    def is_base_image(self) -> bool:
        """A stage's ``FROM <image>`` step: BuildKit never reports it cached, and it builds nothing."""
        step = self._step
        return bool(step) and step.group("what").startswith("FROM ")


@dataclass
class StageTimes:
    name: str
    started: float
    completed: float
    cached: bool
    steps: int

    @property
    def seconds(self) -> float:
        return self.completed - self.started

    def as_dict(self) -> dict:
        return {
            "stage": self.name,
            "started": round(self.started, 3),
            "completed": round(self.completed, 3),
            "seconds": round(self.seconds, 3),
            "cached": self.cached,
            "steps": self.steps,
        }


@dataclass
class Tracker:
    """Accumulates vertex states from the stream."""

    vertices: dict[str, Vertex] = field(default_factory=dict)
    #: Compiler-cache hits per stage, from the summary line each build script prints.
    ccache: dict[str, dict[str, int]] = field(default_factory=dict)

    def update(self, obj: dict) -> list[tuple[str, Vertex | str]]:
        """Apply one status object; return events worth printing."""
        events: list[tuple[str, Vertex | str]] = []
        for raw in obj.get("vertexes") or []:
            vertex = self.vertices.get(raw["digest"])
            if vertex is None:
                vertex = self.vertices[raw["digest"]] = Vertex(raw["digest"], raw.get("name", ""))
            was_done = vertex.completed is not None
            was_started = vertex.started is not None
            if raw.get("started"):
                started = parse_time(raw["started"])
                vertex.started = started if vertex.started is None else min(vertex.started, started)
            if raw.get("completed"):
                vertex.completed = parse_time(raw["completed"])
            vertex.cached = vertex.cached or bool(raw.get("cached"))
            if raw.get("error"):
                vertex.error = raw["error"]
                events.append(("error", vertex))
            elif vertex.completed is not None and not was_done:
                events.append(("done", vertex))
            elif vertex.started is not None and not was_started:
                events.append(("start", vertex))
        for log in obj.get("logs") or []:
            vertex = self.vertices.get(log.get("vertex", ""))
            data = base64.b64decode(log.get("data") or b"").decode("utf-8", "replace")
            prefix = (vertex.stage if vertex and vertex.stage else "build")
            for line in data.splitlines():
                events.append(("log", f"{prefix}| {line}"))
                hits = CCACHE_HITS_RE.match(line)
                if hits:
                    self.ccache[prefix] = {"hits": int(hits.group(1)), "calls": int(hits.group(2))}
        if "text" in obj:
            events.append(("log", obj["text"]))
        return events

    def stages(self) -> list[StageTimes]:
        """Per Dockerfile stage: first start, last completion, cached if every step was."""
        grouped: dict[str, list[Vertex]] = {}
        for vertex in self.vertices.values():
            if vertex.stage:
                grouped.setdefault(vertex.stage, []).append(vertex)
        result = []
        for name, vertices in grouped.items():
            # A stage that ran is timed by the steps that ran: a cached step can report the time
            # it first ran, in an earlier build.
            ran = [v for v in vertices if not v.cached and not v.is_base_image]
            vertices = ran or vertices
            starts = [v.started for v in vertices if v.started is not None]
            ends = [v.completed for v in vertices if v.completed is not None]
            if not starts or not ends:
                continue
            result.append(StageTimes(name, min(starts), max(ends), not ran, len(grouped[name])))
        return sorted(result, key=lambda s: (s.started, s.name))

    def errors(self) -> list[str]:
        return [f"{v.name}: {v.error}" for v in self.vertices.values() if v.error]


def describe(kind: str, item: Vertex | str) -> str | None:
    """One human line for a progress event, or None to stay quiet."""
    if kind == "log":
        return str(item)
    assert isinstance(item, Vertex)
    if kind == "error":
        return f"ERROR {item.name}: {item.error}"
    if kind == "done":
        if item.cached:
            return f"CACHED {item.name}"
        if item.started is not None and item.completed is not None:
            return f"DONE {item.completed - item.started:7.1f}s {item.name}"
        return f"DONE {item.name}"
    if kind == "start" and item.stage:
        return f"START {item.name}"
    return None


def parse_stream(text: str) -> Tracker:
    """Decode a whole saved stream (used for saved logs and tests)."""
    tracker = Tracker()
    stream = JsonStream()
    for obj in stream.feed(text):
        tracker.update(obj)
    return tracker
