"""Fetch each component's pinned source once on the host, verified, for named build contexts.

Providers, tried in the order of ``--source`` (default: ``settings.sources`` of
versions.toml, else local, debian, mirror, tarball, mercurial):

- ``local``: an unpacked tree already at ``sources/<component>/<key>`` (air-gapped
  sites copy trees there; a previous fetch leaves them there too);
- ``debian``: ``apt-get source`` of the pinned Debian version (signed indexes,
  checksums verified by apt and dpkg-source, Debian's patches applied), with a
  private apt configuration that does not touch the host's;
- ``mirror``: ``<Branch>.tar.gz`` from a source mirror (a folder, ``file://`` or
  ``https://`` URL: ``--mirror``, ``$ORTHANC_SOURCES_MIRROR`` or ``settings.mirror``),
  the head of upstream's branch, checked against the pin's sha256 or else the
  mirror's ``SHA256SUMS`` before it is unpacked;
- ``tarball``: the release tarball (the component's ``tarball`` URL, or the pin's own,
  e.g. a mirror or a ``file://`` path), checked against the pinned sha256 before unpacking;
- ``mercurial``: ``hg clone`` of the pinned branch from the upstream repository.

A source that cannot be had stops everything before any build, with one line
naming the set, the component and every provider's reason.
"""

from __future__ import annotations

import email.utils
import hashlib
import os
import re
import shutil
import stat
import subprocess
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ..errors import FatalError
from ..configuration.config import PROVIDERS, Component, Config, Pin, ReleaseSet

DEFAULT_ORDER = PROVIDERS
#: The environment variable that names a source mirror (over versions.toml's, under --mirror).
MIRROR_ENV = "ORTHANC_SOURCES_MIRROR"
SUMS = "SHA256SUMS"
DEBIAN_MIRROR = "http://deb.debian.org/debian"
KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg"
#: The components each image needs.
IMAGE_COMPONENTS = {
    "orthanc": ("orthanc",),
    "orthanc-plugins": ("orthanc", "postgresql", "mysql", "dicomweb", "gdcm", "webviewer", "wsi"),
}


class SourceError(FatalError):
    """A source could not be fetched or verified (one line)."""


@dataclass(frozen=True)
class PinnedSource:
    component: Component
    pin: Pin
    base: str

    @property
    def debian_package(self) -> str:
        return "orthanc" if self.component.name == "orthanc" else f"orthanc-{self.component.name}"

    @property
    def tarball_url(self) -> str:
        return self.pin.tarball or self.component.tarball(self.pin.version)

    @property
    def archive(self) -> str:
        """The archive name of this pin's branch in a source mirror."""
        return f"{self.pin.branch}.tar.gz"

    def key(self, provider: str) -> str:
        if provider == "debian":
            return f"debian-{self.pin.debian}"
        if provider == "tarball":
            return f"tarball-{self.pin.sha256}"
        if provider == "mirror":
            return f"mirror-{self.pin.branch}"
        return self.pin.branch


def mirror_location(command_line: str | None, cfg: Config, environ=os.environ) -> str:
    """The source mirror in force: the command line's, else the environment's, else versions.toml's.

    A relative folder in versions.toml is relative to that file; '' means no mirror.
    """
    if command_line is not None:
        return command_line
    if environ.get(MIRROR_ENV):
        return environ[MIRROR_ENV]
    configured = cfg.settings.mirror
    if configured and "://" not in configured and not Path(configured).is_absolute():
        return str(cfg.root / configured)
    return configured


def mirror_url(mirror: str, name: str) -> str:
    """The URL of a file of a source mirror given as a folder or a URL."""
    if "://" in mirror:
        return mirror.rstrip("/") + "/" + name
    return Path(mirror).resolve().joinpath(name).as_uri()


def parse_sums(text: str) -> dict[str, str]:
    """``SHA256SUMS`` lines (``<sha256>  <name>``): name -> sha256."""
    sums = {}
    for line in text.splitlines():
        match = re.fullmatch(r"([0-9a-f]{64}) [ *](\S+)", line.strip())
        if match:
            sums[match.group(2)] = match.group(1)
    return sums


def context_name(component: str) -> str:
    return f"src-{component}"


def assets_context(component: str) -> str:
    """The named context with the web assets a component's build would download."""
    return f"assets-{component}"


