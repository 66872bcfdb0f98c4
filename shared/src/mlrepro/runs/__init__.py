"""Run directories, seeding, environment capture, stage checkpoints, atomic writes, the common CLI."""

from .io import (
    append_jsonl,
    atomic_write_bytes,
    atomic_write_json,
    atomic_write_jsonl,
    atomic_write_text,
    read_json,
    read_jsonl,
    to_jsonable,
)
from .logging import get_logger, is_main_process
from .rundir import Claim, RunDir, claim, compare_expected, find_latest_run
from .seeding import numpy_rng, seed_everything
from .summary import format_table, summarize_results

__all__ = [
    "RunDir", "Claim", "claim", "compare_expected", "find_latest_run",
    "atomic_write_text", "atomic_write_bytes", "atomic_write_json", "atomic_write_jsonl", "read_json", "read_jsonl", "append_jsonl", "to_jsonable",
    "get_logger", "is_main_process", "seed_everything", "numpy_rng", "format_table", "summarize_results",
]
