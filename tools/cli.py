"""Command line behind the nox sessions: ``python -m tools <command> ...``.

Every nox session calls ``main`` with its own arguments followed by the
session's posargs, so ``nox -s build-1.9.0-armv7 -- --push --no-cache`` and
``python -m tools build --set 1.9.0 --platform armv7 --push --no-cache`` are
the same thing.  Errors in the input are one line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import json
import re
import secrets
import shlex
import subprocess
import sys
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

from .running import bench, machine as host, images, results, runner, smoke
from .planning import buildx, dockerfile, schedule, sources
from .configuration import config as config_mod, matrix
from .publishing import manifest
from .reporting import report
from .publishing.credentials import login_from_environment
from .errors import CAUGHT, EXIT_USAGE, UsageError, tell

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG = ROOT / "versions.toml"
DEFAULT_DOCKERFILE = ROOT / "dockerfiles" / "Dockerfile"
DEFAULT_SOURCES = ROOT / "sources"
#: Build records behind the README's build-time table (committed).
REFERENCE = ROOT / "docs" / "build-times.jsonl"
CHART = REFERENCE.with_suffix(".png")
VIEWS = ("times", "stages", "sequential", "sizes", "bench")


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (the usage stays in --help)."""

    def error(self, message: str):
        self.exit(EXIT_USAGE, f"error: {self.prog}: {message} (see --help)\n")


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
    p.add_argument("--without", action="append", metavar="PLUGIN", choices=config_mod.COMPONENTS[1:],
                   help="leave this plugin out of orthanc-plugins, e.g. when its source cannot be had "
                        "(repeatable; recorded and labelled on the image)")
    p.add_argument("--no-cache-filter", metavar="STAGES",
                   help="comma-separated stages to build even when cached")
    p.add_argument("--bench", help=argparse.SUPPRESS)  # id|part|run|label, set by the bench command
    p.add_argument("--emulate", action="store_true",
                   help="compile on the target platform (under qemu when foreign) instead of cross-compiling")
    p.add_argument("--push", action="store_true", help="push to the registry instead of loading into docker")
    p.add_argument("--no-cache", action="store_true", help="do not use the build cache")
    p.add_argument("--cache-registry", action="store_true",
                   help="share the build cache through the registry (<namespace>/build-cache:<image>-<arch>)")
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

    p = sub.add_parser("plan", help="print the buildx command of every build session")
    p.add_argument("sets", nargs="*", help="only these sets")
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
    p.add_argument("--view", choices=VIEWS, default="times",
                   help="times: the build-time table; stages: the latest build's stages and critical path; "
                        "sequential: sequential against parallel; sizes: image sizes; bench: the latest bench run")
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
                        f"{CHART.with_name('build-timeline.png').relative_to(ROOT)}")

    p = sub.add_parser("import", help="add another host's (or run's) build records to a results file")
    p.add_argument("files", nargs="+", type=Path, help="results files to import from")
    p.add_argument("--into", type=Path, default=REFERENCE,
                   help="results file to add to (default: %(default)s, the records behind the README's table)")
    p.add_argument("--config", type=Path, default=DEFAULT_CONFIG)
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
    p.add_argument("--image", choices=config_mod.IMAGES, help="image to measure (default: settings.default_image)")
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
    p.add_argument("--results", type=Path, help="results file (default: settings.results)")
    p.add_argument("--dry-run", action="store_true", help="print the builds, run nothing")
    p.add_argument("--config", type=Path, default=DEFAULT_CONFIG)
    p.add_argument("--sources-dir", type=Path, default=DEFAULT_SOURCES)

    p = sub.add_parser("validate", help="check versions.toml and print the matrix")
    p.add_argument("--config", type=Path, default=DEFAULT_CONFIG)

    return parser


def main(argv: list[str] | None = None) -> int:
    parser = make_parser()
    args = parser.parse_args(argv)
    try:
        handler = {
            "build": cmd_build,
            "plan": cmd_plan,
            "manifest": cmd_manifest,
            "report": cmd_report,
            "smoke": cmd_smoke,
            "validate": cmd_validate,
            "bench": cmd_bench,
            "import": cmd_import,
        }[args.command]
        return handler(args)
    except CAUGHT as exc:
        return tell(exc)


# --- helpers at the edges -------------------------------------------------------


def git(*args: str) -> str:
    try:
        return subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""


