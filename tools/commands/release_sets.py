"""Keep versions.toml up to date: list upstream's releases, propose a new release set.

    python -m tools.release_sets releases [--mirror DIR|URL]
    python -m tools.release_sets propose [--from SET] [--name NAME] [--pin COMPONENT=VERSION] [--dry-run]

``releases`` lists, for each component, the release branches upstream has (its Mercurial
repository, cloned once into ``sources/.hg-cache/`` and pulled on later runs, or with ``--mirror``
the archives of a source mirror), newest first, marking those a set pins and those newer than every
pin.  A repository that cannot be read is one line; the others are listed; the exit code is then 1.

``propose`` writes a new set after the newest one: the newest Orthanc and each plugin's newest
release (or the versions ``--pin`` gives), base and platforms copied from ``--from`` (default: the
newest set).  It reads what each plugin release builds against from its sources and refuses a set
that cannot build; it inserts the table without touching a byte of the rest of the file, validates
the result, prints the plan of its builds and the commands that build, test and publish it.
``--dry-run`` prints the diff instead of writing.  Errors are one line, exit code 2, nothing written.
"""

from __future__ import annotations

import argparse
import contextlib
import difflib
import io
import os
import sys
import tempfile
import tomllib
from pathlib import Path

from packaging.version import Version

from ..configuration import config
from ..planning import releases
from ..configuration.config import COMPONENTS, ConfigError
from ..planning.releases import ReleaseError
from ..errors import CAUGHT, FatalError, Parser, UsageError, tell
from ..paths import DEFAULT_CONFIG, DEFAULT_SOURCES
from ..planning.spec import BuildRequest
from . import plan as plan_command

EXIT_ERROR = 2
EXIT_UNREACHABLE = 1


def make_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="python -m tools.release_sets",
                        description="List upstream's releases of the components; propose a new release set.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--config", type=Path, default=DEFAULT_CONFIG,
                       help="versions file (default: %(default)s)")
        p.add_argument("--mirror", metavar="DIR|URL",
                       help="read the archive names (and sources) of this source mirror instead of "
                            "upstream's Mercurial repositories")
        p.add_argument("--sources-dir", type=Path, default=DEFAULT_SOURCES,
                       help="where the Mercurial clones are cached, under .hg-cache/ (default: %(default)s)")

    p = sub.add_parser("releases", help="list each component's releases, newest first, marking pins and news")
    common(p)
    p = sub.add_parser("propose", help="write a new set of the newest releases into versions.toml")
    common(p)
    p.add_argument("--from", dest="from_set", metavar="SET",
                   help="copy base and platforms from this set (default: the newest set)")
    p.add_argument("--name", help="the new set's name (default: its Orthanc version)")
    p.add_argument("--pin", action="append", default=[], metavar="COMPONENT=VERSION",
                   help="propose this release rather than the newest (repeatable)")
    p.add_argument("--dry-run", action="store_true", help="print the diff, write nothing")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = make_parser().parse_args(argv)
    try:
        return {"releases": cmd_releases, "propose": cmd_propose}[args.command](args)
    except CAUGHT as exc:
        code = tell(exc)
        return EXIT_ERROR if isinstance(exc, OSError) else code


def _source(args) -> releases.Mirror | releases.Mercurial:
    if args.mirror is not None:
        if not args.mirror.strip():
            raise UsageError("--mirror: empty location")
        return releases.Mirror(args.mirror)
    return releases.Mercurial(args.sources_dir / ".hg-cache")


def _listing(source, component) -> list[str]:
    """The component's release versions, newest first (ReleaseError when unreachable)."""
    return releases.branch_versions(source.branches(component), component.branch_template)


# --- releases -------------------------------------------------------------------------------


def cmd_releases(args) -> int:
    cfg = config.load(args.config)
    source = _source(args)
    unreachable = 0
    listings = releases.each(lambda name: _listing(source, cfg.components[name]), COMPONENTS)
    for name, versions in zip(COMPONENTS, listings):
        component = cfg.components[name]
        if isinstance(versions, ReleaseError):
            print(f"{name}: {versions}")
            unreachable += 1
            continue
        pinned = releases.pins(cfg, name)
        print(f"{name} ({source.describe(component)}, {component.branch('*')}): "
              f"{len(versions)} release{'s' if len(versions) != 1 else ''}")
        width = max((len(v) for v in versions), default=0)
        for item in releases.mark(versions, pinned):
            notes = []
            if item.sets:
                notes.append(f"pinned by {', '.join(item.sets)}")
            if item.newer:
                notes.append("new: newer than every pin")
            print(f"  {item.version:<{width}}  {'; '.join(notes)}".rstrip())
        missing = releases.missing_pins(versions, pinned)
        if missing:
            listed = ", ".join(f"{v} (set{'s' if len(sets) > 1 else ''} {', '.join(sets)})"
                               for v, sets in missing.items())
            print(f"  pinned but not found there: {listed}")
    return EXIT_UNREACHABLE if unreachable else 0


