"""Micro-benchmarks (``make bench``). Each ``bench_<name>.py`` defines ``run(quick: bool) -> dict``."""
