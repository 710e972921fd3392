"""Benchmarks, each side by side with its peers in one run (see bench/README.md)."""