def web_assets_for(root: Path, trees: dict[str, Path], used: set[str], catalogue_file: Path,
                   dry_run: bool) -> dict[str, Path]:
    """Lay out, for each ``assets-<component>`` context used, the web assets its source asks for.

    They go under ``root/.assets/<component>/<tree>-<catalogue digest>``, so a changed catalogue
    or source never reuses an old layout; npm tarballs are kept in ``root/.npm``.
    """
    wanted = sorted(c for c in used if c.startswith("assets-")
                    and context_name(c.removeprefix("assets-")) in trees)  # components of the image built
    if not wanted:
        return {}
    from . import web_assets  # noqa: PLC0415 (only builds of the real Dockerfile need it)
    try:
        digest = hashlib.sha256(catalogue_file.read_bytes()).hexdigest()[:12]
    except OSError as exc:
        raise SourceError(f"{catalogue_file}: not readable ({exc.strerror})") from None
    try:
        catalogue = web_assets.load(catalogue_file)
    except web_assets.AssetError as exc:
        raise SourceError(str(exc)) from None
    result = {}
    for name in wanted:
        component = name.removeprefix("assets-")
        tree = trees[context_name(component)]
        dest = root / ".assets" / component / f"{tree.name}-{digest}"
        if not dry_run and not dest.is_dir():
            try:
                web_assets.layout(tree, catalogue, root / ".npm", dest)
            except web_assets.AssetError as exc:
                raise SourceError(f"component '{component}': {exc}") from None
        result[name] = dest
    return result


def store_path(root: Path, wanted: PinnedSource, provider: str) -> Path:
    return root / wanted.component.name / wanted.key(provider)


def pinned_sources(cfg: Config, release: ReleaseSet, images: list[str]) -> list[PinnedSource]:
    names = []
    for image in images:
        for name in IMAGE_COMPONENTS[image]:
            if name not in names:
                names.append(name)
    return [PinnedSource(cfg.components[n], release.pins[n], release.base) for n in names]


def _stamp(path: Path) -> Path:
    """Beside a mirror tree: the sha256 of the archive it was unpacked from."""
    return path.with_name(path.name + ".sha256")


def local_tree(root: Path, item: PinnedSource) -> Path | None:
    """A tree already under ``root`` for this pin (from an earlier fetch, or copied there)."""
    for provider in ("debian", "tarball", "mirror", "mercurial"):
        if (provider == "debian" and not item.pin.debian) or (provider == "tarball" and not item.pin.sha256):
            continue
        path = store_path(root, item, provider)
        if provider == "mirror" and item.pin.sha256 and _read(_stamp(path)) != item.pin.sha256:
            continue
        if path.is_dir():
            return path
    return None


def _read(path: Path) -> str:
    try:
        return path.read_text().strip()
    except OSError:
        return ""


def expected_paths(root: Path, wanted: list[PinnedSource], order: tuple[str, ...]) -> dict[str, Path]:
    """Where each source would be, without fetching (for dry runs)."""
    result = {}
    for item in wanted:
        path = local_tree(root, item) if "local" in order else None
        if path is None:
            provider = next((p for p in order if p != "local" and (p != "debian" or item.pin.debian)
                             and (p != "tarball" or item.pin.sha256)), order[-1])
            path = store_path(root, item, provider)
        result[context_name(item.component.name)] = path
    return result


def fetch_all(root: Path, wanted: list[PinnedSource], order: tuple[str, ...], set_name: str,
              mirror: str = "") -> dict[str, Path]:
    """Every wanted source, or one error that names each one missing and where it was looked for."""
    result, missing = {}, []
    for item in wanted:
        try:
            result[context_name(item.component.name)] = _fetch_one(root, item, order, mirror)
        except SourceError as exc:
            missing.append(f"component '{item.component.name}' ({item.pin.branch}): {exc}")
    if len(missing) == 1:
        raise SourceError(f"set '{set_name}': {missing[0].replace(': ', ': source not reachable; ', 1)}")
    if missing:
        raise SourceError(f"set '{set_name}': {len(missing)} sources not reachable: " + " | ".join(missing))
    return result


def fetch(root: Path, item: PinnedSource, order: tuple[str, ...], set_name: str, mirror: str = "") -> Path:
    try:
        return _fetch_one(root, item, order, mirror)
    except SourceError as exc:
        raise SourceError(f"set '{set_name}': component '{item.component.name}' "
                          f"({item.pin.branch}): source not reachable; {exc}") from None


