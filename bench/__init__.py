"""Benchmarks of the service; see bench/serve_bench.py."""