def is_docker_context(name: str) -> bool:
    try:
        return subprocess.run(["docker", "context", "inspect", name], capture_output=True).returncode == 0
    except OSError:
        return False


def public_url(url: str) -> str:
    """The repository URL fit for an image label: a network URL without credentials, else ''."""
    url = re.sub(r"//[^/@]*@", "//", url)  # never record credentials
    return url if re.match(r"^(https?|ssh|git)://", url) else ""


def source_url() -> str:
    return public_url(git("config", "--get", "remote.origin.url"))


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _target(cfg, args) -> tuple[str, str]:
    """Registry and namespace: the command line's, else versions.toml's."""
    registry = cfg.settings.registry if args.registry is None else args.registry
    namespace = cfg.settings.namespace if args.namespace is None else args.namespace
    return registry, namespace


def _options(cfg, args, build_contexts=None) -> buildx.Options:
    dockerfile_path = args.dockerfile.resolve()
    if not dockerfile_path.is_file():
        raise UsageError(f"{args.dockerfile}: no such Dockerfile")
    context = getattr(args, "context", None) or dockerfile_path.parent
    builder = getattr(args, "builder", None)
    docker_context = builder if builder and is_docker_context(builder) else None
    registry, namespace = _target(cfg, args)
    return buildx.Options(
        registry=registry,
        namespace=namespace,
        base_registry=cfg.settings.base_registry if args.base_registry is None else args.base_registry,
        dockerfile=dockerfile_path,
        context=Path(context).resolve(),
        push=getattr(args, "push", False),
        no_cache=getattr(args, "no_cache", False),
        no_cache_filter=tuple(x for x in (getattr(args, "no_cache_filter", None) or "").split(",") if x),
        builder=None if docker_context else builder,
        docker_context=docker_context,
        emulate=getattr(args, "emulate", False),
        static=getattr(args, "static", False),
        cache_registry=getattr(args, "cache_registry", False),
        revision=git("rev-parse", "HEAD") or "unknown",
        source_url=source_url(),
        build_contexts=build_contexts or {},
    )


def _check_static(set_name: str, options: buildx.Options, dry_run: bool) -> None:
    """A static build downloads third-party code while compiling: fail now, not an hour in."""
    tree = options.build_contexts.get(sources.context_name("orthanc"))
    url = sources.third_party_url(Path(tree)) if tree and Path(tree).is_dir() else None
    if url is None:
        if dry_run:
            return
        raise UsageError(f"--static: set '{set_name}': no third-party download URL in the Orthanc source")
    reason = None if dry_run else sources.reachable(url + "/")
    if reason:
        raise UsageError(f"--static: set '{set_name}': the static build downloads third-party code from {url}, "
                         f"which is not reachable ({reason}); build against the distribution's libraries "
                         "(leave out --static) or where that server can be reached")
    print(f"    static build: third-party code from {url}", flush=True)


def _check_overrides(args) -> None:
    """The values given on the command line, checked as strictly as versions.toml's, before anything runs."""
    registry = getattr(args, "registry", None)
    if registry and not config_mod.REGISTRY_RE.fullmatch(registry):
        raise UsageError(f"--registry: malformed registry {registry!r} (want host[:port])")
    namespace = getattr(args, "namespace", None)
    if namespace and not config_mod.REPO_PATH_RE.fullmatch(namespace):
        raise UsageError(f"--namespace: malformed namespace {namespace!r}")
    base_registry = getattr(args, "base_registry", None)
    if base_registry:
        problem = config_mod.base_registry_problem(base_registry)
        if problem:
            raise UsageError(f"--base-registry: {problem}")
    if getattr(args, "set_name", None) == "":
        raise UsageError("--set: empty set name (leave the option out for settings.default_set)")
    if getattr(args, "memory_budget", None) == "":
        raise UsageError("--memory-budget: empty size (e.g. 3GiB; leave the option out for no budget)")
    no_cache_filter = getattr(args, "no_cache_filter", None)
    if no_cache_filter is not None:
        _check_stage_names(args.dockerfile, no_cache_filter.split(","), "--no-cache-filter")
    if getattr(args, "stages", None):  # whether they are stages of the image is checked with its plan
        _check_stage_names(args.dockerfile, args.stages, "--stage")
    results_file = getattr(args, "results", None)
    if isinstance(results_file, Path):
        _check_results_file(results_file, "--results")


