"""The Debian package lock, ``versions.lock`` beside versions.toml (pure): every package a build
installs from Debian, one version per distribution and architecture.

``lock`` (``nox -s lock``) makes it from apt's own answers: in a container of each distribution's
base image, apt simulates every install the Dockerfile's stages make (native and cross builders with
their -dev packages for each pair of architectures, the plugins' packages, the runtime packages),
and what it would install is the lock.  A build gets the lock of its distribution as a named context
(``debian-lock``): apt pins (priority 1001: the locked version, even where Debian has a newer one)
and the list that ``check-lock.sh`` compares every installed or downloaded package with, so a
version that left Debian's archive, or a package the lock lacks, fails the build naming the package.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import UsageError
from . import dockerfile

LOCK_FILE = "versions.lock"
CONTEXT = "debian-lock"
#: The scripts of the Dockerfile that install packages, and where their package arguments start.
_INSTALLS = re.compile(r"(setup-builder\.sh|apt-dev\.sh|fetch-debs\.sh[ \t]+\S+[ \t]+\S+)((?:[ \t]+[^\s&;|]+)*)")
_TOOLS = re.compile(r'^tools="([^"]*)"', re.M)
_LLVM = re.compile(r'^llvm="([^"]*)"', re.M)  # the clang toolchain's packages (TOOLCHAIN=clang)
_INST = re.compile(r"^Inst (?P<name>[^\s:]+)(?::\S+)? (?:\[[^\]]*\] )?\((?P<version>\S+) .*\[(?P<arch>[^\]]+)\]\)")
_NAME = re.compile(r"^[a-z0-9][a-z0-9+.-]+$")
_VERSION = re.compile(r"^[0-9][A-Za-z0-9.+~:-]*$")
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")


@dataclass(frozen=True)
class Seeds:
    """What the Dockerfile asks apt to install, by where it is installed."""

    target: tuple[str, ...]  # in builders, for the target architecture (-dev packages)
    build_machine: tuple[str, ...]  # in builders, for the build machine (tools, toolchain)
    runtime: tuple[str, ...]  # in the runtime stages, for the target (besides the libraries found)


@dataclass(frozen=True)
class DistributionLock:
    name: str
    image: str  # the base image apt ran in
    made: str  # when (ISO 8601)
    packages: dict[str, dict[str, str]] = field(default_factory=dict)  # Debian arch or "all" -> name -> version
    digest: str = ""  # the base image's digest: builds from ``image`` start from it while the registry has it


def seeds(dockerfile_text: str, setup_builder_text: str) -> Seeds:
    """The packages the Dockerfile's install scripts are given, and the builder's own tools (pure)."""
    runs = [i.text for i in dockerfile.instructions(dockerfile_text) if i.text.split(None, 1)[0].upper() == "RUN"]
    target: list[str] = []
    machine: list[str] = []
    runtime: list[str] = []
    for script, args in (found for text in runs for found in _INSTALLS.findall(text)):
        words = [w for w in args.split() if w == "--build-machine" or _NAME.match(w)]
        if script.startswith("fetch-debs"):
            runtime += words
            continue
        into = target
        for word in words:
            if word == "--build-machine":
                into = machine
            else:
                into.append(word)
    tools = _TOOLS.search(setup_builder_text)
    if tools is None:
        raise ValueError("setup-builder.sh: no tools=\"...\" line")
    # g++ for a native builder; crossbuild-essential-<arch> for a cross one (setup-builder.sh: a
    # clang cross builder installs only its binutils-<triplet>, one of that package's dependencies);
    # pg-server-headers.sh downloads the build machine's postgresql-server-dev-<major>, and
    # compile-locale.sh installs the build machine's locales.
    llvm = _LLVM.search(setup_builder_text)
    machine += tools.group(1).split() + (llvm.group(1).split() if llvm else []) + ["g++", "postgresql-server-dev-all"]
    machine += ["locales"] if any("compile-locale.sh" in text for text in runs) else []
    return Seeds(tuple(dict.fromkeys(target)), tuple(dict.fromkeys(machine)), tuple(dict.fromkeys(runtime)))


def simulations(seeds: Seeds, arches: list[str]) -> list[tuple[str, str, str]]:
    """(title, apt-get options, packages) of every install to simulate, for each build-machine and target
    architecture pair and each runtime (pure).  ``$STATUS_<arch>`` names the dpkg status of the
    base image of that architecture, mounted where the simulation script runs."""
    result = []
    for build in arches:
        for target in arches:
            opts = f"-o APT::Architecture={build} -o APT::Architectures={build}" + \
                   ("" if build == target else f",{target}") + f" -o Dir::State::status=$STATUS_{build}"
            if build == target:
                packages = [*seeds.build_machine, *seeds.target]
            else:
                # (postgresql-server-dev-all is only downloaded, never installed beside a cross
                # builder's libpq-dev: the native simulation of the build machine has it.)
                packages = [p for p in seeds.build_machine if p not in ("g++", "postgresql-server-dev-all")] + \
                           [f"crossbuild-essential-{target}"] + \
                           [f"{p}:{target}" for p in seeds.target]
            result.append((f"builder {build} for {target}", opts, " ".join(packages)))
    for target in arches:
        opts = f"-o APT::Architecture={target} -o APT::Architectures={target} -o Dir::State::status=$STATUS_{target}"
        result.append((f"runtime {target}", opts, " ".join(seeds.runtime)))
    return result


def simulation_script(seeds: Seeds, arches: list[str]) -> str:
    """The shell script that runs every simulation in a container of the base image (pure): each
    one's title on a line ``== title``, then apt's ``Inst`` lines, or ``!! <apt's last line>`` when
    apt cannot install them (Debian has no cross toolchain for every pair of architectures)."""
    lines = ["set -eu", "export DEBIAN_FRONTEND=noninteractive",
             *[f"dpkg --add-architecture {arch}" for arch in arches],
             "apt-get -q update >&2"]
    for title, opts, packages in simulations(seeds, arches):
        lines.append(f"echo '== {title}'")
        lines.append(f"if apt-get -s -q --no-install-recommends {opts} install {packages} >/tmp/out 2>&1; "
                     "then grep '^Inst ' /tmp/out || true; "
                     "else cat /tmp/out >&2; echo \"!! $(grep -v '^ *$' /tmp/out | tail -n 1)\"; fi")
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class Simulated:
    packages: dict[str, dict[str, str]]  # architecture -> package -> version
    failed: dict[str, str]  # title of a simulation apt could not install -> apt's last line


def parse_simulation(output: str) -> Simulated:
    """What apt's simulated installs would install, and which it could not (pure); a package that
    apt would install in two versions (it cannot, from one set of lists) is an error."""
    found: dict[str, dict[str, str]] = {}
    failed: dict[str, str] = {}
    title = ""
    for line in output.splitlines():
        if line.startswith("== "):
            title = line[3:]
        elif line.startswith("!! "):
            failed[title] = line[3:]
        match = _INST.match(line)
        if not match:
            continue
        arch, name, version = match["arch"], match["name"], match["version"]
        known = found.setdefault(arch, {}).setdefault(name, version)
        if known != version:
            raise ValueError(f"apt chose {name}:{arch} in two versions: {known} and {version}")
    return Simulated({arch: dict(sorted(names.items())) for arch, names in sorted(found.items())}, failed)


def required(title: str) -> bool:
    """Whether a simulation must succeed: a native builder or a runtime (a cross builder from one
    architecture to another may have no toolchain in Debian: that pair is not built)."""
    words = title.split()
    return not (words[0] == "builder" and words[1] != words[-1])


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def render(locks: list[DistributionLock]) -> str:
    """versions.lock's text (pure)."""
    out = ["# The Debian packages of every build, one version per distribution and architecture.",
           "# Generated by `nox -s lock` (python -m tools lock): do not edit; run it again to take",
           "# Debian's updates.  See README.md, \"Reproducible images\".", ""]
    for lock in sorted(locks, key=lambda x: x.name):
        out += [f"[distributions.{lock.name}]", f"image = {_quote(lock.image)}"]
        out += [f"digest = {_quote(lock.digest)}"] if lock.digest else []
        out += [f"made = {_quote(lock.made)}", ""]
        for arch, names in sorted(lock.packages.items()):
            out.append(f"[distributions.{lock.name}.packages.{arch}]")
            out += [f"{_quote(name)} = {_quote(version)}" for name, version in sorted(names.items())]
            out.append("")
    return "\n".join(out)


