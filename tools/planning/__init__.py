"""Sources and planning: the Dockerfile's stages, pinned sources and upstream's releases, a build
resolved into its spec, the buildx command rendered from it, and the scheduler's jobs."""