def _check_stage_names(dockerfile_path: Path, names: list[str], option: str) -> None:
    """Every name is a stage of the Dockerfile (a missing Dockerfile is reported where it is read)."""
    try:
        text = dockerfile_path.read_text()
    except OSError:
        return
    known = [stage.name for stage in dockerfile.stages(text)[1]]
    for name in names:
        if name not in known:
            raise UsageError(f"{option}: {name!r} is not a stage of {dockerfile_path.name} "
                             f"(its stages: {', '.join(known)})")


def _check_results_file(path: Path, option: str) -> None:
    """A results file to read or append to: a file, or a path where one can be made."""
    problem = results.path_problem(path)
    if problem:
        raise UsageError(f"{option}: {problem}")


# --- commands ---------------------------------------------------------------------


def _limits(args) -> schedule.Limits:
    budget = schedule.parse_size(args.memory_budget) if args.memory_budget is not None else None
    if args.sequential and args.max_parallel not in (None, 1):
        raise UsageError(f"--sequential means --max-parallel 1, not {args.max_parallel}")
    # --sequential is the small-board mode: one stage at a time, one compiler at a time.
    jobs = args.jobs if args.jobs is not None else (1 if args.sequential else None)
    return schedule.Limits(1 if args.sequential else args.max_parallel, budget, jobs)


def _commands(cfg, build, options, plan, limits, log_base: Path, created: str) -> dict[str, list[str]]:
    """The buildx command of each job of a build (one job unless scheduled), printed as well."""
    metadata = log_base.with_name(f"{log_base.name}.metadata.json")
    if plan is None:
        final = buildx.command(cfg, build, options, metadata_file=metadata, created=created)
        print("    " + shlex.join(final), flush=True)
        return {build.image: final}
    commands = {}
    for job in plan.jobs:
        # --no-cache and --no-cache-filter concern the job that builds a stage first; the
        # jobs after it must find that stage in the cache, not build it again.
        wanted = plan.owns[job] if options.no_cache else plan.owns[job] & set(options.no_cache_filter)
        job_options = replace(options, no_cache=False, no_cache_filter=tuple(sorted(wanted)))
        if job == build.image:
            commands[job] = buildx.command(cfg, build, job_options, metadata_file=metadata, created=created)
        else:
            commands[job] = buildx.command(cfg, build, job_options, created=created, stage=job,
                                           metadata_file=log_base.with_name(f"{log_base.name}.{job}.metadata.json"))
    phases = [", ".join(phase) for phase in (plan.shared, plan.components) if phase]
    budget = f", memory budget {limits.memory_budget / 2**30:.1f} GiB" if limits.memory_budget else ""
    print(f"    jobs: {' -> '.join([*phases, *([plan.final] if plan.final else [])])}; "
          f"at most {limits.max_parallel or 'any number'} at once{budget}", flush=True)
    for job_cmd in commands.values():
        print("    " + shlex.join(job_cmd), flush=True)
    return commands


def _record(build, options: buildx.Options, args, host_info: dict, compiler: str) -> dict:
    """What the results file says of a build besides its outcome."""
    record = {
        "set": build.set_name,
        "image": build.image,
        "platforms": list(build.platforms),
        "sequential": build.sequential,
        "tags": buildx.tags(build, options),
        "pushed": options.push,
        "host": host_info,
        "emulated": any(p != host_info["platform"] for p in build.platforms),
        "compiler": compiler,
        "no_cache": options.no_cache,
        "libraries": "static" if options.static else "system",
    }
    if args.stages:
        record["only_stages"] = list(args.stages)
    if args.without and build.image != "orthanc":
        record["without"] = sorted(args.without)
    if args.bench:
        bench_id, part, run, label = args.bench.split("|", 3)
        record["bench"] = {"id": bench_id, "part": part, "run": int(run), "label": label}
    return record