# --- propose --------------------------------------------------------------------------------


def _pins(values: list[str]) -> dict[str, str]:
    result = {}
    for value in values:
        component, sep, version = value.partition("=")
        if not sep or component not in COMPONENTS:
            raise UsageError(f"--pin {value!r}: want COMPONENT=VERSION, COMPONENT one of {', '.join(COMPONENTS)}")
        if not config.VERSION_RE.fullmatch(version):
            raise UsageError(f"--pin {value!r}: malformed version (want digits and dots, e.g. 1.12.7)")
        if component in result:
            raise UsageError(f"--pin: {component} given twice")
        result[component] = version
    return result


def _same(a: str, b: str) -> bool:
    return Version(a) == Version(b)


def cmd_propose(args) -> int:
    cfg = config.load(args.config)
    wanted = _pins(args.pin)
    template_set = cfg.release_set(args.from_set) if args.from_set else cfg.sorted_sets()[-1]
    newest = cfg.sorted_sets()[-1]
    original = args.config.read_bytes()
    text = original.decode("utf-8")
    source = _source(args)

    chosen: dict[str, str] = {}
    listed: dict[str, list[str]] = {}
    unreachable: dict[str, str] = {}
    listings = releases.each(lambda name: _listing(source, cfg.components[name]), COMPONENTS)
    for name, versions in zip(COMPONENTS, listings):
        component = cfg.components[name]
        if versions == []:
            versions = ReleaseError(f"no branch {component.branch('*')} in {source.describe(component)}")
        if isinstance(versions, ReleaseError):
            unreachable[name] = str(versions)
            chosen[name] = wanted.get(name, template_set.pins[name].version)
            continue
        listed[name] = versions
        if name in wanted:
            match = next((v for v in versions if _same(v, wanted[name])), None)
            if match is None:
                raise ReleaseError(f"--pin {name}={wanted[name]}: no such release in "
                                   f"{source.describe(component)} (newest: {', '.join(versions[:5])})")
            chosen[name] = match
        else:
            chosen[name] = versions[0]
    if len(unreachable) == len(COMPONENTS):
        raise ReleaseError("no component's releases could be read: " + "; ".join(
            f"{n}: {r}" for n, r in unreachable.items()))

    already = [s for s in cfg.sorted_sets() if all(_same(s.pins[c].version, chosen[c]) for c in COMPONENTS)]
    if already:
        what = "the newest release of every component" if not wanted else "these releases"
        if unreachable:
            what += " that could be read"
        print(f"set {already[-1].name} already pins {what}: nothing to propose")
        _report_unreachable(unreachable, chosen)
        return 0

    set_name = args.name or chosen["orthanc"]
    key = config._normalised(set_name)
    clash = next((s for s in cfg.sets if config._normalised(s) == key), None)
    if clash is not None:
        hint = "choose another --name" if args.name else "name the new set with --name"
        raise ReleaseError(f"set '{clash}' exists already and pins other versions: {hint}")

    # What each plugin release builds against, read from its sources.
    needs: dict[str, tuple[str, releases.Requirement | None]] = {}
    unread: dict[str, str] = {}
    plugins = [name for name in COMPONENTS[1:] if name not in unreachable]
    found = releases.each(lambda name: _requirement(source, cfg.components[name], chosen[name]), plugins)
    for name, requirement in zip(plugins, found):
        if isinstance(requirement, ReleaseError):
            unread[name] = str(requirement)
        else:
            needs[name] = (chosen[name], requirement)
    problems = releases.conflicts(chosen["orthanc"], needs)
    if problems:
        hints = _compatible_pins(cfg, source, chosen["orthanc"], needs, listed)
        raise ReleaseError("refused, this set cannot build: " + "; ".join(problems)
                           + (f" (the newest releases that build with it: {' '.join(hints)})" if hints else ""))

    newline = "\r\n" if "\r\n" in text else "\n"
    table = releases.table_text(set_name, template_set.base,
                                _explicit_platforms(text, template_set), chosen, newline)
    new_text = releases.insert_set(text, newest.name, set_name, table)

    with tempfile.TemporaryDirectory(prefix="orthanc-proposal-") as tmp:
        candidate = Path(tmp) / args.config.name
        candidate.write_bytes(new_text.encode("utf-8"))
        try:
            new_cfg = config.load(candidate)
        except ConfigError as exc:
            raise ReleaseError(f"the proposal does not validate: {exc}") from None
        new_cfg.release_set(set_name)
        plan = io.StringIO()  # made before anything is written
        try:
            with contextlib.redirect_stdout(plan):
                plan_command.run(plan_command.PlanRequest((set_name,), build=BuildRequest(config=candidate)))
        except FatalError as exc:
            raise ReleaseError(f"the plan of set {set_name} failed: {exc}") from None

        print(f"Proposed set {set_name} (after set {newest.name}; base {template_set.base} "
              f"from set {template_set.name}):")
        for name in COMPONENTS:
            note = ""
            if name in unreachable:
                note = f"  (kept from set {template_set.name}: {unreachable[name]})" \
                    if name not in wanted else f"  (as pinned, unchecked: {unreachable[name]})"
            elif name in unread:
                note = f"  (compatibility not checked: {unread[name]})"
            elif name in needs:
                requirement = needs[name][1]
                note = (f"  (builds against Orthanc {requirement.version} or newer: {requirement.where})"
                        if requirement else "  (states no Orthanc version it needs: not checked)")
            print(f"  {name:<10} {chosen[name]}{note}")
        _report_unreachable(unreachable, chosen, unread)

        shown = args.config.name
        if args.dry_run:
            print()
            sys.stdout.writelines(difflib.unified_diff(
                text.splitlines(keepends=True), new_text.splitlines(keepends=True),
                fromfile=f"a/{shown}", tofile=f"b/{shown}"))
            print(f"\n(dry run: {args.config} not written)")
        else:
            _write(args.config, original, new_text)
            print(f"\n{args.config}: set {set_name} added")
    print(f"\nPlan of set {set_name} (nox -s plan -- {set_name}):")
    print(plan.getvalue(), end="")
    print("\nNext: build, smoke-test and publish it:")
    for line in next_steps(new_cfg, set_name):
        print(f"  {line}")
    return 0


