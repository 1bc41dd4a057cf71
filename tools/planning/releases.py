"""Upstream's releases of the components, what each plugin release builds against, and new sets.

A component's releases are the branches of its Mercurial repository whose names fit its branch
template (``OrthancDicomWeb-{version}``), or the ``<Branch>.tar.gz`` archives a source mirror's
``SHA256SUMS`` lists.  The PostgreSQL and MySQL plugins share one repository: each takes only the
branches of its own template.

A plugin release states the oldest Orthanc it builds against in its sources: the framework version
its CMake files download by default (``ORTHANC_FRAMEWORK_DEFAULT_VERSION``, or
``ORTHANC_FRAMEWORK_VERSION`` set to a version), the plugin SDK version they default to
(``ORTHANC_SDK_DEFAULT_VERSION``, ``ORTHANC_SDK_VERSION``), and the minimum version checks of its
C++ code (``ORTHANC_PLUGINS_MINIMAL_*_NUMBER``, ``OrthancPluginCheckVersionAdvanced`` with
constants, when failing it refuses to load).  The images build every plugin against the set's own
Orthanc framework, so the highest of these is what the set's Orthanc must reach.

The functions that decide (sorting, marking, reading requirements, inserting a set into the text of
versions.toml) are pure; ``Mirror`` and ``Mercurial`` read upstream.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
import threading
import tomllib
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Callable, Iterable, Mapping, TypeVar

from packaging.version import Version

from ..errors import FatalError
from ..configuration.config import VERSION_RE, Component, Config
from .sources import SUMS, SourceError, download_verified, mirror_url, parse_sums, retry_transient
ARCHIVE_SUFFIX = ".tar.gz"
#: Where the plugins keep copies of Orthanc's own files (its SDK, its CMake scripts): not the
#: plugin's statements.
VENDORED = ("Resources/Orthanc/",)
CMAKE_NAMES = ("CMakeLists.txt",)
CMAKE_SUFFIXES = (".cmake",)
CODE_SUFFIXES = (".cpp", ".cc", ".c", ".h", ".hpp")
MAX_FILE = 2 << 20  # larger files are not read for requirements
HG_TIMEOUT = 1800  # seconds for a first clone of a large repository


class ReleaseError(FatalError):
    """Upstream could not be read, or a proposal cannot be made (one line)."""


# --- versions, newest first ---------------------------------------------------------------


def newest_first(versions: Iterable[str]) -> list[str]:
    """Versions sorted as versions (1.12.10 above 1.12.9), newest first; duplicates dropped."""
    unique: dict[Version, str] = {}
    for version in versions:
        unique.setdefault(Version(version), version)
    return [unique[key] for key in sorted(unique, reverse=True)]


def branch_versions(branches: Iterable[str], template: str) -> list[str]:
    """The versions of the branches that fit a component's branch template, newest first."""
    prefix, _, suffix = template.partition("{version}")
    pattern = re.compile(re.escape(prefix) + r"(?P<version>[0-9.]+)" + re.escape(suffix))
    found = []
    for branch in branches:
        match = pattern.fullmatch(branch.strip())
        if match and VERSION_RE.fullmatch(match.group("version")):
            found.append(match.group("version"))
    return newest_first(found)


def pins(cfg: Config, component: str) -> dict[str, list[str]]:
    """The versions of a component the sets pin, each with the sets that pin it."""
    result: dict[str, list[str]] = {}
    for release in cfg.sorted_sets():
        result.setdefault(release.pins[component].version, []).append(release.name)
    return result


@dataclass(frozen=True)
class Mark:
    version: str
    sets: tuple[str, ...]  # the sets that pin this version
    newer: bool  # newer than every version pinned


def mark(versions: list[str], pinned: Mapping[str, list[str]]) -> list[Mark]:
    """Each upstream version with the sets pinning it and whether it is newer than every pin."""
    by_version: dict[Version, list[str]] = {}
    for version, sets in pinned.items():
        by_version.setdefault(Version(version), []).extend(sets)
    highest = max(by_version, default=None)
    return [Mark(v, tuple(by_version.get(Version(v), ())), highest is None or Version(v) > highest)
            for v in versions]


