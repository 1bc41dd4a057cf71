"""Command line behind the nox sessions: ``python -m tools <command> ...``: the parser and the dispatch.

Every nox session calls ``main`` with its own arguments followed by the
session's posargs, so ``nox -s build-1.9.0-armv7 -- --push --no-cache`` and
``python -m tools build --set 1.9.0 --platform armv7 --push --no-cache`` are
the same thing.  Each command is a module of ``tools.commands`` taking a typed
request; errors in the input are one line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from .commands import (bench as bench_command, build, importing, lock, plan, publish, report as report_command,
                       reproduce, smoke, validate)
from .commands.report import ReportRequest, Selection
from .configuration import config as config_mod
from .errors import CAUGHT, Parser, UsageError, tell
from .paths import CHART, DEFAULT_CONFIG, DEFAULT_DOCKERFILE, DEFAULT_SOURCES, REFERENCE, ROOT, TIMELINE
from .planning import sources
from .planning.spec import SEQUENTIAL, BuildRequest, request_from
from .reporting import report
from .running import bench


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"'{text}' is not a whole number of at least 1")
    return value


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG, help="versions file (default: %(default)s)")
    parser.add_argument("--registry", help="registry host[:port] for the images (default: versions.toml)")
    parser.add_argument("--namespace", help="namespace under the registry (default: versions.toml)")
    parser.add_argument("--dry-run", action="store_true", help="print the commands, run nothing")


def _build_parser(sub) -> None:
    p = sub.add_parser("build", help="build images of one release set", description=(
        "Build the images of one release set with docker buildx. Options after `--` "
        "of a nox build session land here."))
    p.add_argument("--set", dest="set_name", help="release set (default: settings.default_set)")
    p.add_argument("--platform", action="append", dest="platforms", metavar="ARCH",
                   help="platform name from versions.toml, repeatable (default: the host's)")
    p.add_argument("--image", action="append", dest="images", metavar="IMAGE",
                   choices=config_mod.IMAGES, help="orthanc or orthanc-plugins, repeatable (default: both)")
    p.add_argument("--default-image", action="store_true",
                   help="build only settings.default_image unless --image is given")
    p.add_argument("--together", action="store_true",
                   help="all platforms in one buildx call, tagged <set>")
    p.add_argument("--sequential", action="store_true",
                   help="compile one component stage at a time (the same as --max-parallel 1)")
    p.add_argument("--max-parallel", type=_positive, metavar="N",
                   help="compile at most N component stages at once, then assemble the image from the cache")
    p.add_argument("--jobs", type=_positive, metavar="N",
                   help="parallel compile jobs within a stage (make -j N; default: the processors shared "
                        "among --max-parallel stages, else all; -sequential sessions: 1); never invalidates "
                        "the build cache")
    p.add_argument("--memory-budget", metavar="SIZE",
                   help="start a component stage only while the recorded memory of those running fits, e.g. 3GiB")
    p.add_argument("--stage", action="append", dest="stages", metavar="STAGE",
                   help="build only this stage of the image into the cache (repeatable; scheduled like the rest)")
    p.add_argument("--static", action="store_true",
                   help="Orthanc's static build (its own copies of DCMTK, Boost, ..., downloaded from Orthanc's "
                        "servers while compiling) instead of the distribution's libraries; needs the internet")
    p.add_argument("--toolchain", choices=config_mod.TOOLCHAINS,
                   help="the compilers: gcc (Debian's) or clang (one compiler for every platform, as fast "
                        "cross-compiling as native); default: settings.toolchain")
    p.add_argument("--without", action="append", metavar="PLUGIN", choices=config_mod.COMPONENTS[1:],
                   help="leave this plugin out of orthanc-plugins, e.g. when its source cannot be had "
                        "(repeatable; recorded and labelled on the image)")
    p.add_argument("--no-cache-filter", metavar="STAGES",
                   help="comma-separated stages to build even when cached")
    p.add_argument("--emulate", action="store_true",
                   help="compile on the target platform (under qemu when foreign) instead of cross-compiling")
    p.add_argument("--push", action="store_true", help="push to the registry instead of loading into docker")
    p.add_argument("--reproducible", action="store_true",
                   help="export an OCI archive with every time stamp set to the sources' date and a provenance "
                        "attestation, then load or push the image from it (same set, same digest)")
    p.add_argument("--no-cache", action="store_true", help="do not use the build cache")
    p.add_argument("--cache-registry", action="store_true",
                   help="share the build cache through the registry (<namespace>/build-cache:<image>-<set>-<arch>)")
    p.add_argument("--builder", metavar="NAME", help="buildx builder to use (default: the current one)")
    p.add_argument("--base-registry", help="where base images come from (default: versions.toml)")
    p.add_argument("--dockerfile", type=Path, default=DEFAULT_DOCKERFILE, help="(default: %(default)s)")
    p.add_argument("--context", type=Path, help="build context (default: the Dockerfile's folder)")
    p.add_argument("--results", type=Path, help="results file (default: settings.results)")
    _source_options(p)
    _common(p)


def _source_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--source", dest="source_order",
                   help="source providers to try, comma-separated, in order "
                        f"(default: settings.sources, else {','.join(sources.DEFAULT_ORDER)})")
    p.add_argument("--mirror", metavar="DIR|URL",
                   help=f"source mirror of <Branch>.tar.gz archives and {sources.SUMS} "
                        f"(default: ${sources.MIRROR_ENV}, else settings.mirror)")
    p.add_argument("--sources-dir", type=Path, default=DEFAULT_SOURCES,
                   help="where fetched sources are kept (default: %(default)s)")


def make_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="python -m tools", description="Orthanc image builds.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    _build_parser(sub)

    p = sub.add_parser("plan", help="print the buildx command of every build session, or its resolved specs")
    p.add_argument("sets", nargs="*", help="only these sets")
    p.add_argument("--format", choices=plan.FORMATS, default="plain",
                   help="plain: the buildx commands; json: every build's resolved spec (default: %(default)s)")
    p.add_argument("--base-registry")
    p.add_argument("--dockerfile", type=Path, default=DEFAULT_DOCKERFILE)
    _source_options(p)
    _common(p)

    p = sub.add_parser("manifest", help="publish multi-arch tags <set> from pushed <set>-<arch> tags")
    p.add_argument("sets", nargs="*", help="sets to publish (default: every set with images in the registry)")
    p.add_argument("--image", action="append", dest="images", choices=config_mod.IMAGES)
    _common(p)

    p = sub.add_parser("smoke", help="start built images and check them over the REST API")
    p.add_argument("--set", dest="set_name", help="release set (default: settings.default_set)")
    p.add_argument("--platform", help="platform name (default: the host's)")
    p.add_argument("--image", action="append", dest="images", choices=config_mod.IMAGES,
                   help="image(s) to test (default: those present locally)")
    p.add_argument("--timeout", type=float, help="seconds to wait for Orthanc (default: 120, 900 emulated)")
    _common(p)

    p = sub.add_parser("reproduce", help="rebuild an image from nothing and compare its digest with the recorded one",
                       description="Build one image of one set and platform with no build cache and its compiler "
                                   "caches emptied, as a --reproducible build, and compare its manifest digest "
                                   "with the last reproducible build's (with none recorded: build twice); on a "
                                   "difference, list the layers and files that differ.  Exit 1 when they differ.")
    p.add_argument("--set", dest="set_name", help="release set (default: settings.default_set)")
    p.add_argument("--platform", help="platform name (default: the host's)")
    p.add_argument("--image", choices=config_mod.IMAGES, help="image (default: settings.default_image)")
    p.add_argument("--keep-compiler-cache", action="store_true", help="do not empty the compiler caches first")
    p.add_argument("--dockerfile", type=Path, default=DEFAULT_DOCKERFILE, help="(default: %(default)s)")
    p.add_argument("--results", type=Path, help="results file (default: settings.results)")
    _source_options(p)
    _common(p)

    p = sub.add_parser("report", help="tabulate recorded builds")
    p.add_argument("--config", type=Path, default=DEFAULT_CONFIG)
    p.add_argument("--results", type=Path, action="append", help="results file(s) (default: settings.results)")
    p.add_argument("--format", choices=report.FORMATS, default="plain")
    p.add_argument("--set", action="append", dest="sets")
    p.add_argument("--image", action="append", dest="images")
    p.add_argument("--platform", action="append", dest="platforms")
    p.add_argument("--host", action="append", dest="hosts")
    p.add_argument("--cold", action="store_true", help="only builds made without the build cache (--no-cache)")
    p.add_argument("--since", metavar="DATE", help="builds that ended on or after DATE (YYYY-MM-DD[THH:MM])")
    p.add_argument("--until", metavar="DATE", help="builds that ended on or before DATE (a date: the whole day)")
    p.add_argument("--view", choices=report_command.VIEWS, default="times",
                   help="times: the build-time table; stages: the latest build's stages and critical path; "
                        "sequential: sequential against parallel; sizes: image sizes; digests: each image's latest digest; "
                        "bench: the latest bench run")
    p.add_argument("--chart", type=Path, metavar="PNG",
                   help="also draw a PNG: the build-time chart; with --view stages the timeline of that build "
                        "(stages, jobs, memory in use); with --view bench the bench run's timeline")
    p.add_argument("--html", type=Path, metavar="FILE",
                   help="also write one self-contained HTML page: build-time table and chart, the timeline of "
                        "one build (the default set's latest cold orthanc-plugins build, else the latest cold "
                        "build, else the latest), the latest bench run")
    p.add_argument("--readme", type=Path, nargs="?", const=ROOT / "README.md", metavar="FILE",
                   help=f"write the build-time table of {REFERENCE.relative_to(ROOT)} into FILE's generated "
                        f"block (default: README.md) and draw {CHART.relative_to(ROOT)} and "
                        f"{TIMELINE.relative_to(ROOT)}")

    p = sub.add_parser("import", help="add another host's (or run's) build records to a results file")
    p.add_argument("files", nargs="+", type=Path, help="results files to import from")
    p.add_argument("--into", type=Path, default=REFERENCE,
                   help="results file to add to (default: %(default)s, the records behind the README's table)")
    p.add_argument("--set", action="append", dest="sets")
    p.add_argument("--image", action="append", dest="images")
    p.add_argument("--platform", action="append", dest="platforms")
    p.add_argument("--host", action="append", dest="hosts")
    p.add_argument("--since", metavar="DATE")
    p.add_argument("--until", metavar="DATE")
    p.add_argument("--bench", choices=("latest",), help="only the records of the latest bench run")
    p.add_argument("--part", choices=bench.PARTS, help="only the records of this bench part")
    p.add_argument("--cold", action="store_true", help="only builds made without the build cache")

    p = sub.add_parser("bench", help="measure build times, rebuilds, memory and sizes side by side", description=(
        "Run the performance figures as ordinary builds, recorded in the results file, and print the "
        "table (again later: report --view bench)."))
    p.add_argument("--set", dest="set_name", help="release set (default: settings.default_set)")
    p.add_argument("--image", choices=config_mod.IMAGES, action="append", dest="images",
                   help="image to measure (default: settings.default_image); repeatable: the cold part builds "
                        "each, the other parts measure the last")
    p.add_argument("--platform", action="append", dest="platforms", metavar="ARCH",
                   help="platforms built natively or cross-compiled (default: the set's)")
    p.add_argument("--emulate", action="append", metavar="ARCH", default=None,
                   help="also build this foreign platform cold under emulation (repeatable; "
                        "default: every foreign platform; 'none' for none)")
    p.add_argument("--parts", default=",".join(bench.PARTS),
                   help="comma-separated parts to run, in their fixed order (default: %(default)s)")
    p.add_argument("--runs", type=_positive, default=3, help="repetitions of the short parts (default: %(default)s)")
    p.add_argument("--bump", help="component whose source the bump part changes (default: the image's last)")
    p.add_argument("--memory-stage", action="append", dest="memory_stages", metavar="STAGE",
                   help="stages the memory part compiles (default: the image's component stages)")
    p.add_argument("--memory-budget", default="3GiB", help="budget of the memory part (default: %(default)s)")
    p.add_argument("--toolchain", choices=config_mod.TOOLCHAINS,
                   help="the compilers of every build (default: settings.toolchain)")
    p.add_argument("--results", type=Path, help="results file (default: settings.results)")
    p.add_argument("--dry-run", action="store_true", help="print the builds, run nothing")
    p.add_argument("--config", type=Path, default=DEFAULT_CONFIG)
    p.add_argument("--sources-dir", type=Path, default=DEFAULT_SOURCES)

    p = sub.add_parser("lock", help="write versions.lock: the Debian packages of every build, at today's versions",
                       description="For each distribution a release set builds on, ask apt in its base image "
                                   "what every stage of the Dockerfile installs, for every platform, and write "
                                   "the versions into versions.lock beside versions.toml; builds then install "
                                   "exactly those.")
    p.add_argument("distributions", nargs="*", help="only these distributions (default: every one a set uses)")
    p.add_argument("--base-registry", help="where the base images are (default: settings.base_registry)")
    p.add_argument("--dockerfile", type=Path, default=DEFAULT_DOCKERFILE, help="(default: %(default)s)")
    p.add_argument("--config", type=Path, default=DEFAULT_CONFIG)
    p.add_argument("--dry-run", action="store_true", help="say what would be locked, run nothing")

    p = sub.add_parser("validate", help="check versions.toml and print the matrix")
    p.add_argument("--config", type=Path, default=DEFAULT_CONFIG)

    return parser


def _providers(text: str) -> list[str]:
    """``--source a,b``: the providers in order."""
    return [p.strip() for p in text.split(",") if p.strip()]


def build_request(args: argparse.Namespace) -> BuildRequest:
    """The build options as a request: lists split, ``--sequential`` as the limits it stands for."""
    values = dict(vars(args))
    if values.get("no_cache_filter") is not None:
        values["no_cache_filter"] = values["no_cache_filter"].split(",")
    if values.get("source_order") is not None:
        values["source_order"] = _providers(values["source_order"])
    if values.pop("sequential", False):
        if values.get("max_parallel") not in (None, 1):
            raise UsageError(f"--sequential means --max-parallel 1, not {values['max_parallel']}")
        values = {**values, **SEQUENTIAL, "jobs": values.get("jobs") or SEQUENTIAL["jobs"]}
    return request_from(values)


def _selection(args: argparse.Namespace) -> Selection:
    return Selection(sets=args.sets, images=args.images, platforms=args.platforms, hosts=args.hosts,
                     since=args.since, until=args.until, cold=args.cold)


def _registry(args: argparse.Namespace) -> dict:
    return dict(registry=args.registry, namespace=args.namespace, config=args.config, dry_run=args.dry_run)


def dispatch(args: argparse.Namespace) -> int:
    """Run the command the arguments name, with its request."""
    command = args.command
    if command == "build":
        return build.run(build_request(args))
    if command == "plan":
        return plan.run(plan.PlanRequest(sets=tuple(args.sets), format=args.format, build=build_request(args)))
    if command == "manifest":
        return publish.run(publish.PublishRequest(**_registry(args), sets=tuple(args.sets),
                                                  images=tuple(args.images or ())))
    if command == "smoke":
        return smoke.run(smoke.SmokeRequest(**_registry(args), set_name=args.set_name, platform=args.platform,
                                            images=tuple(args.images or ()), timeout=args.timeout))
    if command == "reproduce":
        return reproduce.run(reproduce.ReproduceRequest(
            **_registry(args), set_name=args.set_name, platform=args.platform, image=args.image,
            keep_compiler_cache=args.keep_compiler_cache, dockerfile=args.dockerfile, results=args.results,
            sources_dir=args.sources_dir, mirror=args.mirror,
            source_order=None if args.source_order is None else tuple(_providers(args.source_order))))
    if command == "report":
        return report_command.run(ReportRequest(
            results=tuple(args.results or ()), format=args.format, view=args.view, selection=_selection(args),
            chart=args.chart, html=args.html, readme=args.readme, config=args.config))
    if command == "import":
        return importing.run(importing.ImportRequest(files=tuple(args.files), into=args.into,
                                                     selection=_selection(args), latest_bench=args.bench == "latest",
                                                     part=args.part))
    if command == "bench":
        return bench_command.run(bench_command.BenchRequest(
            set_name=args.set_name, images=tuple(dict.fromkeys(args.images or ())),
            platforms=tuple(args.platforms or ()),
            emulate=None if args.emulate is None else tuple(args.emulate),
            parts=tuple(p.strip() for p in args.parts.split(",") if p.strip()), runs=args.runs, bump=args.bump,
            memory_stages=tuple(args.memory_stages or ()), memory_budget=args.memory_budget, results=args.results,
            config=args.config, sources_dir=args.sources_dir, dry_run=args.dry_run, toolchain=args.toolchain))
    if command == "lock":
        return lock.run(lock.LockRequest(distributions=tuple(args.distributions), config=args.config,
                                         dockerfile=args.dockerfile, base_registry=args.base_registry,
                                         dry_run=args.dry_run))
    return validate.run(args.config)


def main(argv: list[str] | None = None) -> int:
    args = make_parser().parse_args(argv)
    try:
        return dispatch(args)
    except CAUGHT as exc:
        return tell(exc)
