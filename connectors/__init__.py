"""One folder per vendor; each registers itself with bridge.registry."""
