"""``build``: resolve the request into build specs, fetch their sources, run and record each build."""

from __future__ import annotations

import shlex
import sys
from dataclasses import asdict, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from .. import clone, docker, paths
from ..configuration import config, matrix
from ..configuration.config import Config
from ..errors import UsageError
from ..planning import buildx, debian_lock, dockerfile, sbom, schedule, sources
from ..planning.spec import BuildRequest, BuildSpec, Facts, attested, builds_of, resolve, target_of
from ..publishing.credentials import login_from_environment
from ..running import machine, oci, results, runner, sbom_generator
from .checks import (check_dockerfile, check_memory_budget, check_results_file, check_set_name, check_stage_names,
                     check_target)


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def check(request: BuildRequest) -> None:
    """The request's own values, before anything runs."""
    check_target(request.registry, request.namespace, request.base_registry)
    check_set_name(request.set_name)
    check_memory_budget(request.memory_budget)
    if request.no_cache_filter:
        check_stage_names(request.dockerfile, request.no_cache_filter, "--no-cache-filter")
    if request.stages:  # whether they are stages of the image is checked with its jobs
        check_stage_names(request.dockerfile, request.stages, "--stage")
    if request.results is not None:
        check_results_file(request.results, "--results")
    request.limits()  # a size that is not one


def used_contexts(request: BuildRequest, text: str) -> set[str]:
    """The named contexts the build reads: those of its stages (and theirs) with --stage, else all."""
    return dockerfile.contexts_of(text, list(request.stages)) if request.stages else dockerfile.named_contexts(text)


def source_contexts(cfg: Config, request: BuildRequest, builds: list[matrix.Build], text: str, used: set[str],
                    say: Callable[[str], None] = print) -> dict[str, str]:
    """Named build contexts with the pinned sources the Dockerfile (``text``) asks for (``used``:
    ``used_contexts``), fetched unless dry run."""
    without = request.without
    used = used - {sources.context_name(name) for name in without}
    placeholders = {}
    if without:
        # A named context with a stage's name replaces that stage: an empty /out, nothing built.
        # The left-out stage's source context gets the same empty folder: BuildKit resolves every
        # context a Dockerfile names, and an unknown one would be looked up on Docker Hub.
        empty = request.sources_dir.resolve() / ".left-out"
        if not request.dry_run:
            (empty / "out").mkdir(parents=True, exist_ok=True)
        named = dockerfile.named_contexts(text)
        placeholders = {key: str(empty) for name in without
                        for key in (f"{dockerfile.BUILDER_PREFIX}{name}", sources.context_name(name),
                                    sources.assets_context(name))
                        if key in named or key.startswith(dockerfile.BUILDER_PREFIX)}
        used -= {sources.assets_context(name) for name in without}
    if not used:
        return placeholders
    order = cfg.settings.sources if request.source_order is None else request.source_order
    if not order:
        raise UsageError("--source: no provider given (known: " + ", ".join(sources.PROVIDERS) + ")")
    for provider in order:
        if provider not in sources.PROVIDERS:
            raise UsageError(f"--source: unknown provider '{provider}' (known: {', '.join(sources.PROVIDERS)})")
    release = cfg.release_set(builds[0].set_name)
    pinned = [w for w in sources.pinned_sources(cfg, release, sorted({b.image for b in builds}))
              if {sources.context_name(w.component.name), sources.assets_context(w.component.name)} & used]
    root = request.sources_dir.resolve()
    if request.dry_run:
        found = sources.expected_paths(root, pinned, order)
    else:
        root.mkdir(parents=True, exist_ok=True)
        found = sources.fetch_all(root, pinned, order, release.name, sources.mirror_location(request.mirror, cfg))
        for name, path in found.items():
            say(f"    source {name}: {path}")
    assets = sources.web_assets_for(root, found, used, request.dockerfile.resolve().parent / "web-assets.toml",
                                    request.dry_run)
    for name, path in assets.items():
        say(f"    assets {name}: {path}")
    found = {name: path for name, path in found.items() if name in used}
    return {**{name: str(path.resolve()) for name, path in {**found, **assets}.items()}, **placeholders}


