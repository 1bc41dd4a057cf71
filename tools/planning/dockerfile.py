"""Read the stage structure of a Dockerfile (pure): its stages, what each starts from, the named
build contexts they read and the stages that compile.

Builder stages are the stages named ``build-<component>``; the scheduler (``schedule``) builds them
a few at a time from what this module reads.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

BUILDER_PREFIX = "build-"
FROM_RE = re.compile(
    r"^FROM\s+(?:--platform=\S+\s+)?(?P<base>\S+)(?:\s+AS\s+(?P<name>\S+))?\s*$", re.I
)
ARG_RE = re.compile(r"^ARG\s+(?P<name>[A-Za-z_][A-Za-z0-9_]*)", re.I)
#: What an instruction reads from another stage or a named context: ``COPY --from=NAME`` and
#: ``RUN --mount=type=bind,from=NAME,...``.
FROM_REF_RE = re.compile(r"(?:--|,)from=([A-Za-z0-9_.-]+)")


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
    """Names read with --from= (or a mount's from=) that are not stages: named build contexts (src-orthanc, ...)."""
    stage_names = {stage.name for stage in stages(text)[1]}
    used = set(FROM_REF_RE.findall(text))
    return {name for name in used if name not in stage_names}


def contexts_of(text: str, wanted: list[str]) -> set[str]:
    """The named build contexts that these stages, and the stages they need, read."""
    deps = dependencies(text)
    names = set(wanted).union(*[ancestors(deps, name) for name in wanted])
    contexts = named_contexts(text)
    used: set[str] = set()
    for stage, texts in _stage_instructions(text, stages(text)[1]):
        if stage.name in names:
            used |= {c for t in texts for c in FROM_REF_RE.findall(t) if c in contexts}
    return used


def dependencies(text: str) -> dict[str, set[str]]:
    """Each stage's direct dependencies among the stages: its FROM base and every --from= (and mount from=).

    A base with a variable (``builder-os-${BUILDER}``) depends on every stage it can name.
    """
    _, found = stages(text)
    names = [stage.name for stage in found]
    deps: dict[str, set[str]] = {}
    for stage, ins in _stage_instructions(text, found):
        wanted = {name for name in names if name != stage.name and _names(stage.base, name)}
        for text_ in ins:
            wanted |= {name for name in FROM_REF_RE.findall(text_) if name in names}
        deps[stage.name] = wanted
    return deps


VARIABLE_RE = re.compile(r"\$\{?[A-Za-z_][A-Za-z0-9_]*\}?")


def _names(base: str, stage: str) -> bool:
    """Whether a FROM base can name the stage; a base that is only a variable names an image."""
    literal = VARIABLE_RE.sub("", base)
    if not literal:
        return False
    pattern = "[A-Za-z0-9_.-]+".join(re.escape(part) for part in VARIABLE_RE.split(base))
    return re.fullmatch(pattern, stage) is not None


def _stage_instructions(text: str, found: list[Stage]) -> list[tuple[Stage, list[str]]]:
    every = instructions(text)
    return [(stage, [ins.text for ins in every if stage.from_line < ins.line < stage.end_line])
            for stage in found]


def ancestors(deps: dict[str, set[str]], name: str) -> set[str]:
    """Every stage ``name`` needs, directly or not (itself excluded)."""
    seen: set[str] = set()
    todo = list(deps.get(name, ()))
    while todo:
        current = todo.pop()
        if current not in seen:
            seen.add(current)
            todo.extend(deps.get(current, ()))
    return seen


def compile_stages(text: str) -> list[str]:
    """The stages that compile, i.e. mount a compiler cache (``id=ccache-<name>-...``)."""
    return [stage.name for stage, texts in _stage_instructions(text, stages(text)[1])
            if any("id=ccache-" in t for t in texts)]