def _fetch_one(root: Path, item: PinnedSource, order: tuple[str, ...], mirror: str) -> Path:
    """The first provider's tree, else an error with every provider's reason."""
    reasons = []
    for provider in order:
        try:
            if provider == "local":
                path = local_tree(root, item)
                if path is None:
                    raise SourceError(f"no tree under {root / item.component.name}")
                return path
            if provider == "debian":
                return fetch_debian(root, item)
            if provider == "mirror":
                return fetch_mirror(root, item, mirror)
            if provider == "tarball":
                return fetch_tarball(root, item)
            if provider == "mercurial":
                return fetch_mercurial(root, item)
            raise SourceError(f"unknown provider '{provider}'")
        except SourceError as exc:
            reasons.append(f"{provider}: {exc}")
    raise SourceError("; ".join(reasons))


def _run(cmd: list[str], cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)


TRANSIENT = re.compile(r"HTTP Error 5\d\d|Connection reset|Connection refused|timed out|temporarily unavailable",
                       re.IGNORECASE)
ATTEMPTS = 3


def retry_transient(call: Callable[[], subprocess.CompletedProcess], fresh: Path | None = None,
                    pause: float = 2.0) -> subprocess.CompletedProcess:
    """``call`` (a client that talks to a server: hg, curl) tried again, a little later each time, up
    to ATTEMPTS times while it fails the way a busy server fails: a 5xx answer, a reset or refused
    connection, a timeout.  ``fresh``: a folder the call makes, removed before each new try."""
    for attempt in range(1, ATTEMPTS + 1):
        if fresh is not None and fresh.exists():
            shutil.rmtree(fresh)
        proc = call()
        if proc.returncode == 0 or attempt == ATTEMPTS or not TRANSIENT.search(proc.stderr or ""):
            return proc
        time.sleep(pause * attempt)
    raise AssertionError("unreachable")


def _last_line(text: str) -> str:
    """The most telling line of a tool's error output: an HTTP failure if any, else the last line."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    telling = [line for line in lines if " 404 " in line or "Failed to fetch http" in line]
    return (telling or lines or ["no output"])[0 if telling else -1]


def apt_options(state: Path) -> list[str]:
    return [
        "-o", f"Dir::Etc::SourceList={state / 'sources.list'}",
        "-o", "Dir::Etc::SourceParts=/dev/null",
        "-o", f"Dir::State::Lists={state / 'lists'}",
        "-o", f"Dir::Cache={state / 'cache'}",
        "-o", "APT::Sandbox::User=root",
    ]


def fetch_debian(root: Path, item: PinnedSource) -> Path:
    if not item.pin.debian:
        raise SourceError("no Debian version pinned")
    target = store_path(root, item, "debian")
    if target.is_dir():
        return target
    if not shutil.which("dpkg-source"):
        raise SourceError("dpkg-source is missing (apt-get install dpkg-dev)")
    state = root / ".apt" / item.base
    (state / "lists" / "partial").mkdir(parents=True, exist_ok=True)
    (state / "cache" / "archives" / "partial").mkdir(parents=True, exist_ok=True)
    (state / "sources.list").write_text(
        f"deb-src [signed-by={KEYRING}] {DEBIAN_MIRROR} {item.base} main\n"
        f"deb-src [signed-by={KEYRING}] {DEBIAN_MIRROR} {item.base}-updates main\n")
    stamp = state / "updated"
    if not stamp.exists():
        proc = _run(["apt-get", *apt_options(state), "update", "-q"])
        if proc.returncode != 0:
            raise SourceError(f"apt-get update for {item.base} sources failed: {_last_line(proc.stderr)}")
        stamp.touch()
    with tempfile.TemporaryDirectory(dir=root, prefix=".fetch-") as tmp:
        work = Path(tmp)
        spec = f"{item.debian_package}={item.pin.debian}"
        proc = _run(["apt-get", *apt_options(state), "source", "--download-only", "-q", spec], cwd=work)
        if proc.returncode != 0:
            raise SourceError(f"{spec} not in Debian {item.base}: {_last_line(proc.stderr)}")
        dsc = next(work.glob("*.dsc"), None)
        if dsc is None:
            raise SourceError(f"{spec}: no .dsc downloaded")
        # apt checked the files against the signed index; dpkg-source checks them against the .dsc.
        proc = _run(["dpkg-source", "-x", dsc.name, "tree"], cwd=work)
        if proc.returncode != 0:
            raise SourceError(f"{dsc.name}: dpkg-source failed: {_last_line(proc.stderr)}")
        target.parent.mkdir(parents=True, exist_ok=True)
        (work / "tree").rename(target)
    return target


def reachable(url: str, timeout: float = 10) -> str | None:
    """None if the URL answers, else the reason."""
    try:
        with urllib.request.urlopen(url, timeout=timeout):
            return None
    except urllib.error.HTTPError:
        return None  # it answered
    except (urllib.error.URLError, OSError) as exc:
        return str(getattr(exc, "reason", exc))


def fetch_tarball(root: Path, item: PinnedSource) -> Path:
    """Download the release tarball, check its pinned sha256, unpack it (its top folder dropped)."""
    url = item.tarball_url
    if not url:
        raise SourceError("no tarball URL (component 'tarball' or pin 'tarball')")
    if not item.pin.sha256:
        raise SourceError(f"no sha256 pinned for {url}")
    target = store_path(root, item, "tarball")
    if target.is_dir():
        return target
    _fetch_archive(root, url, item.pin.sha256, target)
    return target


_sums_cache: dict[str, dict[str, str]] = {}


def mirror_sums(mirror: str) -> dict[str, str]:
    """The mirror's SHA256SUMS: archive name -> sha256 (read once per mirror)."""
    if mirror not in _sums_cache:
        url = mirror_url(mirror, SUMS)
        try:
            with urllib.request.urlopen(url, timeout=30) as response:
                text = response.read().decode("utf-8", errors="replace")
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise SourceError(f"{url} not readable ({getattr(exc, 'reason', exc)})") from None
        _sums_cache[mirror] = parse_sums(text)
    return _sums_cache[mirror]