def cmd_build(args) -> int:
    cfg = config_mod.load(args.config)
    _check_overrides(args)
    limits = _limits(args)
    set_name = args.set_name or cfg.settings.default_set
    platforms = args.platforms or (None if args.together else [matrix.host_platform()])
    wanted_images = args.images or ([cfg.settings.default_image] if args.default_image else None)
    builds = matrix.expand(cfg, set_name, platforms, wanted_images, args.sequential, args.together)
    options = _options(cfg, args, _sources(cfg, args, builds))
    if args.static:
        _check_static(cfg.release_set(set_name).name, options, args.dry_run)
    scheduled = limits.bounded or bool(args.stages)
    left_out = [f"{dockerfile.BUILDER_PREFIX}{name}" for name in args.without or []]
    plans = {build.image: schedule.plan(options.dockerfile.read_text(), build.image, args.stages, left_out)
             for build in builds} if scheduled else {}
    if options.push and not args.dry_run and options.registry:
        login_from_environment(options.registry)
    results_file = args.results or cfg.root / cfg.settings.results
    logs = results_file.parent / "logs"
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    host_info = host.describe()
    jobs = limits.compile_jobs(host_info["cores"])
    if jobs is not None:
        options = replace(options, jobs_file=logs / f"{stamp}.jobs")
        if not args.dry_run:
            logs.mkdir(parents=True, exist_ok=True)
            options.jobs_file.write_text(f"{jobs}\n")
    for build in builds:
        base = f"{stamp}-{build.image}-{build.tag}{'-sequential' if build.sequential else ''}"
        metadata = logs / f"{base}.metadata.json"
        print(f"==> {build.label}", flush=True)
        compiler = ("native" if all(p == host_info["platform"] for p in build.platforms)
                    else "emulated" if options.emulate else "cross")
        commands = _commands(cfg, build, options, plans.get(build.image), limits, logs / base, created=now())
        if args.dry_run:
            continue
        record = {**_record(build, options, args, host_info, compiler), "compile_jobs": jobs}
        finish = None
        if not options.push and not args.stages and len(build.platforms) == 1:
            ref, oci = buildx.tags(build, options)[0], cfg.platforms[build.platforms[0]]
            finish = lambda rec, ref=ref, oci=oci: {**rec, "size_bytes": images.size_bytes(ref, oci)}  # noqa: E731
        if scheduled:
            known = schedule.estimates_from(results.read(results_file)[0], build.platforms[0], compiler) \
                if len(build.platforms) == 1 else {}
            result = runner.run_scheduled(
                commands, plans[build.image], limits, lambda job: known.get(job, schedule.DEFAULT_JOB_MEMORY),
                record=record, results_file=results_file, metadata_file=metadata, log_base=logs / base,
                finish=finish)
        else:
            cmd = commands[build.image]
            result = runner.run(cmd, record=record, results_file=results_file, finish=finish,
                                metadata_file=metadata, raw_log=logs / f"{base}.rawjson")
            if runner.transient(result):
                # A known intermittent failure of the containerd image store while unpacking the
                # exported image; everything is cached by then, so one more try costs seconds.
                print(f"==> {build.label}: image export hit a transient snapshot error; trying once more",
                      flush=True)
                result = runner.run(cmd, record={**record, "retry_of": result["start"]}, finish=finish,
                                    results_file=results_file, metadata_file=metadata,
                                    raw_log=logs / f"{base}.retry.rawjson")
        print(f"==> {build.label}: {result['status']} in {result['wall_seconds']:.1f}s"
              + (f", {result['digest']}" if result["digest"] else ""), flush=True)
        if result.get("size_bytes"):
            print(f"==> {build.label}: {result['size_bytes'] / 2**20:.0f} MiB unpacked", flush=True)
        if result["status"] != "ok":
            for line in result["errors"][-3:]:
                print(f"    {line}", file=sys.stderr)
            print(f"error: build of {build.label} failed (exit {result['exit_code']}); "
                  f"recorded in {results_file}", file=sys.stderr)
            return 1
    return 0


