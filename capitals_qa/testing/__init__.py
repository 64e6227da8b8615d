"""Support for tests and benchmarks (not used by the service): small QA models built on this machine."""