def fetch_mirror(root: Path, item: PinnedSource, mirror: str) -> Path:
    """The branch's archive from a source mirror, checked against the pin's or the mirror's sha256."""
    if not mirror:
        raise SourceError(f"no mirror given (--mirror, ${MIRROR_ENV} or settings.mirror)")
    expected = item.pin.sha256 or mirror_sums(mirror).get(item.archive)
    if not expected:
        raise SourceError(f"{item.archive} not listed in {mirror_url(mirror, SUMS)}")
    target = store_path(root, item, "mirror")
    if target.is_dir() and _read(_stamp(target)) == expected:
        return target
    if target.is_dir():
        shutil.rmtree(target)  # from another archive of the branch: replaced, never mixed
    origin = "pinned" if item.pin.sha256 else f"{SUMS} has"
    _fetch_archive(root, mirror_url(mirror, item.archive), expected, target, origin)
    _stamp(target).write_text(expected + "\n")
    return target


def download_verified(url: str, sha256: str, dest: Path, origin: str = "pinned", timeout: float = 60) -> None:
    """Download ``url`` to ``dest`` and check its sha256 (SourceError when it differs; ``origin``
    says where the expected checksum came from)."""
    digest = hashlib.sha256()
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response, open(dest, "wb") as out:
            while chunk := response.read(1 << 20):
                digest.update(chunk)
                out.write(chunk)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise SourceError(f"{url} not reachable ({getattr(exc, 'reason', exc)})") from None
    if digest.hexdigest() != sha256:
        raise SourceError(f"{url}: checksum mismatch (sha256 {digest.hexdigest()}, {origin} {sha256})")


def _fetch_archive(root: Path, url: str, sha256: str, target: Path, origin: str = "pinned") -> None:
    """Download an archive, check its sha256 before anything is unpacked, unpack it at ``target``
    (its single top folder dropped); nothing is left behind when any step fails."""
    root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=root, prefix=".fetch-") as tmp:
        archive = Path(tmp) / "archive"
        download_verified(url, sha256, archive, origin)
        unpacked = Path(tmp) / "unpacked"
        try:
            with tarfile.open(archive) as tar:
                tar.extractall(unpacked, filter="data")
        except (tarfile.TarError, OSError) as exc:
            raise SourceError(f"{url}: not a readable tarball ({exc})") from None
        entries = list(unpacked.iterdir())
        tree = entries[0] if len(entries) == 1 and entries[0].is_dir() else unpacked
        target.parent.mkdir(parents=True, exist_ok=True)
        tree.rename(target)


