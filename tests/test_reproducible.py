"""Reproducible builds, the pure parts: the sources' date, the rendered output, the OCI archive
reader that names differing files, and the reproduce command's comparison."""

import gzip
import hashlib
import io
import json
import os
import tarfile
from dataclasses import replace
from pathlib import Path

from tools.commands import reproduce
from tools.configuration import matrix
from tools.planning import buildx, sources
from tools.running import oci
from tools.running.results import Record

from test_buildx import FACTS, pairs, resolved

EPOCH = 1786000000  # 2026-08-06T07:06:40Z


def test_a_reproducible_build_goes_to_an_oci_archive_with_times_clamped_and_provenance():
    build = matrix.Build("1.13.0", "orthanc", ("armv7",))
    spec = resolved(build, facts=replace(FACTS, source_date_epoch=EPOCH), reproducible=True)
    cmd = buildx.command(spec, Path("/logs/b.metadata.json"))
    assert "--load" not in cmd and "--push" not in cmd
    assert pairs(cmd, "--output") == [
        'type=oci,dest=/logs/b.oci.tar,"name=127.0.0.1:5000/orthanc/orthanc:1.13.0-armv7",rewrite-timestamp=true']
    assert pairs(cmd, "--provenance") == ["mode=max"]
    args = dict(a.split("=", 1) for a in pairs(cmd, "--build-arg"))
    assert args["SOURCE_DATE_EPOCH"] == str(EPOCH)
    labels = dict(a.split("=", 1) for a in pairs(cmd, "--label"))
    assert labels["org.opencontainers.image.created"] == "2026-08-06T07:06:40+00:00"
    # a stage built alone into the cache is never exported
    assert pairs(buildx.command(spec.stage("build-orthanc", ()), Path("/logs/b.metadata.json")),
                 "--output") == ["type=cacheonly"]


def test_an_ordinary_build_loads_and_dates_itself_from_the_sources_when_known():
    build = matrix.Build("1.13.0", "orthanc", ("amd64",))
    cmd = buildx.command(resolved(build), Path("/logs/b.metadata.json"))
    assert "--load" in cmd and "--provenance" not in cmd
    assert "SOURCE_DATE_EPOCH" not in dict(a.split("=", 1) for a in pairs(cmd, "--build-arg"))
    labels = dict(a.split("=", 1) for a in pairs(cmd, "--label"))
    assert labels["org.opencontainers.image.created"] == FACTS.created


def test_the_sources_date_is_each_trees_own_and_the_newest_wins(tmp_path):
    archive = tmp_path / "mirror-A-1.0"
    (archive / "sub").mkdir(parents=True)
    (archive / "sub" / "f.cpp").write_text("x")
    os.utime(archive / "sub" / "f.cpp", (EPOCH - 100, EPOCH - 100))
    (archive / "link").symlink_to("sub/f.cpp")
    debian = tmp_path / "debian-B"
    (debian / "debian").mkdir(parents=True)
    (debian / "debian" / "changelog").write_text(
        "b (1.0-2) unstable; urgency=medium\n\n  * Fix.\n\n -- A Person <a@example.org>  Mon, 01 Jun 2026 10:00:00 +0200\n"
        "\nb (1.0-1) unstable; urgency=medium\n\n -- A Person <a@example.org>  Mon, 01 Jun 2020 10:00:00 +0200\n")
    (debian / "patched.cpp").write_text("touched when unpacked, today")
    hg = tmp_path / "mercurial-C"
    hg.mkdir()
    (hg / "f").write_text("checked out today")
    (tmp_path / "mercurial-C.date").write_text(f"{EPOCH - 5}\n")
    assert sources.source_date([archive]) == EPOCH - 100
    assert sources.source_date([debian]) == 1780300800  # 2026-06-01T08:00:00Z
    assert sources.source_date([hg]) == EPOCH - 5
    assert sources.source_date([archive, debian, hg]) == EPOCH - 5
    assert sources.source_date([]) is None