def missing_pins(versions: list[str], pinned: Mapping[str, list[str]]) -> dict[str, list[str]]:
    """The pinned versions that upstream (or the mirror) does not have, newest first."""
    have = {Version(v) for v in versions}
    return {v: list(pinned[v]) for v in newest_first(pinned) if Version(v) not in have}


# --- what a plugin release builds against ---------------------------------------------------


@dataclass(frozen=True)
class Requirement:
    """The oldest Orthanc a plugin release builds against, and the statement that says so."""

    version: str
    where: str  # "CMakeLists.txt: ORTHANC_FRAMEWORK_DEFAULT_VERSION"


_VERSION = r"[0-9]+(?:\.[0-9]+){1,3}"
CMAKE_SET_RE = re.compile(
    r"^\s*set\s*\(\s*(ORTHANC_FRAMEWORK_DEFAULT_VERSION|ORTHANC_FRAMEWORK_VERSION|ORTHANC_SDK_DEFAULT_VERSION"
    r"|ORTHANC_SDK_VERSION)\s+\"?(" + _VERSION + r")\"?[\s)]", re.IGNORECASE | re.MULTILINE)
MINIMAL_RE = re.compile(r"^\s*#\s*define\s+ORTHANC_PLUGINS_MINIMAL_(MAJOR|MINOR|REVISION)_NUMBER\s+([0-9]+)\b",
                        re.MULTILINE)
CHECK_RE = re.compile(
    r"(!\s*)?OrthancPluginCheckVersionAdvanced\s*\(\s*[^,()]+(?:\([^()]*\))?\s*,\s*([0-9]+)\s*,\s*([0-9]+)\s*,"
    r"\s*([0-9]+)\s*\)(\s*==\s*0)?")


def wanted_file(path: str) -> bool:
    """Whether a file of a plugin's tree may state its requirement (CMake files, C/C++ code)."""
    name = PurePosixPath(path).name
    if any(path.startswith(v) or f"/{v}" in path for v in VENDORED):
        return False
    return name in CMAKE_NAMES or name.endswith(CMAKE_SUFFIXES + CODE_SUFFIXES)


def _in_scope(path: str, subdir: str, projects: set[str]) -> bool:
    """A component with a subdir (a plugin of a repository of several) reads its own folder and the
    shared folders, not the other plugins' projects (folders with their own CMakeLists.txt)."""
    if not subdir:
        return True
    top = path.split("/", 1)[0] if "/" in path else ""
    return top == subdir.strip("/") or top not in projects


def read_requirement(files: Mapping[str, str], subdir: str = "") -> Requirement | None:
    """The highest Orthanc version a plugin tree's own files require (paths relative to its top)."""
    projects = {p.split("/", 1)[0] for p in files if p.count("/") == 1 and p.endswith("/CMakeLists.txt")}
    found: list[Requirement] = []
    for path in sorted(files):
        if not wanted_file(path) or not _in_scope(path, subdir, projects):
            continue
        text = files[path]
        name = PurePosixPath(path).name
        if name in CMAKE_NAMES or name.endswith(CMAKE_SUFFIXES):
            for match in CMAKE_SET_RE.finditer(text):
                found.append(Requirement(match.group(2), f"{path}: {match.group(1)}"))
            continue
        minimal = dict(MINIMAL_RE.findall(text))
        if "MAJOR" in minimal:
            version = ".".join(minimal.get(part, "0") for part in ("MAJOR", "MINOR", "REVISION"))
            found.append(Requirement(version, f"{path}: ORTHANC_PLUGINS_MINIMAL_*_NUMBER"))
        for match in CHECK_RE.finditer(text):
            if match.group(1) or match.group(5):  # the plugin refuses to start below it
                found.append(Requirement(".".join(match.group(2, 3, 4)),
                                         f"{path}: OrthancPluginCheckVersionAdvanced"))
    if not found:
        return None
    return max(found, key=lambda r: (Version(r.version), _weight(r.where)))


