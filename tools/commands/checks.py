"""Checks of what the command line gives, as strict as versions.toml's, before anything runs."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from ..configuration import config
from ..errors import UsageError
from ..paths import DEFAULT_CONFIG
from ..planning import dockerfile
from ..reporting import report
from ..running import results


@dataclass(frozen=True)
class RegistryRequest:
    """What every command that reaches the images' registry is given."""

    registry: str | None = None  # default: versions.toml's
    namespace: str | None = None
    config: Path = DEFAULT_CONFIG
    dry_run: bool = False

    def check(self) -> None:
        check_target(self.registry, self.namespace)


def check_target(registry: str | None, namespace: str | None, base_registry: str | None = None) -> None:
    if registry is not None and not config.REGISTRY_RE.fullmatch(registry):
        raise UsageError(f"--registry: malformed registry {registry!r} (want host[:port])")
    if namespace and not config.REPO_PATH_RE.fullmatch(namespace):
        raise UsageError(f"--namespace: malformed namespace {namespace!r}")
    if base_registry:
        problem = config.base_registry_problem(base_registry)
        if problem:
            raise UsageError(f"--base-registry: {problem}")


def check_set_name(set_name: str | None) -> None:
    if set_name == "":
        raise UsageError("--set: empty set name (leave the option out for settings.default_set)")


def check_memory_budget(value: str | None) -> None:
    if value == "":
        raise UsageError("--memory-budget: empty size (e.g. 3GiB; leave the option out for no budget)")


def check_platform(release: config.ReleaseSet, arch: str) -> None:
    if arch not in release.platforms:
        raise UsageError(f"set '{release.name}' is not built for platform '{arch}'")


def check_stage_names(dockerfile_path: Path, names: tuple[str, ...] | list[str], option: str) -> None:
    """Every name is a stage of the Dockerfile (a missing Dockerfile is reported where it is read)."""
    try:
        text = dockerfile_path.read_text()
    except OSError:
        return
    known = [stage.name for stage in dockerfile.stages(text)[1]]
    for name in names:
        if name not in known:
            raise UsageError(f"{option}: {name!r} is not a stage of {dockerfile_path.name} "
                             f"(its stages: {', '.join(known)})")


def check_results_file(path: Path, option: str) -> None:
    """A results file to read or append to: a file, or a path where one can be made."""
    problem = results.path_problem(path)
    if problem:
        raise UsageError(f"{option}: {problem}")


def check_dates(since: str | None, until: str | None) -> None:
    for option, value in (("--since", since), ("--until", until)):
        if value is not None:
            problem = report.date_problem(value)
            if problem:
                raise UsageError(f"{option}: {problem}")


def check_output(path: Path | None, option: str) -> None:
    """A file can be written at ``path`` (checked before any work)."""
    if path is None:
        return
    if path.is_dir():
        raise UsageError(f"{option}: {path} is a directory")
    if not path.parent.is_dir():
        raise UsageError(f"{option}: {path.parent} is not a directory")


def check_dockerfile(path: Path) -> None:
    if not path.is_file():
        raise UsageError(f"{path}: no such Dockerfile")


def read_all(files: list[Path]) -> list[results.Record]:
    """Records of several results files; damaged records are reported and skipped."""
    records = []
    for path in files:
        found, damaged = results.read(path)
        records += found
        for item in damaged:
            print(f"warning: {item}", file=sys.stderr)
    return records
