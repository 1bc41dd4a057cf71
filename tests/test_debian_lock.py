"""The Debian package lock, the pure parts: what the Dockerfile installs, the simulations apt runs,
reading its answer, the lock file's text and errors, the pins and list a build gets; and the
committed versions.lock against versions.toml and the Dockerfile (it drifts when they change)."""

from pathlib import Path

import pytest

from tools.commands import lock as lock_command
from tools.configuration import config
from tools.errors import UsageError
from tools.paths import DEFAULT_CONFIG, DEFAULT_DOCKERFILE
from tools.planning import debian_lock

SETUP_BUILDER = DEFAULT_DOCKERFILE.parent / "build" / "setup-builder.sh"


def real_seeds() -> debian_lock.Seeds:
    return debian_lock.seeds(DEFAULT_DOCKERFILE.read_text(), SETUP_BUILDER.read_text())


def test_the_packages_the_dockerfile_installs_are_read_by_where_they_go():
    seeds = real_seeds()
    assert {"libdcmtk-dev", "libpq-dev", "libgdcm-dev", "libtiff-dev"} <= set(seeds.target)
    assert {"cmake", "ninja-build", "ccache", "g++", "clang", "postgresql-server-dev-all", "locales"} <= \
        set(seeds.build_machine)
    assert set(seeds.runtime) == {"ca-certificates", "curl", "jq", "tzdata"}
    # words of comments, stage names and shell are not packages
    every = {*seeds.target, *seeds.build_machine, *seeds.runtime}
    assert not every & {"the", "builder", "printf", "sort", "runtime-base", "2>/dev/null"}


def test_packages_after_build_machine_are_the_build_machines():
    text = ("FROM x AS a\nRUN /opt/b/setup-builder.sh liba-dev \\\n      libb-dev\n"
            "RUN /opt/b/apt-dev.sh libc-dev --build-machine tool-x && echo done\n"
            "RUN /opt/b/fetch-debs.sh /tmp/status /debs jq $(cat /tmp/p)\n")
    seeds = debian_lock.seeds(text, 'tools="cmake make"\nllvm="clang"\n')
    assert seeds == debian_lock.Seeds(("liba-dev", "libb-dev", "libc-dev"),
                                      ("tool-x", "cmake", "make", "clang", "g++", "postgresql-server-dev-all"), ("jq",))


def test_a_setup_script_without_its_tools_line_is_an_error():
    with pytest.raises(ValueError, match="tools="):
        debian_lock.seeds("FROM x\n", "apt-get install cmake\n")


def test_every_pair_of_build_and_target_architecture_is_simulated_and_every_runtime():
    seeds = debian_lock.Seeds(("libz-dev",), ("cmake", "g++", "postgresql-server-dev-all"), ("jq",))
    sims = {title: (opts, packages) for title, opts, packages in debian_lock.simulations(seeds, ["amd64", "armhf"])}
    assert list(sims) == ["builder amd64 for amd64", "builder amd64 for armhf", "builder armhf for amd64",
                          "builder armhf for armhf", "runtime amd64", "runtime armhf"]
    opts, packages = sims["builder amd64 for armhf"]
    assert "-o APT::Architectures=amd64,armhf" in opts and "Dir::State::status=$STATUS_amd64" in opts
    assert packages.split() == ["cmake", "crossbuild-essential-armhf", "libz-dev:armhf"]
    assert sims["builder armhf for armhf"][1].split() == ["cmake", "g++", "postgresql-server-dev-all", "libz-dev"]
    opts, packages = sims["runtime armhf"]
    assert "APT::Architecture=armhf" in opts and "$STATUS_armhf" in opts and packages == "jq"
    script = debian_lock.simulation_script(seeds, ["amd64", "armhf"])
    assert "dpkg --add-architecture armhf" in script and script.count("echo '== ") == 6