def _weight(where: str) -> int:
    """Between statements of the same version, the one to name: the framework's, the SDK's, the code's."""
    return 2 if "FRAMEWORK" in where else 1 if "SDK" in where else 0


def conflicts(orthanc: str, needs: Mapping[str, tuple[str, Requirement | None]]) -> list[str]:
    """Plugins whose release needs a newer Orthanc than the one proposed, one phrase each."""
    problems = []
    for component, (version, requirement) in needs.items():
        if requirement is not None and Version(requirement.version) > Version(orthanc):
            problems.append(f"{component} {version} needs Orthanc {requirement.version} or newer "
                            f"({requirement.where}), the set has Orthanc {orthanc}")
    return problems


def archive_files(archive: Path) -> dict[str, str]:
    """The files of a branch archive that may state a requirement, by path below its top folder."""
    files = {}
    try:
        with tarfile.open(archive) as tar:
            for member in tar:
                if not member.isfile() or member.size > MAX_FILE:
                    continue
                parts = PurePosixPath(member.name).parts
                path = "/".join(parts[1:]) if len(parts) > 1 else member.name
                if not wanted_file(path):
                    continue
                handle = tar.extractfile(member)
                if handle is not None:
                    files[path] = handle.read().decode("utf-8", errors="replace")
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise ReleaseError(f"{archive.name}: not a readable tarball ({exc})") from None
    return files


def tree_files(root: Path) -> dict[str, str]:
    """The files of an unpacked tree that may state a requirement, by path below ``root``."""
    files = {}
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root).as_posix()
        if path.is_file() and wanted_file(relative) and path.stat().st_size <= MAX_FILE:
            files[relative] = path.read_text(encoding="utf-8", errors="replace")
    return files


# --- where releases come from --------------------------------------------------------------




class Mirror:
    """A source mirror: a folder or a file:// or https:// URL of ``<Branch>.tar.gz`` archives."""

    def __init__(self, location: str, timeout: float = 60):
        self.location = location
        self.timeout = timeout
        self._sums: dict[str, str] | None = None
        self._error: str | None = None
        self._lock = threading.Lock()

    def describe(self, component: Component) -> str:
        return f"mirror {self.location}"

    def sums(self) -> dict[str, str]:
        """The mirror's SHA256SUMS, read once."""
        with self._lock:
            if self._sums is None and self._error is None:
                url = mirror_url(self.location, SUMS)
                try:
                    with urllib.request.urlopen(url, timeout=self.timeout) as response:
                        self._sums = parse_sums(response.read().decode("utf-8", errors="replace"))
                except (urllib.error.URLError, OSError, ValueError) as exc:
                    self._error = f"{url} not readable ({getattr(exc, 'reason', exc)})"
        if self._error:
            raise ReleaseError(self._error)
        return self._sums

    def branches(self, component: Component) -> list[str]:
        return [name[:-len(ARCHIVE_SUFFIX)] for name in self.sums() if name.endswith(ARCHIVE_SUFFIX)]

    def files(self, component: Component, branch: str) -> dict[str, str]:
        name = branch + ARCHIVE_SUFFIX
        expected = self.sums().get(name)
        if not expected:
            raise ReleaseError(f"{name} not listed in {mirror_url(self.location, SUMS)}")
        url = mirror_url(self.location, name)
        with tempfile.TemporaryDirectory(prefix="orthanc-release-") as tmp:
            archive = Path(tmp) / name
            try:
                download_verified(url, expected, archive, f"{SUMS} has", self.timeout)
            except SourceError as exc:
                raise ReleaseError(str(exc)) from None
            return archive_files(archive)


