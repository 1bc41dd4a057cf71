"""``plan``: every build session's specs, as the buildx commands they render or as JSON; nothing runs."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path

from .. import clone
from ..configuration import config, matrix
from ..configuration.config import Config
from ..planning.spec import SEQUENTIAL, BuildRequest, Facts
from .build import check, job_commands, specs_for

FORMATS = ("plain", "json")


@dataclass(frozen=True)
class PlanRequest:
    sets: tuple[str, ...] = ()  # only these sets (default: every set)
    format: str = "plain"
    build: BuildRequest = field(default_factory=BuildRequest)  # the options every session's build shares


def session_request(session: matrix.SessionSpec, shared: BuildRequest) -> BuildRequest:
    """What a build session asks, on top of the options given to every session."""
    return replace(shared, set_name=session.set_name, platforms=(session.platform,) if session.platform else (),
                   together=session.platform is None, dry_run=True, **(SEQUENTIAL if session.sequential else {}))


def build_sessions(cfg: Config, sets: tuple[str, ...]) -> list[matrix.SessionSpec]:
    """The build sessions of these sets (default: of every set)."""
    for name in sets:
        cfg.release_set(name)
    wanted = sets or tuple(s.name for s in cfg.sorted_sets())
    return [s for s in matrix.session_specs(cfg) if s.command == "build" and s.set_name in wanted]


def run(request: PlanRequest) -> int:
    cfg = config.load(request.build.config)
    check(request.build)
    host = matrix.host_platform()
    facts = Facts(host_platform=host, cores=1, created="<now>", revision=clone.revision(), source_url=clone.source_url())
    as_json = request.format == "json"
    say = (lambda line: print(line, file=sys.stderr)) if as_json else print
    resolved = []
    for session in build_sessions(cfg, request.sets):
        if not as_json:
            print(f"# nox -s {session.name}")
        specs = specs_for(cfg, session_request(session, request.build), host, lambda: facts, say)
        if as_json:
            resolved.append({"session": session.name, "builds": [spec.as_json() for spec in specs]})
            continue
        for spec in specs:
            job_commands(spec, Path("<logs>/<build>"))
    if as_json:
        print(json.dumps(resolved, indent=2))
    return 0