def load(path: Path) -> dict[str, DistributionLock]:
    """The lock file's distributions; none when there is no lock file.  A malformed one is a
    one-line error naming the file, the distribution and the key."""
    if not path.is_file():
        return {}
    try:
        raw = tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path}: not a lock file: {exc}") from None
    dists = raw.get("distributions", {})
    if set(raw) - {"distributions"} or not isinstance(dists, dict):
        raise UsageError(f"{path}: only [distributions.<name>] tables belong in a lock file")
    result = {}
    for name, entry in dists.items():
        where = f"{path}: distribution '{name}'"
        if not isinstance(entry, dict):
            raise UsageError(f"{where}: not a table")
        for key in ("image", "made"):
            if not isinstance(entry.get(key), str):
                raise UsageError(f"{where}: key '{key}' is missing or not a string")
        packages = entry.get("packages", {})
        if not isinstance(packages, dict) or set(entry) - {"image", "digest", "made", "packages"}:
            raise UsageError(f"{where}: only image, digest, made and packages belong in it")
        digest = entry.get("digest", "")
        if not isinstance(digest, str) or (digest and not _DIGEST.match(digest)):
            raise UsageError(f"{where}: key 'digest': not an image digest (sha256:<64 hex digits>)")
        for arch, names in packages.items():
            if not isinstance(names, dict):
                raise UsageError(f"{where}: key 'packages.{arch}' is not a table")
            for pkg, version in names.items():
                if not _NAME.match(pkg) or not isinstance(version, str) or not _VERSION.match(version):
                    raise UsageError(f"{where}: key 'packages.{arch}.{pkg}': not a Debian package and version")
        result[name] = DistributionLock(name, entry["image"], entry["made"],
                                        {arch: dict(names) for arch, names in packages.items()}, digest)
    return result