def lock_context(cfg: Config, request: BuildRequest, used: set[str], distribution: str,
                 locked: debian_lock.DistributionLock | None, say: Callable[[str], None] = print) -> dict[str, str]:
    """The ``debian-lock`` context of the set's distribution, when the build reads it (``used``): the
    pins and list of versions.lock (empty files when the distribution is not locked), written unless
    dry run."""
    if debian_lock.CONTEXT not in used:
        return {}
    lock_path = cfg.root / debian_lock.LOCK_FILE
    folder = request.sources_dir.resolve() / f".{debian_lock.CONTEXT}" / distribution
    if not request.dry_run:
        folder.mkdir(parents=True, exist_ok=True)
        for name, content in debian_lock.context_files(locked, distribution, lock_path).items():
            path = folder / name
            if not path.is_file() or path.read_text() != content:  # unchanged files keep the build cache
                path.write_text(content)
    say(f"    debian packages: {lock_path.name}, {distribution} locked {locked.made}" if locked else
        f"    debian packages: not locked ({lock_path.name} has no {distribution}: `nox -s lock` makes it)")
    return {debian_lock.CONTEXT: str(folder)}


def base_digest(cfg: Config, request: BuildRequest, release: config.ReleaseSet,
                locked: debian_lock.DistributionLock | None, say: Callable[[str], None] = print) -> str | None:
    """The digest the set's base image is built from: versions.lock's while the registry has it, else
    the registry's current one (not asked in a dry run: the tag stands)."""
    if request.dry_run:
        return None
    image = cfg.base_image(release, request.base_registry)
    digest, told = debian_lock.base_image(locked, image, docker.image_digest)
    say(f"    base image: {told}")
    return digest


def generator(cfg: Config, request: BuildRequest, host_platform: str,
              say: Callable[[str], None] = print) -> str | None:
    """The SBOM generator image of a pushed or reproducible build (None for others): versions.toml's,
    else the project's own, built into the engine first if it is missing (not in a dry run)."""
    if not attested(request):
        return None
    if cfg.settings.sbom_generator:
        return cfg.settings.sbom_generator
    scanner = sbom.load(paths.SBOM_GENERATOR)
    if request.dry_run:
        return scanner.tag
    release = cfg.release_set(request.set_name or cfg.settings.default_set)
    return sbom_generator.ensure(scanner, host_platform, cfg.base_image(release, request.base_registry),
                                 request.sources_dir.resolve() / ".sbom", say)


def check_static(spec: BuildSpec, dry_run: bool) -> None:
    """A static build downloads third-party code while compiling: fail now, not an hour in."""
    tree = spec.contexts.get(sources.context_name("orthanc"))
    url = sources.third_party_url(Path(tree)) if tree and Path(tree).is_dir() else None
    if url is None:
        if dry_run:
            return
        raise UsageError(f"--static: set '{spec.set_name}': no third-party download URL in the Orthanc source")
    reason = None if dry_run else sources.reachable(url + "/")
    if reason:
        raise UsageError(f"--static: set '{spec.set_name}': the static build downloads third-party code from {url}, "
                         f"which is not reachable ({reason}); build against the distribution's libraries "
                         "(leave out --static) or where that server can be reached")
    print(f"    static build: third-party code from {url}", flush=True)


