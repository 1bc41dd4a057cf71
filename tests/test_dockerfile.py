"""Dockerfile structure: stages, arguments, dependencies and named contexts."""

import re
from pathlib import Path

import pytest

from tools.configuration import config
from tools.planning import dockerfile

ROOT = Path(__file__).resolve().parent.parent
REAL = ROOT / "dockerfiles" / "Dockerfile"
FIXTURE = ROOT / "tests" / "fixture" / "Dockerfile"


@pytest.mark.parametrize("path", [REAL, FIXTURE], ids=["real", "fixture"])
def test_branch_args_are_declared_late(path):
    """Each <COMPONENT>_BRANCH is declared in its own builder stage only, never globally."""
    global_args, stages = dockerfile.stages(path.read_text())
    assert global_args == ["BASE_IMAGE", "BUILDER", "LIBRARIES"]
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


def test_dependencies_follow_from_and_copy_from():
    deps = dockerfile.dependencies(TEXT + "FROM builder-os-${KIND} AS varied\n"
                                   "FROM x AS builder-os-cross\nFROM x AS builder-os-emulated\n")
    assert deps["builder-base"] == set()  # a base that is only a variable names an image
    assert deps["build-a"] == {"builder-base"}
    assert deps["build-c"] == {"builder-base"}
    assert deps["final"] == {"build-a"}
    assert deps["varied"] == {"builder-os-cross", "builder-os-emulated"}
    assert dockerfile.ancestors(deps, "final") == {"build-a", "builder-base"}


def test_a_mount_from_another_stage_is_a_dependency():
    text = TEXT + ("FROM builder-base AS fetch\n"
                   "RUN --mount=type=bind,from=build-a,source=/out,target=/a \\\n"
                   "    --mount=type=bind,from=src-m,target=/m true\n")
    assert dockerfile.dependencies(text)["fetch"] == {"builder-base", "build-a"}
    assert "src-m" in dockerfile.named_contexts(text)


def test_real_runtime_stages_wait_for_the_packages_fetched_and_unpacked_on_the_build_machine():
    deps = dockerfile.dependencies(REAL.read_text())
    assert "unpacked-orthanc" in deps["orthanc"] and {"runtime-base", "build-orthanc"} <= deps["debs-orthanc"]
    assert {"runtime-base", "debs-orthanc", "debs-fetcher"} <= deps["unpacked-orthanc"]
    assert {"unpacked-plugins", "plugin-files"} <= deps["orthanc-plugins"]
    assert {"orthanc", "debs-plugins"} <= deps["unpacked-plugins"]
    assert {"runtime-os", "debs-runtime-base"} <= deps["unpacked-runtime-base"]
    assert "unpacked-runtime-base" in deps["runtime-base"]


def test_contexts_of_stages():
    text = TEXT.replace("RUN echo base", "COPY --from=src-x / /x").replace("RUN echo b\n", "COPY --from=src-b / /b\n")
    assert dockerfile.named_contexts(text) == {"src-b", "src-x"}
    assert dockerfile.contexts_of(text, ["build-a"]) == {"src-x"}
    assert dockerfile.contexts_of(text, ["build-b"]) == {"src-b", "src-x"}


def test_real_plugin_stages_read_their_own_source_and_the_core():
    text = REAL.read_text()
    # (and every builder the Debian package lock: debian-lock)
    assert dockerfile.contexts_of(text, ["build-gdcm"]) == {"src-gdcm", "src-orthanc", "debian-lock"}
    assert dockerfile.contexts_of(text, ["build-orthanc"]) == {"src-orthanc", "debian-lock"}


def test_the_builder_scripts_architecture_table_is_the_tools_map():
    """setup-builder.sh runs inside the builder, where the tools are not: its table of Docker's
    TARGETARCH+TARGETVARIANT to Debian's architecture must say what the one map in config says."""
    expected = {oci.split("/", 1)[1].replace("/", ""): support.debian_arch
                for oci, support in config.SUPPORTED_PLATFORMS.items()}
    script = (REAL.parent / "build" / "setup-builder.sh").read_text()
    assert dict(re.findall(r"^\s+(\w+)\) target=(\w+);", script, re.M)) == expected
    script = (REAL.parent / "build" / "fetch-debs.sh").read_text()
    assert dict(re.findall(r"^\s+(\w+)\) arch=(\w+) ;;", script, re.M)) == expected