def _sources(cfg, args, builds) -> dict[str, str]:
    """Named build contexts with the pinned sources the Dockerfile asks for (fetched unless dry run)."""
    if not args.dockerfile.is_file():
        raise UsageError(f"{args.dockerfile}: no such Dockerfile")
    text = args.dockerfile.read_text()
    stages_only = getattr(args, "stages", None)
    used = dockerfile.contexts_of(text, stages_only) if stages_only else dockerfile.named_contexts(text)
    without = getattr(args, "without", None) or []
    used -= {sources.context_name(name) for name in without}
    placeholders = {}
    if without:
        # A named context with a stage's name replaces that stage: an empty /out, nothing built.
        # The left-out stage's source context gets the same empty folder: BuildKit resolves every
        # context a Dockerfile names, and an unknown one would be looked up on Docker Hub.
        empty = args.sources_dir.resolve() / ".left-out"
        if not args.dry_run:
            (empty / "out").mkdir(parents=True, exist_ok=True)
        named = dockerfile.named_contexts(text)
        placeholders = {key: str(empty) for name in without
                        for key in (f"{dockerfile.BUILDER_PREFIX}{name}", sources.context_name(name),
                                    sources.assets_context(name))
                        if key in named or key.startswith(dockerfile.BUILDER_PREFIX)}
        used -= {sources.assets_context(name) for name in without}
    if not used:
        return placeholders
    order = cfg.settings.sources if args.source_order is None else \
        tuple(p.strip() for p in args.source_order.split(",") if p.strip())
    if not order:
        raise UsageError("--source: no provider given (known: " + ", ".join(sources.PROVIDERS) + ")")
    for provider in order:
        if provider not in sources.PROVIDERS:
            raise UsageError(f"--source: unknown provider '{provider}' (known: {', '.join(sources.PROVIDERS)})")
    release = cfg.release_set(builds[0].set_name)
    wanted = [w for w in sources.plan(cfg, release, sorted({b.image for b in builds}))
              if {sources.context_name(w.component.name), sources.assets_context(w.component.name)} & used]
    root = args.sources_dir.resolve()
    if not args.dry_run:
        root.mkdir(parents=True, exist_ok=True)
    if args.dry_run:
        found = sources.expected_paths(root, wanted, order)
    else:
        found = sources.fetch_all(root, wanted, order, release.name, sources.mirror_location(args.mirror, cfg))
        for name, path in found.items():
            print(f"    source {name}: {path}", flush=True)
    assets = sources.web_assets_for(root, found, used, args.dockerfile.resolve().parent / "web-assets.toml",
                                    args.dry_run)
    for name, path in assets.items():
        print(f"    assets {name}: {path}", flush=True)
    found = {name: path for name, path in found.items() if name in used}
    return {**{name: str(path.resolve()) for name, path in {**found, **assets}.items()}, **placeholders}


def cmd_plan(args) -> int:
    cfg = config_mod.load(args.config)
    _check_overrides(args)
    for name in args.sets:
        cfg.release_set(name)
    wanted = args.sets or [s.name for s in cfg.sorted_sets()]
    args.dry_run = True
    for spec in matrix.session_specs(cfg):
        set_name = spec.argv[spec.argv.index("--set") + 1]
        if spec.argv[0] != "build" or set_name not in wanted:
            continue
        platforms = [spec.argv[spec.argv.index("--platform") + 1]] if "--platform" in spec.argv else None
        builds = matrix.expand(cfg, set_name, platforms, None, "--sequential" in spec.argv,
                               "--together" in spec.argv)
        print(f"# nox -s {spec.name}")
        options = _options(cfg, args, _sources(cfg, args, builds))
        limits = schedule.Limits(1, jobs=1) if "--sequential" in spec.argv else schedule.Limits()
        if limits.jobs is not None:
            options = replace(options, jobs_file=Path("<logs>/<build>.jobs"))
        for build in builds:
            plan = schedule.plan(options.dockerfile.read_text(), build.image) if limits.bounded else None
            _commands(cfg, build, options, plan, limits, Path("<logs>/<build>"), created="<now>")
    return 0


def cmd_validate(args) -> int:
    cfg = config_mod.load(args.config)
    print(f"{args.config}: {len(cfg.sets)} sets, {len(cfg.platforms)} platforms, OK")
    for release in cfg.sorted_sets():
        pins = ", ".join(f"{c}={p.version}" for c, p in release.pins.items())
        print(f"  {release.name} ({release.base}; {', '.join(release.platforms)}): {pins}")
    return 0