def specs_for(cfg: Config, request: BuildRequest, host_platform: str, facts: Callable[[], Facts],
              say: Callable[[str], None] = print) -> list[BuildSpec]:
    """The request resolved, with its sources (fetched unless it is a dry run); ``facts`` are gathered
    once the request is known to be good."""
    builds = builds_of(cfg, request, host_platform)
    release = cfg.release_set(builds[0].set_name)
    locked = debian_lock.load(cfg.root / debian_lock.LOCK_FILE).get(release.base)  # read once, used twice
    check_dockerfile(request.dockerfile)
    text = request.dockerfile.read_text()  # read once: its contexts, then the resolved builds
    used = used_contexts(request, text)
    contexts = source_contexts(cfg, request, builds, text, used, say)
    contexts.update(lock_context(cfg, request, used, release.base, locked, say))
    trees = {name.removeprefix(sources.context_name("")): Path(path) for name, path in contexts.items()
             if name.startswith(sources.context_name("")) and Path(path).is_dir()}
    dates = {name: sources.source_date([tree]) for name, tree in sorted(trees.items())}
    known = replace(facts(), source_dates=tuple((name, date) for name, date in dates.items() if date is not None),
                    origins=tuple((name, sources.origin(tree)) for name, tree in sorted(trees.items())),
                    base_digest=base_digest(cfg, request, release, locked, say))
    return resolve(cfg, request, known, contexts, text)


def job_commands(spec: BuildSpec, log_base: Path, say: Callable[[str], None] = print) -> dict[str, list[str]]:
    """The buildx command of each job of a build (one job unless scheduled), told as well."""
    metadata = log_base.with_name(f"{log_base.name}.metadata.json")
    if spec.jobs is None:
        final = buildx.command(spec, metadata)
        say("    " + shlex.join(final))
        return {spec.image: final}
    commands = {job: buildx.command(job_spec, metadata if job == spec.jobs.final else
                                    log_base.with_name(f"{log_base.name}.{job}.metadata.json"))
                for job, job_spec in schedule.split(spec).items()}
    say("    " + schedule.describe(spec.jobs, spec.limits))
    for job_cmd in commands.values():
        say("    " + shlex.join(job_cmd))
    return commands


def record_of(spec: BuildSpec, host_info: dict) -> dict:
    """What the results file says of a build besides its outcome."""
    record = {
        "set": spec.set_name,
        "image": spec.image,
        "platforms": list(spec.arches),
        "tags": list(spec.tags),
        "pushed": spec.pushed,
        "host": host_info,
        "emulated": any(p != host_info["platform"] for p in spec.arches),
        "compiler": spec.compiler,
        "no_cache": spec.no_cache,
        "libraries": spec.libraries,
        "toolchain": spec.toolchain,
        "compile_jobs": spec.compile_jobs,
    }
    if spec.sbom_generator:
        record["sbom_generator"] = spec.sbom_generator
    if spec.only_stages:
        record["only_stages"] = list(spec.only_stages)
    if spec.without:
        record["without"] = list(spec.without)
    if spec.bench:
        record["bench"] = asdict(spec.bench)
    return record


def deliver(spec: BuildSpec, archive: Path, record: dict) -> dict:
    """A reproducible build's image, from its OCI archive into the engine and, when pushing, the
    registry; the record gains each platform's manifest digest (what two builds compare)."""
    try:
        with oci.Archive(archive) as read:
            digests = read.platform_digests()
            configs = {platform: read.config_digest(digest) for platform, digest in digests.items()}
    except (oci.ArchiveError, KeyError, ValueError) as exc:
        return {**record, "status": "failed", "exit_code": 1, "errors": [*record["errors"], str(exc)]}
    record = {**record, "reproducible": True, "archive": str(archive), "source_date_epoch":
              int(spec.build_args["SOURCE_DATE_EPOCH"]) if "SOURCE_DATE_EPOCH" in spec.build_args else None,
              "platform_digests": {arch: digests.get(oci_platform) for arch, oci_platform
                                   in zip(spec.arches, spec.platforms)}}
    if len(spec.platforms) == 1 and spec.platforms[0] in configs:
        record["config_digest"] = configs[spec.platforms[0]]
    error = docker.load_and_push(str(archive), list(spec.tags), spec.pushed)
    if error:
        return {**record, "status": "failed", "exit_code": 1, "errors": [*record["errors"], error]}
    return record