def test_each_component_is_labelled_with_where_its_source_came_from(tmp_path):
    (tmp_path / "mirror-Orthanc-1.13.0").mkdir()
    (tmp_path / "mirror-Orthanc-1.13.0.sha256").write_text("ab" * 32 + "\n")
    (tmp_path / "debian-1.12.7+dfsg-4").mkdir()
    assert sources.origin(tmp_path / "mirror-Orthanc-1.13.0") == "mirror sha256:" + "ab" * 32
    assert sources.origin(tmp_path / "debian-1.12.7+dfsg-4") == "debian 1.12.7+dfsg-4"
    facts = replace(FACTS, origins=(("orthanc", "mirror sha256:" + "ab" * 32),))
    spec = resolved(matrix.Build("1.13.0", "orthanc", ("amd64",)), facts=facts)
    assert spec.labels["org.orthanc-images.orthanc.source"] == "mirror sha256:" + "ab" * 32
    assert "org.orthanc-images.wsi.source" not in spec.labels


def _blob(root: Path, data: bytes) -> str:
    digest = hashlib.sha256(data).hexdigest()
    (root / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
    (root / "blobs" / "sha256" / digest).write_bytes(data)
    return f"sha256:{digest}"


def _layer(files: dict[str, tuple[bytes, int]]) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        for name, (content, mtime) in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mtime = len(content), mtime
            tar.addfile(info, io.BytesIO(content))
    return gzip.compress(raw.getvalue(), mtime=0)


def oci_archive(path: Path, layers: list[dict[str, tuple[bytes, int]]], attestation: bool = True) -> str:
    """A small OCI image layout as BuildKit writes one: an index, an image manifest for linux/arm/v7
    and an attestation manifest; the image manifest's digest."""
    root = path.with_suffix(".d")
    descriptors = [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": _blob(root, _layer(files)),
                    "size": 1} for files in layers]
    config = _blob(root, json.dumps({"architecture": "arm", "variant": "v7", "os": "linux",
                                     "created": "2026-08-05T22:13:20Z"}).encode())
    manifest = _blob(root, json.dumps({"schemaVersion": 2, "config": {"digest": config, "size": 1},
                                       "layers": descriptors}).encode())
    manifests = [{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": manifest, "size": 1,
                  "platform": {"architecture": "arm", "os": "linux", "variant": "v7"}}]
    if attestation:
        manifests.append({"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": _blob(root, b"{}"),
                          "size": 2, "platform": {"architecture": "unknown", "os": "unknown"}})
    index = _blob(root, json.dumps({"schemaVersion": 2, "manifests": manifests}).encode())
    (root / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [
        {"mediaType": "application/vnd.oci.image.index.v1+json", "digest": index, "size": 1}]}))
    with tarfile.open(path, "w") as tar:
        for item in sorted(root.rglob("*")):
            tar.add(item, arcname=str(item.relative_to(root)), recursive=False)
    return manifest


def test_an_archives_platform_digest_leaves_the_attestation_out(tmp_path):
    digest = oci_archive(tmp_path / "a.tar", [{"etc/x": (b"1", EPOCH)}])
    with oci.Archive(tmp_path / "a.tar") as archive:
        assert archive.platform_digests() == {"linux/arm/v7": digest}


def test_two_archives_differ_by_the_files_named(tmp_path):
    base = {"etc/base": (b"same", EPOCH)}
    oci_archive(tmp_path / "a.tar", [base, {"usr/bin/x": (b"one", EPOCH), "var/log/dpkg.log": (b"t1", EPOCH)}])
    oci_archive(tmp_path / "b.tar", [base, {"usr/bin/x": (b"one", EPOCH + 1), "etc/new": (b"n", EPOCH)}])
    oci_archive(tmp_path / "c.tar", [base, {"usr/bin/x": (b"one", EPOCH), "var/log/dpkg.log": (b"t1", EPOCH)}])
    assert oci.differences(tmp_path / "a.tar", tmp_path / "c.tar", "linux/arm/v7") == []
    lines = oci.differences(tmp_path / "a.tar", tmp_path / "b.tar", "linux/arm/v7")
    assert lines[0].startswith("layer 2: sha256:") and lines[0].endswith("3 files differ")
    assert lines[1:] == ["  /etc/new: only in the second", "  /usr/bin/x: time",
                         "  /var/log/dpkg.log: only in the first"]
    assert oci.differences(tmp_path / "a.tar", tmp_path / "b.tar", "linux/arm64") == \
        [f"linux/arm64: not in {tmp_path / 'a.tar'}"]