def cmd_manifest(args) -> int:
    cfg = config_mod.load(args.config)
    _check_overrides(args)
    registry, namespace = _target(cfg, args)
    for name in args.sets:
        cfg.release_set(name)
    images = args.images or list(config_mod.IMAGES)
    named = bool(args.sets)
    if registry and not args.dry_run:
        login_from_environment(registry)  # the checks below read the registry too
    candidates = manifest.plan(cfg, args.sets or [s.name for s in cfg.sorted_sets()], images, registry, namespace)
    # Check every source before pushing anything.
    publications, missing = [], []
    for pub in candidates:
        found = {src: manifest.source_platforms(src) for src in pub.sources}
        absent = [src for src, plats in found.items() if plats is None]
        if len(absent) == len(pub.sources) and not named:
            print(f"skip {pub.target}: no platform image pushed")
            continue
        missing += absent
        publications.append(pub)
    if missing:
        for src in missing:
            print(f"error: missing in the registry: {src}", file=sys.stderr)
        print("error: manifest: nothing pushed, because platform images are missing", file=sys.stderr)
        return 1
    if not publications:
        print("error: manifest: no set has images in the registry", file=sys.stderr)
        return 1
    for pub in publications:
        for cmd in manifest.commands(pub):
            print("+ " + shlex.join(cmd), flush=True)
            if not args.dry_run:
                result = subprocess.run(cmd)
                if result.returncode != 0:
                    print(f"error: manifest: creating {pub.target} failed", file=sys.stderr)
                    return 1
        if args.dry_run:
            continue
        for tag in (pub.target, *pub.aliases):
            data = manifest.inspect_raw(tag)
            got = manifest.platforms_in(data or {})
            lacking = sorted(set(pub.platforms) - got)
            if lacking:
                print(f"error: manifest: {tag} lacks {', '.join(lacking)}", file=sys.stderr)
                return 1
            print(f"published {tag}: {', '.join(sorted(got))}")
    return 0


def _read_all(files: list[Path]) -> list[dict]:
    """Records of several results files; damaged lines are reported and skipped."""
    records = []
    for path in files:
        found, damaged = results.read(path)
        records += found
        for item in damaged:
            print(f"warning: {item}", file=sys.stderr)
    return records


def _check_dates(args) -> None:
    for option, value in (("--since", args.since), ("--until", args.until)):
        if value is not None:
            problem = report.date_problem(value)
            if problem:
                raise UsageError(f"{option}: {problem}")


def cmd_report(args) -> int:
    cfg = config_mod.load(args.config)
    if args.readme:
        return _write_readme(args.readme, cfg.settings.default_set)
    files = args.results or [cfg.root / cfg.settings.results]
    for path in files:
        _check_results_file(path, "--results" if args.results else "settings.results")
    _check_dates(args)
    for option, output in (("--chart", args.chart), ("--html", args.html)):
        problem = _output_problem(output) if output else None
        if problem:
            raise UsageError(f"{option}: {problem}")
    records = _read_all(files)
    chosen = report.select(records, args.sets, args.images, args.platforms, args.hosts, args.since, args.until,
                           args.cold)
    if not chosen:
        print("no recorded builds" + (" match" if records else f" in {', '.join(map(str, files))}"))
        return 0
    drawing = None  # what --chart draws, as (function, what it draws); else the build-time chart
    if args.view == "stages":
        latest = max(chosen, key=lambda r: r["end"])
        drawing = (report.timeline, latest)
        print(f"{latest['image']}:{latest['set']} {','.join(latest['platforms'])} "
              f"({latest['status']}, {latest['wall_seconds']:.0f} s, {latest['end']})")
        headers, rows = report.stage_table(latest)
    elif args.view == "sequential":
        headers, rows = report.sequential_table(chosen)
    elif args.view == "sizes":
        headers, rows = report.size_table(chosen)
    elif args.view == "bench":
        run = bench.latest_run(chosen)
        if run:
            print(f"bench {run[0]['bench']['id']}: {short_host(run[0])}")
            drawing = (report.bench_timeline, run)
        headers, rows = bench.summarise(run)
    else:
        headers, rows = report.build_table(chosen)
    print(report.render(headers, rows, args.format))
    if args.chart:
        if drawing is None:
            times_headers, times_rows = report.build_table(chosen)
            report.chart(times_headers, times_rows, args.chart)
        else:
            drawing[0](drawing[1], args.chart)
        print(f"wrote {args.chart}")
    if args.html:
        generated = datetime.now(timezone.utc).isoformat(timespec="seconds")
        args.html.write_text(report.html_page(chosen, cfg.settings.default_set, generated))
        print(f"wrote {args.html}")
    return 0


def _output_problem(path: Path) -> str | None:
    """What keeps a file from being written at ``path`` (checked before any work), else None."""
    if path.is_dir():
        return f"{path} is a directory"
    if not path.parent.is_dir():
        return f"{path.parent} is not a directory"
    return None


