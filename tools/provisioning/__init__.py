"""Host provisioning: Docker, buildx, qemu, the registry, base images; every program the tools start."""