APT_OUTPUT = """\
== builder amd64 for armhf
Inst libc6:armhf (2.41-12+deb13u5 Debian:13.8/stable [armhf])
Inst libgcc-s1:armhf (14.2.0-19 Debian:13.8/stable [armhf]) []
Inst libexpat1 [2.5.0-1] (2.9.0-1~deb13u1 Debian:13.8/stable [amd64])
Conf libexpat1 (2.9.0-1~deb13u1 Debian:13.8/stable [amd64])
Inst ca-certificates (20250419+deb13u1 Debian:13.8/stable [all])
== builder armhf for amd64
!! E: Unmet dependencies. Try 'apt --fix-broken install' with no packages (or specify a solution).
== runtime armhf
Inst ca-certificates (20250419+deb13u1 Debian:13.8/stable [all])
"""


def test_apts_answer_gives_each_architectures_versions_and_the_pairs_it_could_not_install():
    simulated = debian_lock.parse_simulation(APT_OUTPUT)
    assert simulated.packages == {
        "all": {"ca-certificates": "20250419+deb13u1"},
        "amd64": {"libexpat1": "2.9.0-1~deb13u1"},
        "armhf": {"libc6": "2.41-12+deb13u5", "libgcc-s1": "14.2.0-19"},
    }
    assert list(simulated.failed) == ["builder armhf for amd64"]
    assert not debian_lock.required("builder armhf for amd64")
    assert debian_lock.required("builder armhf for armhf") and debian_lock.required("runtime armhf")


def test_one_package_in_two_versions_is_an_error():
    with pytest.raises(ValueError, match="libc6:armhf in two versions"):
        debian_lock.parse_simulation("Inst libc6:armhf (1 x [armhf])\nInst libc6:armhf (2 x [armhf])\n")


LOCK = debian_lock.DistributionLock("trixie", "r/debian:trixie-slim", "2026-11-30T04:00:00+00:00", {
    "all": {"ca-certificates": "20250419+deb13u1"},
    "armhf": {"libc6": "2.41-12+deb13u5", "libstdc++6": "14.2.0-19"},
})


def test_the_lock_file_reads_back_what_was_written(tmp_path):
    path = tmp_path / "versions.lock"
    path.write_text(debian_lock.render([LOCK]))
    assert debian_lock.load(path) == {"trixie": LOCK}
    assert debian_lock.load(tmp_path / "none.lock") == {}


@pytest.mark.parametrize("text, message", [
    ("[distributions.trixie]\nmade = 'x'\n", "distribution 'trixie': key 'image' is missing"),
    ("[distributions.trixie]\nimage = 'i'\nmade = 'x'\n[distributions.trixie.packages.armhf]\n"
     "libc6 = 'not a version'\n", "distribution 'trixie': key 'packages.armhf.libc6': not a Debian"),
    ("[distributions.trixie]\nimage = 'i'\nmade = 'x'\nsnapshot = 'y'\n", "only image, digest, made and packages"),
    ("[sets]\n", r"only \[distributions.<name>\] tables"),
    ("[distributions.trixie\n", "not a lock file"),
])
def test_a_broken_lock_file_is_one_line_naming_the_file_the_distribution_and_the_key(tmp_path, text, message):
    path = tmp_path / "versions.lock"
    path.write_text(text)
    with pytest.raises(UsageError, match=message) as caught:
        debian_lock.load(path)
    assert str(path) in str(caught.value) and "\n" not in str(caught.value)


def test_a_build_gets_pins_at_priority_1001_and_the_list_check_lock_reads():
    files = debian_lock.context_files(LOCK, "trixie", Path("/p/versions.lock"))
    assert files["preferences"].startswith(
        "Package: ca-certificates\nPin: version 20250419+deb13u1\nPin-Priority: 1001\n\nPackage: libc6:armhf\n")
    assert "Package: libstdc++6:armhf\nPin: version 14.2.0-19\nPin-Priority: 1001\n" in files["preferences"]
    assert files["versions"] == ("all ca-certificates 20250419+deb13u1\narmhf libc6 2.41-12+deb13u5\n"
                                 "armhf libstdc++6 14.2.0-19\n")
    assert files["about"] == "versions.lock: distribution trixie\n"  # no date: the same versions, the same context
    unlocked = debian_lock.context_files(None, "sid", Path("/p/versions.lock"))
    assert unlocked["preferences"] == unlocked["versions"] == "" and "not locked" in unlocked["about"]