def short_host(record: dict) -> str:
    return f"{record['host'].get('cpu', '?')}, {host.short(record['host'])}"


def readme_table(reference: Path = REFERENCE) -> str:
    """The README's build-time table: what the tool renders from the committed records."""
    records = _read_all([reference])
    headers, rows = report.build_table(records)
    hosts = sorted({short_host(r) for r in records})
    note = "\n".join(f"Host: {h}." for h in hosts)
    return f"{report.render(headers, rows, 'github')}\n\n{note}\n\nSeconds of wall time, cold (no build cache)."


def _write_readme(path: Path, default_set: str | None = None) -> int:
    try:
        text = path.read_text()
        path.write_text(report.readme_block(text, "build-times", readme_table()))
    except (OSError, ValueError) as exc:
        raise UsageError(f"{path}: {exc}") from None
    records = _read_all([REFERENCE])
    headers, rows = report.build_table(records)
    report.chart(headers, rows, CHART, title="Build time, cold (no build cache)")
    timeline = CHART.with_name("build-timeline.png")
    record = report.timeline_record(records, default_set)
    if record is not None:
        report.timeline(record, timeline)
    print(f"wrote the build-time table of {REFERENCE.relative_to(ROOT)} into {path}, its chart to "
          f"{CHART.relative_to(ROOT)}"
          + (f" and the timeline of {report.display_name(record)} {','.join(record['platforms'])} to "
             f"{timeline.relative_to(ROOT)}" if record else " (no build with stage times for a timeline)"))
    return 0


def cmd_import(args) -> int:
    """Every input is read and checked first; then what is new is appended at once, under the lock
    that guards the read of what the target already holds: all or nothing, and safe to run at once."""
    for path in args.files:
        if not path.exists() and not path.is_symlink():
            raise UsageError(f"import: {path}: no such file")
        _check_results_file(path, "import")
    _check_results_file(args.into, "--into")
    _check_dates(args)
    records = _read_all(args.files)  # damaged records are reported and left out
    chosen = report.select(records, args.sets, args.images, args.platforms, args.hosts, args.since, args.until,
                           args.cold)
    if args.bench:
        chosen = bench.latest_run(chosen)
    if args.part:
        chosen = [r for r in chosen if (r.get("bench") or {}).get("part") == args.part]
    portable = [results.Record.from_dict(results.portable(r)) for r in sorted(chosen, key=lambda r: r["end"])]
    added, present = results.append_new(args.into, portable)
    print(f"{args.into}: {added} record(s) added, {present} already there")
    return 0