def fetch_mercurial(root: Path, item: PinnedSource) -> Path:
    target = store_path(root, item, "mercurial")
    if target.is_dir():
        return target
    repo = item.component.repository
    reason = reachable(repo)
    if reason:
        raise SourceError(f"{repo} not reachable ({reason})")
    if not shutil.which("hg"):
        raise SourceError("hg is missing (apt-get install mercurial)")
    with tempfile.TemporaryDirectory(dir=root, prefix=".fetch-") as tmp:
        clone = Path(tmp) / "clone"
        proc = retry_transient(lambda: _run(["hg", "clone", "--branch", item.pin.branch, repo, str(clone)]),
                               fresh=clone)
        if proc.returncode != 0:
            raise SourceError(f"hg clone of branch {item.pin.branch} failed: {_last_line(proc.stderr)}")
        date = _run(["hg", "log", "-R", str(clone), "-r", ".", "--template", "{date|hgdate}"])
        shutil.rmtree(clone / ".hg", ignore_errors=True)
        target.parent.mkdir(parents=True, exist_ok=True)
        if date.returncode == 0 and date.stdout.split():
            # A checkout's files are dated when cloned: the changeset's date is the source's.
            _date_stamp(target).write_text(date.stdout.split()[0] + "\n")
        clone.rename(target)
    return target


def _date_stamp(path: Path) -> Path:
    """Beside a Mercurial tree: its changeset's date (seconds since the epoch)."""
    return path.with_name(path.name + ".date")


CHANGELOG_DATE_RE = re.compile(r"^ -- .*?>  (?P<date>.+)$", re.M)


def source_date(trees: list[Path]) -> int | None:
    """The date of a set's sources, for SOURCE_DATE_EPOCH: the newest of their trees' dates, each
    the same wherever and whenever the pin is fetched.  A Mercurial tree's is its changeset's, a
    Debian source package's its changelog's newest entry (patches are applied when it is unpacked,
    which dates the files they touch), an archive's its newest file's (unpacking keeps the dates).
    None when there is no tree."""
    dates = []
    for tree in trees:
        stamp = _read(_date_stamp(tree))
        changelog = tree / "debian" / "changelog"
        if stamp.isdigit():
            dates.append(int(stamp))
        elif changelog.is_file():
            match = CHANGELOG_DATE_RE.search(changelog.read_text(errors="replace"))
            if match:
                try:
                    dates.append(int(email.utils.parsedate_to_datetime(match.group("date")).timestamp()))
                    continue
                except (TypeError, ValueError):
                    pass
            dates.append(_newest_file(tree))
        else:
            dates.append(_newest_file(tree))
    return max(dates) if dates else None


def origin(tree: Path) -> str:
    """Where a fetched tree came from, for the image's labels: its provider and what pins it, e.g.
    ``mirror sha256:<hex>`` (the archive checked), ``debian 1.12.7+dfsg-4``, ``mercurial`` (the
    branch, labelled beside it)."""
    provider, _, rest = tree.name.partition("-")
    sha256 = _read(_stamp(tree))
    if sha256:
        return f"{provider} sha256:{sha256}"
    if provider == "debian":
        return f"debian {rest}"
    return provider


def _newest_file(tree: Path) -> int:
    newest = 0
    for folder, _, files in os.walk(tree):
        for name in files:
            info = os.lstat(os.path.join(folder, name))
            if not stat.S_ISLNK(info.st_mode):
                newest = max(newest, int(info.st_mtime))
    return newest


THIRD_PARTY_RE = re.compile(r"https?://[A-Za-z0-9.:/_-]*(?:ThirdPartyDownloads|third-party-downloads)")


def third_party_url(tree: Path) -> str | None:
    """Where a static build of this Orthanc source downloads third-party code from (its CMake files)."""
    counts: dict[str, int] = {}
    for path in sorted(tree.rglob("*.cmake")):
        try:
            text = path.read_text(errors="replace")
        except OSError:
            continue
        for url in THIRD_PARTY_RE.findall(text):
            counts[url] = counts.get(url, 0) + 1
    return max(counts, key=counts.get) if counts else None
