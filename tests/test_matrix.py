"""Matrix expansion, tag naming and the nox session list."""

from pathlib import Path

import pytest

from tools.configuration import config, matrix
from tools.configuration.config import ConfigError

ROOT = Path(__file__).resolve().parent.parent
CFG = config.load(ROOT / "versions.toml")


def test_tags_per_platform_and_multi_arch():
    assert matrix.tag_for("1.9.0", "armv7") == "1.9.0-armv7"
    assert matrix.tag_for("1.9.0") == "1.9.0"
    assert matrix.image_ref("127.0.0.1:5000", "orthanc", "orthanc-plugins", "1.9.0-armv7") == \
        "127.0.0.1:5000/orthanc/orthanc-plugins:1.9.0-armv7"
    assert matrix.image_ref("", "", "orthanc", "1.9.0") == "orthanc:1.9.0"
    assert matrix.image_ref("ghcr.io", "acme/imaging", "orthanc", "1.9.0") == "ghcr.io/acme/imaging/orthanc:1.9.0"


def test_expand_one_platform_gives_both_images():
    builds = matrix.expand(CFG, "1.9.0", ["armv7"])
    assert [(b.image, b.platforms, b.tag) for b in builds] == [
        ("orthanc", ("armv7",), "1.9.0-armv7"),
        ("orthanc-plugins", ("armv7",), "1.9.0-armv7"),
    ]


def test_expand_together_is_one_call_per_image():
    builds = matrix.expand(CFG, "1.12.7", None, ["orthanc"], together=True)
    assert len(builds) == 1
    assert builds[0].platforms == ("amd64", "arm64", "armv7")
    assert builds[0].tag == "1.12.7"


def test_expand_filters():
    builds = matrix.expand(CFG, "1.10.1", ["amd64", "arm64"], ["orthanc-plugins"])
    assert [(b.image, b.platforms) for b in builds] == [("orthanc-plugins", ("amd64",)), ("orthanc-plugins", ("arm64",))]


def test_expand_rejects_unknown_image_and_set():
    with pytest.raises(ConfigError, match="image 'dcm4chee' is unknown"):
        matrix.expand(CFG, "1.9.0", ["amd64"], ["dcm4chee"])
    with pytest.raises(ConfigError, match="set '0.1': no such set"):
        matrix.expand(CFG, "0.1", ["amd64"])


@pytest.mark.parametrize("machine,platform", [("x86_64", "amd64"), ("aarch64", "arm64"), ("armv7l", "armv7")])
def test_host_platform(machine, platform):
    assert matrix.host_platform(machine) == platform


def test_host_platform_unknown():
    with pytest.raises(ConfigError, match="machine 's390x'"):
        matrix.host_platform("s390x")


def test_session_specs_cover_every_set_and_platform():
    names = {spec.name for spec in matrix.session_specs(CFG)}
    for release in CFG.sets.values():
        assert f"build-{release.name}" in names
        for arch in ("amd64", "arm64", "armv7"):
            assert f"build-{release.name}-{arch}" in names
            assert f"build-{release.name}-{arch}-sequential" in names
            assert f"smoke-{release.name}-{arch}" in names
            assert f"reproduce-{release.name}-{arch}" in names
    assert len(names) == len(CFG.sets) * 13


def test_session_tags_select_set_or_platform():
    specs = {spec.name: spec for spec in matrix.session_specs(CFG)}
    armv7 = sorted(name for name, spec in specs.items() if "armv7" in spec.tags)
    assert armv7 == sorted(f"build-{s}-armv7" for s in CFG.sets)
    one_set = sorted(name for name, spec in specs.items() if "1.12.7" in spec.tags)
    assert one_set == [f"build-1.12.7-{a}" for a in ("amd64", "arm64", "armv7")]
    assert specs["build-1.9.0-armv7"].argv == ("build", "--set", "1.9.0", "--platform", "armv7")
    assert specs["build-1.9.0-armv7-sequential"].argv[-1] == "--sequential"
    assert specs["build-1.9.0"].argv == ("build", "--set", "1.9.0", "--together")
    assert specs["smoke-1.9.0-armv7"].argv == ("smoke", "--set", "1.9.0", "--platform", "armv7")
    assert all(spec.doc for spec in specs.values())
