"""Read the OCI archives that reproducible builds write (``buildx.archive_of``): each platform's
manifest digest, and, when two builds of one image differ, the layers and files that differ.

Only files are read here; nothing runs.
"""

from __future__ import annotations

import hashlib
import json
import tarfile
from dataclasses import dataclass
from pathlib import Path

INDEX_TYPES = ("application/vnd.oci.image.index.v1+json", "application/vnd.docker.distribution.manifest.list.v2+json")


class ArchiveError(Exception):
    """An archive that is not an OCI image layout."""


@dataclass(frozen=True)
class Entry:
    """One file of a layer, as far as a difference can show."""

    kind: str  # file, dir, symlink, hardlink, other
    mode: int
    owner: str  # uid:gid
    mtime: int
    size: int
    content: str  # sha256 of a file's bytes, a link's target, else ""


class Archive:
    def __init__(self, path: Path):
        self.path = path
        try:
            self._tar = tarfile.open(path)
        except (OSError, tarfile.TarError) as exc:
            raise ArchiveError(f"{path}: not a readable archive ({exc})") from None

    def close(self) -> None:
        self._tar.close()

    def __enter__(self) -> "Archive":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _file(self, name: str) -> bytes:
        try:
            member = self._tar.extractfile(name)
        except KeyError:
            member = None
        if member is None:
            raise ArchiveError(f"{self.path}: no {name}")
        return member.read()

    def blob(self, digest: str) -> bytes:
        algorithm, _, value = digest.partition(":")
        return self._file(f"blobs/{algorithm}/{value}")

    def json_blob(self, digest: str) -> dict:
        return json.loads(self.blob(digest))

    def platform_digests(self) -> dict[str, str]:
        """Each platform's image manifest digest ("linux/arm/v7": "sha256:..."); attestation
        manifests (platform unknown/unknown) are left out."""
        found: dict[str, str] = {}
        todo = json.loads(self._file("index.json")).get("manifests", [])
        while todo:
            descriptor = todo.pop(0)
            if descriptor.get("mediaType") in INDEX_TYPES:
                todo.extend(self.json_blob(descriptor["digest"]).get("manifests", []))
                continue
            platform = descriptor.get("platform") or {}
            name = "/".join(p for p in (platform.get("os"), platform.get("architecture"), platform.get("variant")) if p)
            if not name:
                config = self.json_blob(self.json_blob(descriptor["digest"])["config"]["digest"])
                name = "/".join(p for p in (config.get("os"), config.get("architecture"), config.get("variant")) if p)
            if name and name != "unknown/unknown":
                found[name] = descriptor["digest"]
        return found

    def layers(self, manifest_digest: str) -> list[str]:
        return [layer["digest"] for layer in self.json_blob(manifest_digest).get("layers", [])]

    def config_digest(self, manifest_digest: str) -> str:
        return self.json_blob(manifest_digest)["config"]["digest"]

    def config(self, manifest_digest: str) -> dict:
        return self.json_blob(self.json_blob(manifest_digest)["config"]["digest"])

    def entries(self, layer_digest: str) -> dict[str, Entry]:
        import io

        result: dict[str, Entry] = {}
        with tarfile.open(fileobj=io.BytesIO(self.blob(layer_digest))) as layer:
            for member in layer:
                content = ""
                if member.isfile():
                    handle = layer.extractfile(member)
                    content = hashlib.sha256(handle.read() if handle else b"").hexdigest()
                    kind = "file"
                elif member.isdir():
                    kind = "dir"
                elif member.issym() or member.islnk():
                    kind = "symlink" if member.issym() else "hardlink"
                    content = member.linkname
                else:
                    kind = "other"
                result[member.name.removeprefix("./")] = Entry(kind, member.mode, f"{member.uid}:{member.gid}",
                                                              int(member.mtime), member.size, content)
        return result


def entry_difference(a: Entry, b: Entry) -> str:
    said = [what for what, differs in (("kind", a.kind != b.kind), ("content", a.content != b.content),
                                       ("size", a.size != b.size), ("mode", a.mode != b.mode),
                                       ("owner", a.owner != b.owner), ("time", a.mtime != b.mtime)) if differs]
    return ", ".join(said)


def config_differences(first: dict, second: dict) -> list[str]:
    """The image config's keys that differ (pure), one level down where the value is a table (a
    label by its name, with both values: `config.Labels.org.opencontainers.image.revision`); the
    layers' digests (rootfs) are told layer by layer instead."""
    lines = []
    for key in sorted(set(first) | set(second)):
        x, y = first.get(key), second.get(key)
        if key == "rootfs" or x == y:
            continue
        if isinstance(x, dict) and isinstance(y, dict):
            for sub in sorted(set(x) | set(y)):
                if x.get(sub) == y.get(sub):
                    continue
                xs, ys = x.get(sub), y.get(sub)
                if isinstance(xs, dict) and isinstance(ys, dict):
                    for name in sorted(set(xs) | set(ys)):
                        if xs.get(name) != ys.get(name):
                            lines.append(f"image config: {key}.{sub}.{name}: {xs.get(name)!r} against {ys.get(name)!r}")
                else:
                    lines.append(f"image config: {key}.{sub} differs")
        else:
            lines.append(f"image config: {key} differs")
    return lines


def differences(first: Path, second: Path, platform: str, limit: int = 40) -> list[str]:
    """What differs between one platform's image in two archives: the config, then layer by layer
    (by position) the files added, removed or changed; at most ``limit`` file lines."""
    lines: list[str] = []
    with Archive(first) as a, Archive(second) as b:
        da, db = a.platform_digests().get(platform), b.platform_digests().get(platform)
        if da is None or db is None:
            return [f"{platform}: not in {first if da is None else second}"]
        if da == db:
            return []
        lines += config_differences(a.config(da), b.config(db))
        la, lb = a.layers(da), b.layers(db)
        if len(la) != len(lb):
            lines.append(f"layers: {len(la)} against {len(lb)}")
        shown = 0
        for number, (x, y) in enumerate(zip(la, lb), start=1):
            if x == y:
                continue
            ea, eb = a.entries(x), b.entries(y)
            changed = [(name, "only in the first") for name in sorted(set(ea) - set(eb))]
            changed += [(name, "only in the second") for name in sorted(set(eb) - set(ea))]
            changed += [(name, entry_difference(ea[name], eb[name])) for name in sorted(set(ea) & set(eb))
                        if ea[name] != eb[name]]
            lines.append(f"layer {number}: {x[:19]} against {y[:19]}, {len(changed)} files differ")
            for name, why in sorted(changed):
                if shown >= limit:
                    break
                lines.append(f"  /{name}: {why}")
                shown += 1
        if shown >= limit:
            lines.append(f"  (first {limit} files shown)")
    return lines
