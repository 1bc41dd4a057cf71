"""Render a resolved build (``spec.BuildSpec``) as its ``docker buildx build`` command line.

Pure, and nothing but rendering: every value was resolved in ``spec.resolve``.
"""

from __future__ import annotations

from pathlib import Path

from .spec import BuildSpec


def archive_of(metadata_file: Path) -> Path:
    """Where a reproducible build writes its OCI archive: beside its metadata file."""
    return metadata_file.with_name(metadata_file.name.removesuffix(".metadata.json") + ".oci.tar")


def attestations(spec: BuildSpec) -> list[str]:
    """What a pushed or reproducible image says of itself: its provenance (the build's sources, arguments
    and steps) and its SBOM (the packages in it, made by the generator image)."""
    if not (spec.pushed or spec.reproducible):
        return []
    sbom = ["--attest", f"type=sbom,generator={spec.sbom_generator}"] if spec.sbom_generator else []
    return ["--provenance", "mode=max", *sbom]


def output(spec: BuildSpec, metadata_file: Path) -> list[str]:
    if spec.output == "cacheonly":
        return ["--output", "type=cacheonly"]
    if not spec.reproducible:
        return [*attestations(spec), f"--{spec.output}"]
    # The docker driver unpacks what it loads, which rules out rewrite-timestamp: the image goes to
    # an archive first, and the build command loads (and pushes) it from there.
    names = ",".join(spec.tags)
    return [*attestations(spec),
            "--output", f'type=oci,dest={archive_of(metadata_file)},"name={names}",rewrite-timestamp=true']


def command(spec: BuildSpec, metadata_file: Path) -> list[str]:
    cmd = ["docker", "buildx", "build"]
    if spec.docker_context:
        # buildx uses a docker-driver builder of another context only through --context.
        cmd = ["docker", "--context", spec.docker_context, "buildx", "build"]
    elif spec.builder:
        cmd += ["--builder", spec.builder]
    cmd += ["--file", str(spec.dockerfile)]
    cmd += ["--target", spec.target]
    cmd += ["--platform", ",".join(spec.platforms)]
    for key, value in spec.build_args.items():
        cmd += ["--build-arg", f"{key}={value}"]
    for name, location in sorted(spec.contexts.items()):
        cmd += ["--build-context", f"{name}={location}"]
    if spec.jobs_file is not None:
        # A secret, not a build argument: the limit is not part of any cache key.
        cmd += ["--secret", f"id=jobs,src={spec.jobs_file}"]
    for key, value in spec.labels.items():
        cmd += ["--label", f"{key}={value}"]
    for tag in spec.tags:
        cmd += ["--tag", tag]
    for source in spec.cache_from:
        cmd += ["--cache-from", f"type=registry,ref={source}"]
    if spec.cache_to:
        cmd += ["--cache-to", spec.cache_to]
    cmd += ["--metadata-file", str(metadata_file)]
    cmd += ["--progress", "rawjson"]
    cmd += output(spec, metadata_file)
    if spec.no_cache:
        cmd += ["--no-cache"]
    if spec.no_cache_filter:
        cmd += ["--no-cache-filter", ",".join(spec.no_cache_filter)]
    cmd.append(str(spec.context))
    return cmd