def _requirement(source, component, version: str) -> releases.Requirement | None:
    """What a plugin release builds against, read from its sources (ReleaseError when unreadable)."""
    files = source.files(component, component.branch(version))
    return releases.read_requirement(files, component.subdir)


def _compatible_pins(cfg, source, orthanc: str, needs, listed: dict[str, list[str]]) -> list[str]:
    """For each plugin whose chosen release needs a newer Orthanc: the newest older release that
    builds with ``orthanc``, as a --pin option (releases whose sources cannot be read are skipped)."""
    hints = []
    for name, (version, requirement) in needs.items():
        if requirement is None or Version(requirement.version) <= Version(orthanc):
            continue
        component = cfg.components[name]
        for older in listed[name]:
            if Version(older) >= Version(version):
                continue
            try:
                found = _requirement(source, component, older)
            except ReleaseError:
                continue
            if found is None or Version(found.version) <= Version(orthanc):
                hints.append(f"--pin {name}={older}")
                break
    return hints


def _report_unreachable(unreachable: dict[str, str], chosen: dict[str, str],
                        unread: dict[str, str] | None = None) -> None:
    for name, reason in unreachable.items():
        print(f"warning: {name}: {reason}; {name} {chosen[name]} is not checked", file=sys.stderr)
    for name, reason in (unread or {}).items():
        print(f"warning: {name} {chosen[name]}: {reason}; what it builds against is not checked",
              file=sys.stderr)


def _explicit_platforms(text: str, release) -> list[str] | None:
    """The template set's platforms if its table lists them, else None (every platform)."""
    table = tomllib.loads(text)["sets"][release.name]
    return list(table["platforms"]) if "platforms" in table else None


def _write(path: Path, original: bytes, new_text: str) -> None:
    """Replace the file at once, unless someone changed it meanwhile."""
    if path.read_bytes() != original:
        raise ReleaseError(f"{path} changed while the proposal was made: run again")
    tmp = path.with_name(f".{path.name}.proposal-{os.getpid()}")
    try:
        tmp.write_bytes(new_text.encode("utf-8"))
        os.chmod(tmp, path.stat().st_mode & 0o7777)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def next_steps(cfg: config.Config, set_name: str) -> list[str]:
    release = cfg.release_set(set_name)
    steps = ["nox -s validate"]
    for arch in release.platforms:
        steps.append(f"nox -s build-{set_name}-{arch}")
    for arch in release.platforms:
        steps.append(f"nox -s smoke-{set_name}-{arch}")
    for arch in release.platforms:
        steps.append(f"nox -s build-{set_name}-{arch} -- --push")
    steps.append(f"nox -s manifest -- {set_name}")
    return steps