def _hg(*args: str, timeout: float = HG_TIMEOUT) -> subprocess.CompletedProcess:
    env = dict(os.environ, HGPLAIN="1")
    try:
        return subprocess.run(["hg", "--config", "ui.interactive=false", *args], capture_output=True,
                              text=True, env=env, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise ReleaseError(f"hg {args[0]} timed out after {timeout:.0f} s") from None


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else "no output"


def _probe(url: str, timeout: float = 10) -> str | None:
    """None if an http(s) URL answers (any HTTP status), else the reason; other schemes: None."""
    if not url.startswith(("http://", "https://")):
        return None
    try:
        with urllib.request.urlopen(url, timeout=timeout):
            return None
    except urllib.error.HTTPError:
        return None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        return str(getattr(exc, "reason", exc))


def cache_name(url: str) -> str:
    """A folder name for a repository's cache: its last path part and a digest of its URL."""
    last = re.sub(r"[^A-Za-z0-9._-]", "_", url.rstrip("/").rsplit("/", 1)[-1]) or "repository"
    return f"{last}-{hashlib.sha256(url.encode()).hexdigest()[:8]}"


class Mercurial:
    """Upstream's Mercurial repositories, each cloned once (``--noupdate``) into a cache and pulled
    again on later runs (once per run for repositories shared by two components)."""

    def __init__(self, cache_root: Path):
        self.cache_root = cache_root
        self._synced: dict[str, Path | ReleaseError] = {}
        self._branches: dict[str, list[str]] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._lock = threading.Lock()

    def describe(self, component: Component) -> str:
        return component.repository

    def _url_lock(self, url: str) -> threading.Lock:
        with self._lock:
            return self._locks.setdefault(url, threading.Lock())

    def sync(self, url: str) -> Path:
        """The repository's cache, cloned or pulled once per run (ReleaseError when unreachable)."""
        with self._url_lock(url):
            if url not in self._synced:
                try:
                    self._synced[url] = self._sync(url)
                except ReleaseError as exc:
                    self._synced[url] = exc
            result = self._synced[url]
        if isinstance(result, ReleaseError):
            raise result
        return result

    def _sync(self, url: str) -> Path:
        if not shutil.which("hg"):
            raise ReleaseError("hg is missing (apt-get install mercurial)")
        reason = _probe(url)
        if reason:
            raise ReleaseError(f"{url} not reachable ({reason})")
        cache = self.cache_root / cache_name(url)
        if (cache / ".hg").is_dir():
            proc = retry_transient(lambda: _hg("pull", "--quiet", "-R", str(cache), url))
            if proc.returncode != 0:
                raise ReleaseError(f"hg pull from {url} failed: {_last_line(proc.stderr)}")
            return cache
        self.cache_root.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=self.cache_root, prefix=".clone-") as tmp:
            clone = Path(tmp) / "clone"
            proc = retry_transient(lambda: _hg("clone", "--quiet", "--noupdate", url, str(clone)), fresh=clone)
            if proc.returncode != 0:
                raise ReleaseError(f"hg clone of {url} failed: {_last_line(proc.stderr)}")
            clone.rename(cache)  # whole or not at all
        return cache

    def branches(self, component: Component) -> list[str]:
        url = component.repository
        cache = self.sync(url)
        with self._url_lock(url):
            if url not in self._branches:
                proc = _hg("branches", "--closed", "-R", str(cache), "-T", "{branch}\n", timeout=120)
                if proc.returncode != 0:
                    raise ReleaseError(f"hg branches in the cache of {url} failed: {_last_line(proc.stderr)}")
                self._branches[url] = proc.stdout.splitlines()
            return list(self._branches[url])

    def files(self, component: Component, branch: str) -> dict[str, str]:
        cache = self.sync(component.repository)
        patterns = ["-I", "glob:**/CMakeLists.txt"]
        for suffix in CMAKE_SUFFIXES + CODE_SUFFIXES:
            patterns += ["-I", f"glob:**{suffix}"]
        for vendored in VENDORED:
            patterns += ["-X", f"glob:{vendored}**"]
        with tempfile.TemporaryDirectory(prefix="orthanc-release-") as tmp:
            out = Path(tmp) / "tree"
            proc = _hg("--cwd", str(cache), "archive", "-r", f'max(branch("literal:{branch}"))', "-t", "files",
                       *patterns, str(out), timeout=600)
            if proc.returncode != 0:
                raise ReleaseError(f"hg archive of {branch} failed: {_last_line(proc.stderr)}")
            return tree_files(out) if out.is_dir() else {}