def run(request: BuildRequest) -> int:
    cfg = config.load(request.config)
    check(request)
    check_dockerfile(request.dockerfile)
    results_file = request.results or cfg.root / cfg.settings.results
    logs = results_file.parent / "logs"
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    host_info = machine.describe()

    def facts() -> Facts:
        return Facts(host_platform=host_info["platform"], cores=host_info["cores"], created=now(),
                     revision=clone.revision(), source_url=clone.source_url(),
                     docker_context=bool(request.builder) and docker.is_context(request.builder),
                     jobs_file=logs / f"{stamp}.jobs",
                     sbom_generator=generator(cfg, request, host_info["platform"], lambda line: print(line, flush=True)))

    specs = specs_for(cfg, request, host_info["platform"], facts, lambda line: print(line, flush=True))
    if request.static:
        check_static(specs[0], request.dry_run)
    target = target_of(cfg, request.registry, request.namespace)
    if request.push and not request.dry_run and target.registry:
        login_from_environment(target.registry)
    if specs and specs[0].jobs_file is not None and not request.dry_run:
        logs.mkdir(parents=True, exist_ok=True)
        specs[0].jobs_file.write_text(f"{specs[0].compile_jobs}\n")
    for spec in specs:
        base = f"{stamp}-{spec.image}-{spec.tag}"
        print(f"==> {spec.label}", flush=True)
        commands = job_commands(spec, logs / base, lambda line: print(line, flush=True))
        if request.dry_run:
            continue
        result = run_one(cfg, spec, commands, record_of(spec, host_info), results_file, logs / base)
        if result["status"] != "ok":
            for line in result["errors"][-3:]:
                print(f"    {line}", file=sys.stderr)
            print(f"error: build of {spec.label} failed (exit {result['exit_code']}); "
                  f"recorded in {results_file}", file=sys.stderr)
            return 1
    return 0


def run_one(cfg: Config, spec: BuildSpec, commands: dict[str, list[str]], record: dict, results_file: Path,
            log_base: Path) -> dict:
    """Run one build's jobs, record it, tell its outcome; the record."""
    metadata = log_base.with_name(f"{log_base.name}.metadata.json")
    sized = not spec.pushed and not spec.only_stages and len(spec.arches) == 1

    def finish(rec: dict) -> dict:
        if spec.reproducible:
            rec = deliver(spec, buildx.archive_of(metadata), rec)
        if sized and rec["status"] == "ok":
            rec = {**rec, "size_bytes": docker.size_bytes(spec.tags[0], spec.platforms[0])}
        return rec
    if spec.jobs is not None:
        known = schedule.estimates_from(results.read(results_file)[0], spec.arches[0], spec.compiler) \
            if len(spec.arches) == 1 else {}
        result = runner.run_scheduled(
            commands, spec.jobs, spec.limits, lambda job: known.get(job, schedule.DEFAULT_JOB_MEMORY),
            record=record, results_file=results_file, metadata_file=metadata, log_base=log_base, finish=finish)
    else:
        cmd = commands[spec.image]
        result = runner.run(cmd, record=record, results_file=results_file, finish=finish,
                            metadata_file=metadata, raw_log=log_base.with_name(f"{log_base.name}.rawjson"))
        reason = runner.transient(result)
        if reason:
            print(f"==> {spec.label}: {reason}; trying once more", flush=True)
            result = runner.run(cmd, record={**record, "retry_of": result["start"]}, finish=finish,
                                results_file=results_file, metadata_file=metadata,
                                raw_log=log_base.with_name(f"{log_base.name}.retry.rawjson"))
    print(f"==> {spec.label}: {result['status']} in {result['wall_seconds']:.1f}s"
          + (f", {result['digest']}" if result["digest"] else ""), flush=True)
    if result.get("size_bytes"):
        print(f"==> {spec.label}: {result['size_bytes'] / 2**20:.0f} MiB unpacked", flush=True)
    return result