def preferences(lock: DistributionLock | None) -> str:
    """apt's pins of a locked distribution (pure): every package at its locked version, priority
    1001 so that apt takes it even where a newer one is offered.  An architecture-independent
    package is pinned by its name alone, since apt counts it as the native architecture's."""
    if lock is None:
        return ""
    stanzas = []
    for arch, names in sorted(lock.packages.items()):
        for name, version in sorted(names.items()):
            package = name if arch == "all" else f"{name}:{arch}"
            stanzas.append(f"Package: {package}\nPin: version {version}\nPin-Priority: 1001\n")
    return "\n".join(stanzas)


def versions(lock: DistributionLock | None) -> str:
    """The list check-lock.sh reads (pure): ``<arch> <package> <version>`` lines, sorted."""
    if lock is None:
        return ""
    return "".join(f"{arch} {name} {version}\n" for arch, names in sorted(lock.packages.items())
                   for name, version in sorted(names.items()))


def base_image(lock: DistributionLock | None, image: str, digest_of) -> tuple[str | None, str]:
    """The digest a build of ``image`` starts from, and what to tell of it: the lock's while the
    registry has it (``digest_of(ref)`` asks it), else the image's current one (None when the
    registry cannot say: the build then names the tag alone)."""
    if lock is not None and lock.image == image and lock.digest:
        if digest_of(f"{image}@{lock.digest}") is not None:
            return lock.digest, f"{image}@{lock.digest}, as locked"
        current = digest_of(image)
        return current, (f"{image}@{current}: the locked {lock.digest} is not in the registry "
                         "(base images made on another host?); `nox -s lock` locks this one")
    current = digest_of(image)
    if current is None:
        return None, f"{image} (its digest is not known to the registry)"
    return current, f"{image}@{current}" + ("" if lock is None else ", not locked (`nox -s lock` locks it)")


def context_files(lock: DistributionLock | None, distribution: str, lock_path: Path) -> dict[str, str]:
    """The files of the ``debian-lock`` context of one distribution (pure)."""
    # (Not the lock's date: a lock made again with the same versions keeps every cached stage.)
    about = (f"{lock_path.name}: distribution {distribution}\n" if lock
             else f"not locked: {lock_path.name} has no distribution {distribution}\n")
    return {"preferences": preferences(lock), "versions": versions(lock), "about": about}
