"""Benchmarks: timings against a peer measured in the same run (not tests)."""
