"""Read the stage structure of a Dockerfile and derive ``Dockerfile.sequential``.

Builder stages are the stages named ``build-<component>``.  The sequential
variant chains them in file order: each builder stage first bind-mounts the
previous one, so BuildKit cannot start it before the previous one is complete
and at most one compiler runs at a time.  Nothing else in the file changes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

BUILDER_PREFIX = "build-"
FROM_RE = re.compile(
    r"^FROM\s+(?:--platform=\S+\s+)?(?P<base>\S+)(?:\s+AS\s+(?P<name>\S+))?\s*$", re.I
)
ARG_RE = re.compile(r"^ARG\s+(?P<name>[A-Za-z_][A-Za-z0-9_]*)", re.I)
HEADER = (
    "# GENERATED from {source} by `nox -s sequential`: do not edit.\n"
    "# Builder stages are chained so that they run one after another.\n"
)


@dataclass(frozen=True)
class Instruction:
    line: int  # index of the first physical line
    end: int  # index one past the last physical line
    text: str  # logical instruction, continuations joined


@dataclass(frozen=True)
class Stage:
    name: str
    base: str
    from_line: int
    end_line: int  # index one past the stage's last instruction line
    args: tuple[str, ...]

    @property
    def is_builder(self) -> bool:
        return self.name.startswith(BUILDER_PREFIX)


def instructions(text: str) -> list[Instruction]:
    """Logical instructions with their physical line ranges (comments skipped)."""
    lines = text.splitlines()
    result = []
    i = 0
    while i < len(lines):
        stripped = lines[i].strip()
        if not stripped or stripped.startswith("#"):
            i += 1
            continue
        start = i
        parts = []
        while True:
            current = lines[i].rstrip()
            if not current.strip().startswith("#"):
                parts.append(current[:-1] if current.endswith("\\") else current)
            i += 1
            if not current.endswith("\\") or i >= len(lines):
                break
        result.append(Instruction(start, i, " ".join(p.strip() for p in parts)))
    return result


def stages(text: str) -> tuple[list[str], list[Stage]]:
    """Global ARGs (before the first FROM) and the stages, in file order."""
    global_args: list[str] = []
    found: list[Stage] = []
    current: dict | None = None
    for ins in instructions(text):
        match = FROM_RE.match(ins.text)
        if match:
            if current:
                found.append(Stage(**current))
            name = match.group("name") or f"stage-{len(found)}"
            current = {"name": name, "base": match.group("base"), "from_line": ins.line,
                       "end_line": ins.end, "args": ()}
            continue
        arg = ARG_RE.match(ins.text)
        if current is None:
            if arg:
                global_args.append(arg.group("name"))
            continue
        current["end_line"] = ins.end
        if arg:
            current["args"] = (*current["args"], arg.group("name"))
    if current:
        found.append(Stage(**current))
    return global_args, found


def named_contexts(text: str) -> set[str]:
    """Names used with --from= that are not stages: named build contexts (src-orthanc, ...)."""
    stage_names = {stage.name for stage in stages(text)[1]}
    used = set(re.findall(r"--from=([A-Za-z0-9_.-]+)", text))
    return {name for name in used if name not in stage_names}


def builder_stages(text: str) -> list[Stage]:
    return [stage for stage in stages(text)[1] if stage.is_builder]


def sequential(text: str, source_name: str = "Dockerfile") -> str:
    """The sequential variant of a Dockerfile's text."""
    builders = builder_stages(text)
    if len(builders) < 1:
        raise ValueError(f"{source_name}: no builder stage (named '{BUILDER_PREFIX}*') to chain")
    lines = text.splitlines()
    insert_before: dict[int, str] = {}
    for previous, stage in zip(builders, builders[1:]):
        from_end = next(ins.end for ins in instructions(text) if ins.line == stage.from_line)
        insert_before[from_end] = (
            f"# sequential: start only once {previous.name} is complete\n"
            f"RUN --mount=type=bind,from={previous.name},target=/tmp/.after-{previous.name} true"
        )
    out = [HEADER.format(source=source_name).rstrip("\n")]
    for index, line in enumerate(lines):
        if index in insert_before:
            out.append(insert_before[index])
        out.append(line)
    if len(lines) in insert_before:
        out.append(insert_before[len(lines)])
    return "\n".join(out) + "\n"


def sequential_path(dockerfile: Path) -> Path:
    return dockerfile.with_name(dockerfile.name + ".sequential")


def write_sequential(dockerfile: Path) -> Path:
    target = sequential_path(dockerfile)
    target.write_text(sequential(dockerfile.read_text(), dockerfile.name))
    return target


def is_stale(dockerfile: Path) -> bool:
    target = sequential_path(dockerfile)
    return not target.exists() or target.read_text() != sequential(dockerfile.read_text(), dockerfile.name)
