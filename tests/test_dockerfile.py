"""Dockerfile structure, and Dockerfile.sequential kept in step with it."""

from pathlib import Path

import pytest

from tools import config, dockerfile

ROOT = Path(__file__).resolve().parent.parent
REAL = ROOT / "dockerfiles" / "Dockerfile"
FIXTURE = ROOT / "tests" / "fixture" / "Dockerfile"


@pytest.mark.parametrize("path", [REAL, FIXTURE], ids=["real", "fixture"])
def test_committed_sequential_file_is_current(path):
    """Fails when Dockerfile changed and `nox -s sequential` was not run."""
    assert not dockerfile.is_stale(path), f"{dockerfile.sequential_path(path)} is stale: run `nox -s sequential`"


@pytest.mark.parametrize("path", [REAL, FIXTURE], ids=["real", "fixture"])
def test_branch_args_are_declared_late(path):
    """Each <COMPONENT>_BRANCH is declared in its own builder stage only, never globally."""
    global_args, stages = dockerfile.stages(path.read_text())
    assert global_args == ["BASE_IMAGE", "BUILDER"]
    for component in config.COMPONENTS:
        arg = f"{component.upper()}_BRANCH"
        where = [stage.name for stage in stages if arg in stage.args]
        assert where == [f"build-{component}"], (arg, where)


@pytest.mark.parametrize("path", [REAL, FIXTURE], ids=["real", "fixture"])
def test_targets_and_builders(path):
    _, stages = dockerfile.stages(path.read_text())
    names = [stage.name for stage in stages]
    for image in config.IMAGES:
        assert image in names
    assert [s.name for s in stages if s.is_builder] == [f"build-{c}" for c in config.COMPONENTS]


def test_fixture_has_the_shape_of_the_real_dockerfile():
    def shape(path):
        global_args, stages = dockerfile.stages(path.read_text())
        return global_args, [(s.name, tuple(a for a in s.args if a.endswith("_BRANCH"))) for s in stages
                             if s.is_builder or s.name in config.IMAGES]
    assert shape(FIXTURE) == shape(REAL)


TEXT = """ARG BASE_IMAGE=x
FROM ${BASE_IMAGE} AS builder-base
RUN echo base
FROM builder-base AS build-a
ARG A_BRANCH
RUN echo a \\
    && echo more
FROM builder-base AS build-b
RUN echo b
FROM --platform=$BUILDPLATFORM builder-base AS build-c
RUN echo c
FROM ${BASE_IMAGE} AS final
COPY --from=build-a /a /a
"""


def test_sequential_chains_builders_in_file_order():
    out = dockerfile.sequential(TEXT, "Dockerfile")
    lines = out.splitlines()
    assert lines[0].startswith("# GENERATED from Dockerfile")
    b = lines.index("FROM builder-base AS build-b")
    assert lines[b + 2] == "RUN --mount=type=bind,from=build-a,target=/tmp/.after-build-a true"
    c = lines.index("FROM --platform=$BUILDPLATFORM builder-base AS build-c")
    assert lines[c + 2] == "RUN --mount=type=bind,from=build-b,target=/tmp/.after-build-b true"
    a = lines.index("FROM builder-base AS build-a")
    assert "mount" not in lines[a + 1]
    # Nothing else changes: removing the added lines gives the input back.
    added = {i for i, line in enumerate(lines) if line.startswith(("# sequential", "RUN --mount=type=bind,from=build-"))}
    kept = [line for i, line in enumerate(lines[2:], start=2) if i not in added]
    assert "\n".join(kept) + "\n" == TEXT


def test_sequential_needs_builders():
    with pytest.raises(ValueError, match="no builder stage"):
        dockerfile.sequential("FROM x AS final\nRUN true\n")


def test_staleness_detected(tmp_path):
    path = tmp_path / "Dockerfile"
    path.write_text(TEXT)
    assert dockerfile.is_stale(path)
    dockerfile.write_sequential(path)
    assert not dockerfile.is_stale(path)
    path.write_text(TEXT.replace("echo b", "echo B"))
    assert dockerfile.is_stale(path)