T = TypeVar("T")
R = TypeVar("R")


def each(function: Callable[[T], R], items: Iterable[T], workers: int = 6) -> list[R | ReleaseError]:
    """``function`` of every item, several at once (they wait on the network and on hg), in order;
    an item whose call raised ReleaseError has that error in its place."""
    def call(item: T) -> R | ReleaseError:
        try:
            return function(item)
        except ReleaseError as exc:
            return exc

    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(call, items))


# --- a new set in the text of versions.toml -------------------------------------------------


def table_text(name: str, base: str, platforms: list[str] | None, versions: Mapping[str, str],
               newline: str = "\n") -> str:
    """The TOML of a new ``[sets."NAME"]`` table (rendered by tomlkit), pins as version strings."""
    import tomlkit  # noqa: PLC0415 (only proposals need it; nox must load without it)
    from tomlkit.items import KeyType, SingleKey  # noqa: PLC0415

    table = tomlkit.table()
    table.add("base", base)
    if platforms is not None:
        table.add("platforms", list(platforms))
    for component, version in versions.items():
        table.add(component, version)
    sets = tomlkit.table(is_super_table=True)
    sets.add(SingleKey(name, KeyType.Basic), table)  # quoted, as every set name in the file
    document = tomlkit.document()
    document.add("sets", sets)
    text = tomlkit.dumps(document)
    return text.replace("\r\n", "\n").replace("\n", newline)


def _header(line: str) -> tuple[str, ...] | None:
    """The key path of a table header line (``[sets."1.13.0"]`` -> ("sets", "1.13.0")), else None."""
    stripped = line.strip()
    if not stripped.startswith("[") or stripped.startswith("[["):
        return None
    try:
        parsed = tomllib.loads(stripped)
    except tomllib.TOMLDecodeError:
        return None
    path: list[str] = []
    while isinstance(parsed, dict) and len(parsed) == 1:
        key, parsed = next(iter(parsed.items()))
        path.append(key)
    return tuple(path) if path and parsed == {} else None


def insert_set(text: str, after: str, name: str, table: str) -> str:
    """``text`` with ``table`` inserted right after the last key of set ``after``'s table.

    The comments and blank lines that follow that key (those of the next table) stay where they
    are, below the new table.  Every byte of ``text`` is kept; the result is checked to read as the
    same document with one more set, placed after ``after``.
    """
    lines = text.splitlines(keepends=True)
    start = next((i for i, line in enumerate(lines) if _header(line) == ("sets", after)), None)
    if start is None:
        raise ReleaseError(f"no [sets.\"{after}\"] table header found to insert after")
    end = next((i for i in range(start + 1, len(lines)) if lines[i].lstrip().startswith("[")
                and (_header(lines[i]) or lines[i].lstrip().startswith("[["))), len(lines))
    last = start
    for i in range(start + 1, end):
        if lines[i].strip() and not lines[i].lstrip().startswith("#"):
            last = i
    newline = "\r\n" if "\r\n" in text else "\n"
    head = "".join(lines[:last + 1])
    if not head.endswith(("\n", "\r")):
        head += newline
    result = head + newline + table + "".join(lines[last + 1:])
    _check_insert(text, result, after, name)
    return result


def _check_insert(old: str, new: str, after: str, name: str) -> None:
    try:
        before, now = tomllib.loads(old), tomllib.loads(new)
    except tomllib.TOMLDecodeError as exc:
        raise ReleaseError(f"the new set does not read as TOML ({exc})") from None
    added = now.get("sets", {}).pop(name, None)
    order = list(tomllib.loads(new)["sets"])
    if added is None or now != before or order.index(name) != order.index(after) + 1:
        raise ReleaseError(f"the new set could not be placed after set '{after}' without changing the rest")