def cmd_bench(args) -> int:
    cfg = config_mod.load(args.config)
    _check_overrides(args)
    release = cfg.release_set(args.set_name or cfg.settings.default_set)
    image = args.image or cfg.settings.default_image
    parts = tuple(p.strip() for p in args.parts.split(",") if p.strip())
    unknown = [p for p in parts if p not in bench.PARTS]
    if unknown:
        raise UsageError(f"--parts: unknown part '{unknown[0]}' (known: {', '.join(bench.PARTS)})")
    platforms = args.platforms or list(release.platforms)
    here = matrix.host_platform()
    emulate = [p for p in release.platforms if p != here] if args.emulate is None else \
        [p for p in args.emulate if p != "none"]
    for name in [*platforms, *emulate]:
        if name not in release.platforms:
            raise UsageError(f"set '{release.name}' is not built for platform '{name}'")
    stage_plan = schedule.plan(DEFAULT_DOCKERFILE.read_text(), image)
    components = [s_.removeprefix(dockerfile.BUILDER_PREFIX) for s_ in stage_plan.components]
    bump = args.bump or components[-1]
    if bump not in components:
        raise UsageError(f"--bump: {image} has no component '{bump}' (it has: {', '.join(components)})")
    memory_stages = args.memory_stages or list(stage_plan.components)
    if "memory" in parts and len(memory_stages) < 2:
        raise UsageError(f"--memory-stage: the memory part needs two stages or more ({image} has "
                         f"{', '.join(memory_stages)}); name them, e.g. --memory-stage build-gdcm")
    if "memory" in parts:
        schedule.plan(DEFAULT_DOCKERFILE.read_text(), "orthanc-plugins", memory_stages)  # names checked
    schedule.parse_size(args.memory_budget)
    plan = bench.steps(release.name, image, platforms, here, parts=parts, runs=args.runs, emulate=emulate,
                       bump=bump, memory_stages=memory_stages, memory_budget=args.memory_budget,
                       compile_stages=tuple(dockerfile.compile_stages(DEFAULT_DOCKERFILE.read_text())))
    run_id = bench.bench_id()
    results_file = args.results or cfg.root / cfg.settings.results
    print(f"bench {run_id}: {len(plan)} builds of {image}:{release.name}, recorded in {results_file}")
    for step in plan:
        print(f"  {step.part:8} run {step.run}  {step.label:24} build {shlex.join(step.argv)}"
              + ("  (compiler cache emptied)" if step.cold and not step.ccache else "")
              + (f"  (compiler cache of {', '.join(step.ccache)} emptied)" if step.ccache else "")
              + (f"  (one file of {step.bump} changed)" if step.bump else ""))
    if args.dry_run:
        return 0

    def build(step: bench.Step, extra: list[str]) -> int:
        print(f"==> bench {step.part} run {step.run}: {step.label}", flush=True)
        code = main(["build", *step.argv, *extra, "--config", str(args.config), "--results", str(results_file),
                     "--bench", f"{run_id}|{step.part}|{step.run}|{step.label}"])
        if code == 130:
            raise KeyboardInterrupt  # Ctrl-C ends the bench, not just the build under way
        return code

    wanted = {w.component.name: w for w in sources.plan(cfg, release, [image])}
    outcomes = bench.execute(plan, build, sources_dir=args.sources_dir.resolve(),
                             source_key=lambda name: _local_key(args.sources_dir.resolve(), wanted[name]))
    records = [r for r in results.read(results_file)[0] if (r.get("bench") or {}).get("id") == run_id]
    headers, rows = bench.summarise(records)
    print(report.render(headers, rows, "plain"))
    failed = [step for step, code in outcomes if code != 0]
    if failed:
        print(f"error: bench: {len(failed)} of {len(plan)} builds failed (first: {failed[0].part} "
              f"{failed[0].label})", file=sys.stderr)
        return 1
    return 0


def _local_key(root: Path, item) -> str:
    tree = sources.local_tree(root, item)
    if tree is None:
        raise UsageError(f"bench: no fetched source of {item.component.name} under {root}; build once first")
    return tree.name


def image_present(ref: str, platform: str) -> bool:
    proc = subprocess.run(["docker", "image", "inspect", "--platform", platform, ref], capture_output=True)
    if proc.returncode == 0:
        return True
    return subprocess.run(["docker", "image", "inspect", ref], capture_output=True).returncode == 0


def cmd_smoke(args) -> int:
    cfg = config_mod.load(args.config)
    _check_overrides(args)
    release = cfg.release_set(args.set_name or cfg.settings.default_set)
    arch = args.platform or matrix.host_platform()
    if arch not in release.platforms:
        raise UsageError(f"set '{release.name}' is not built for platform '{arch}'")
    oci = cfg.platforms[arch]
    registry, namespace = _target(cfg, args)
    emulated = arch != matrix.host_platform()
    timeout = args.timeout or (900 if emulated else 120)
    refs = {image: matrix.image_ref(registry, namespace, image, matrix.tag_for(release.name, arch))
            for image in (args.images or config_mod.IMAGES)}
    if not args.images:
        refs = {image: ref for image, ref in refs.items() if image_present(ref, oci)}
    if not refs:
        raise UsageError(f"no {release.name}-{arch} image here; build it first (nox -s build-{release.name}-{arch})")
    version = release.pins["orthanc"].version
    for image, ref in refs.items():
        print(f"==> smoke {ref} ({oci}{', emulated' if emulated else ''})", flush=True)
        if args.dry_run:
            continue
        password = secrets.token_hex(12)
        users = {"ORTHANC__REGISTERED_USERS": json.dumps({"smoke": password})}
        without = smoke.left_out(ref)
        if without:
            print(f"    built without {', '.join(without)}", flush=True)
        with smoke.running(ref, oci, users, "smoke", password, timeout) as (client, _, _):
            found = smoke.check_core(client, version, smoke.expected_plugins(image, without))
        print(f"    Orthanc {found['system']['Version']}, plugins {', '.join(found['plugins'])}, "
              f"instance {found['instance']['ID']} stored and read back")
    print("smoke: ok")
    return 0
