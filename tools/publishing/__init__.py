"""Publishing: multi-arch tags from the pushed platform images, registry credentials."""