def test_an_unknown_distribution_to_lock_is_a_one_line_error():
    cfg = config.load(DEFAULT_CONFIG)
    with pytest.raises(UsageError, match="distribution 'sid' is not one of"):
        lock_command.chosen_distributions(cfg, ("sid",))
    assert set(lock_command.chosen_distributions(cfg, ())) == {r.base for r in cfg.sets.values()}


# --- the committed lock against versions.toml and the Dockerfile ----------------------------------


def test_versions_lock_has_every_distribution_a_set_builds_on_and_every_package_the_dockerfile_names():
    cfg = config.load(DEFAULT_CONFIG)
    locks = debian_lock.load(cfg.root / debian_lock.LOCK_FILE)
    seeds = real_seeds()
    arches = list(lock_command.debian_arches(cfg))
    everywhere: set[str] = set()
    for distribution in {release.base for release in cfg.sets.values()}:
        assert distribution in locks, f"versions.lock has no {distribution}: run `nox -s lock`"
        packages = locks[distribution].packages
        everywhere |= {name for names in packages.values() for name in names}
        for arch in arches:
            have = set(packages.get(arch, {})) | set(packages.get("all", {}))
            # builders' packages are never in a base image, so apt named each of them
            missing = {p for p in seeds.target if p not in have}
            assert not missing, f"versions.lock: {distribution} {arch} lacks {sorted(missing)}: run `nox -s lock`"
        assert {f"crossbuild-essential-{arch}" for arch in arches if arch != "amd64"} <= set(packages["all"])
        # the clang toolchain's too (TOOLCHAIN=clang)
        assert "clang" in packages.get("amd64", {}), f"versions.lock: {distribution} lacks clang: run `nox -s lock`"
    # A runtime package already in the base images (tzdata) is not installed, so not locked either.
    missing = set(seeds.runtime) - everywhere - {"tzdata"}
    assert not missing, f"versions.lock lacks {sorted(missing)}: run `nox -s lock`"


DIGEST = "sha256:" + "a" * 64
NEWER = "sha256:" + "b" * 64


def test_a_build_starts_from_the_locked_base_image_while_the_registry_has_it():
    locked = debian_lock.DistributionLock("trixie", "r/debian:trixie-slim", "2026-11-30", {}, DIGEST)
    registry = {"r/debian:trixie-slim": NEWER, f"r/debian:trixie-slim@{DIGEST}": DIGEST}
    assert debian_lock.base_image(locked, "r/debian:trixie-slim", registry.get) == \
        (DIGEST, f"r/debian:trixie-slim@{DIGEST}, as locked")
    # made on another host: the registry no longer has the locked digest, the tag's is taken and told
    del registry[f"r/debian:trixie-slim@{DIGEST}"]
    digest, told = debian_lock.base_image(locked, "r/debian:trixie-slim", registry.get)
    assert digest == NEWER and "not in the registry" in told and "nox -s lock" in told
    # another registry's image is not the locked one
    assert debian_lock.base_image(locked, "other/debian:trixie-slim", {"other/debian:trixie-slim": NEWER}.get)[0] \
        == NEWER
    assert debian_lock.base_image(None, "r/debian:trixie-slim", {}.get) == \
        (None, "r/debian:trixie-slim (its digest is not known to the registry)")


def test_a_base_digest_that_is_not_one_is_an_error(tmp_path):
    path = tmp_path / "versions.lock"
    path.write_text("[distributions.trixie]\nimage = 'i'\ndigest = 'latest'\nmade = 'x'\n")
    with pytest.raises(UsageError, match="distribution 'trixie': key 'digest': not an image digest"):
        debian_lock.load(path)
    locked = debian_lock.DistributionLock("trixie", "i", "x", {"all": {"jq": "1.7"}}, DIGEST)
    path.write_text(debian_lock.render([locked]))
    assert debian_lock.load(path)["trixie"] == locked
