"""nox sessions for building Orthanc images; all logic lives in tools/.

Sessions are generated from versions.toml: `nox -l` lists them, `nox -t armv7`
selects every set's armv7 build, `nox -s build-1.12.7-amd64 -- --help` shows the
options a build takes after `--`.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nox

sys.path.insert(0, str(Path(__file__).resolve().parent))

from tools import cli  # noqa: E402
from tools.commands import release_sets  # noqa: E402
from tools.commands import smoke as smoke_command  # noqa: E402
from tools.configuration import config, matrix  # noqa: E402
from tools.provisioning import provision as provisioning  # noqa: E402

FIXTURE_CONFIG = Path(__file__).resolve().parent / "tests" / "fixture" / "versions.toml"
PLUGIN_CHECKS = Path(__file__).resolve().parent / "tests" / "integration" / "test_plugin_functions.py"

nox.options.sessions = ["tests"]
nox.options.default_venv_backend = "none"


def _call(session: nox.Session, entry, argv: list[str]) -> None:
    try:
        code = entry(argv)
    except SystemExit as exc:  # --help, or argparse's own exit
        code = exc.code if isinstance(exc.code, int) else 1
    if code:
        session.error(f"exit code {code}")


def _register(spec: matrix.SessionSpec) -> None:
    def session_func(session: nox.Session) -> None:
        _call(session, cli.main, [*spec.argv, *session.posargs])
        if spec.command == "smoke":
            _plugin_checks(session, spec)

    session_func.__doc__ = spec.doc
    session_func.__name__ = spec.name
    nox.session(name=spec.name, tags=list(spec.tags), python=False)(session_func)


def _plugin_checks(session: nox.Session, spec: matrix.SessionSpec) -> None:
    """After a smoke session's REST checks: what each plugin is for, on the same set's orthanc-plugins
    image for the same platform (under qemu where foreign), with the suite's functional tests."""
    ref = smoke_command.plugins_image(_CONFIG, spec.set_name, spec.platform)
    if ref is None:
        session.log(f"no orthanc-plugins image of {spec.set_name}-{spec.platform} here: plugin checks left out")
        return
    session.log(f"plugin checks on {ref}")
    session.run(sys.executable, "-m", "pytest", "-ra", "--durations=10", str(PLUGIN_CHECKS),
                env={"ORTHANC_TEST_SET": spec.set_name, "ORTHANC_TEST_PLATFORM": spec.platform,
                     "ORTHANC_TEST_PREBUILT": "1"})


try:
    _CONFIG = config.load(cli.DEFAULT_CONFIG)
except config.ConfigError as exc:
    # A broken versions.toml still lets `validate` explain itself; builds are not registered.
    print(f"error: {exc}", file=sys.stderr)
    _CONFIG = None

if _CONFIG is not None:
    for _spec in matrix.session_specs(_CONFIG):
        _register(_spec)


@nox.session(python=False)
def build(session: nox.Session) -> None:
    """Build the default set's default image for this host's platform (see versions.toml)."""
    _call(session, cli.main, ["build", "--default-image", *session.posargs])


@nox.session(python=False)
def plan(session: nox.Session) -> None:
    """Dry run: print the buildx commands of every build session (or of the sets given); --format json: the specs."""
    _call(session, cli.main, ["plan", *session.posargs])


@nox.session(python=False)
def validate(session: nox.Session) -> None:
    """Check versions.toml and print the release sets."""
    _call(session, cli.main, ["validate", *session.posargs])


@nox.session(python=False)
def lock(session: nox.Session) -> None:
    """Write versions.lock: the Debian packages of every build, at the versions Debian offers today."""
    _call(session, cli.main, ["lock", *session.posargs])


@nox.session(python=False)
def manifest(session: nox.Session) -> None:
    """Publish multi-arch tags <set> from the pushed <set>-<arch> tags (sets after --)."""
    _call(session, cli.main, ["manifest", *session.posargs])


@nox.session(python=False)
def report(session: nox.Session) -> None:
    """Tabulate recorded build times from the results file."""
    _call(session, cli.main, ["report", *session.posargs])


@nox.session(python=False)
def releases(session: nox.Session) -> None:
    """List upstream's releases of every component, newest first, marking pinned and new ones."""
    _call(session, release_sets.main, ["releases", *session.posargs])


@nox.session(python=False)
def propose(session: nox.Session) -> None:
    """Write a new set of the newest releases into versions.toml (options after --, e.g. --dry-run)."""
    _call(session, release_sets.main, ["propose", *session.posargs])


@nox.session(python=False)
def provision(session: nox.Session) -> None:
    """Install and start Docker, buildx, qemu and the local registry; make base images."""
    _call(session, provisioning.main, session.posargs)


@nox.session(python=False)
def tests(session: nox.Session) -> None:
    """Run the test suite (unit and real-Docker integration tests)."""
    # The integration tests' fixture builds on its own base distribution: make sure it is there too.
    if not session.posargs or any("integration" in arg for arg in session.posargs):
        _call(session, provisioning.main, ["--config", str(FIXTURE_CONFIG), "--dist", "all"])
    session.run(sys.executable, "-m", "pytest", *(session.posargs or ["-ra", "--durations=20", "tests"]))


@nox.session(python=False)
def bench(session: nox.Session) -> None:
    """Measure cold, cross, emulated and rebuild times, memory and sizes in one run (options after --)."""
    _call(session, cli.main, ["bench", *session.posargs])


@nox.session(python=False, name="import")
def import_records(session: nox.Session) -> None:
    """Add build records of other hosts or runs to a results file (files and filters after --)."""
    _call(session, cli.main, ["import", *session.posargs])