def _record(**data) -> Record:
    base = {"set": "1.13.0", "image": "orthanc", "platforms": ["amd64"], "host": {}, "start": "s", "end": "e",
            "wall_seconds": 1, "status": "ok", "reproducible": True,
            "platform_digests": {"amd64": "sha256:aa"}}
    base.update(data)
    return Record.from_dict(base)


def test_reproduce_compares_with_the_last_reproducible_build_of_the_same_image():
    records = [_record(end="first"), _record(end="other platform", platforms=["armv7"],
                                             platform_digests={"armv7": "sha256:cc"}),
               _record(end="not reproducible", reproducible=False), _record(end="failed", status="failed")]
    assert reproduce.earlier_build(records, "1.13.0", "orthanc", "amd64")["end"] == "first"
    assert reproduce.earlier_build(records, "1.13.0", "orthanc-plugins", "amd64") is None
    same, line = reproduce.verdict(records[0].data, {**records[0].data, "end": "now"}, "amd64")
    assert same and line == ("reproduce: orthanc:1.13.0-amd64 is reproducible: sha256:aa, "
                             "the digest of the build of first")
    same, line = reproduce.verdict(records[0].data, {**records[0].data, "platform_digests": {"amd64": "sha256:bb"}},
                                   "amd64")
    assert not same and "differs: sha256:bb now, sha256:aa from the build of first" in line


def test_a_differing_label_is_named_with_both_values():
    first = {"architecture": "amd64", "created": "1970-01-01T00:00:00Z", "rootfs": {"diff_ids": ["a"]},
             "config": {"Labels": {"org.opencontainers.image.revision": "abc", "same": "x"}, "User": "999:0"}}
    second = {"architecture": "amd64", "created": "2026-11-30T00:00:00Z", "rootfs": {"diff_ids": ["b"]},
              "config": {"Labels": {"org.opencontainers.image.revision": "def", "same": "x"}, "User": "0"}}
    assert oci.config_differences(first, second) == [
        "image config: config.Labels.org.opencontainers.image.revision: 'abc' against 'def'",
        "image config: config.User differs",
        "image config: created differs",
    ]
    assert oci.config_differences(first, first) == []


def test_each_image_is_dated_and_labelled_by_its_own_sources_whatever_is_built_with_it():
    facts = replace(FACTS, source_dates=(("orthanc", EPOCH), ("wsi", EPOCH + 100)),
                    origins=(("orthanc", "mirror sha256:" + "ab" * 32), ("wsi", "mirror sha256:" + "cd" * 32)))
    alone = resolved(matrix.Build("1.13.0", "orthanc", ("amd64",)), facts=facts, reproducible=True)
    plugins = resolved(matrix.Build("1.13.0", "orthanc-plugins", ("amd64",)), facts=facts, reproducible=True)
    assert alone.build_args["SOURCE_DATE_EPOCH"] == str(EPOCH)
    assert "org.orthanc-images.wsi.source" not in alone.labels
    assert alone.labels["org.orthanc-images.orthanc.source"] == "mirror sha256:" + "ab" * 32
    assert plugins.build_args["SOURCE_DATE_EPOCH"] == str(EPOCH + 100)
    assert plugins.labels["org.orthanc-images.wsi.source"] == "mirror sha256:" + "cd" * 32
    # the orthanc image built on its own: the same facts as built beside the plugins image
    only_orthanc = replace(facts, source_dates=facts.source_dates[:1], origins=facts.origins[:1])
    assert resolved(matrix.Build("1.13.0", "orthanc", ("amd64",)), facts=only_orthanc, reproducible=True) == alone
