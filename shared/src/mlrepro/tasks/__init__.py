"""Synthetic reasoning tasks (seeded generators, difficulty levels, styles, exact verifiers) and loaders for the
real sets, all in one record schema so minis and paper recipes share data code."""

from .arithmetic import (
    STYLES,
    Op,
    Problem,
    check_step,
    generate_problems,
    make_problem,
    parse_steps,
    render_solution,
    verify_answer,
)
from .loaders import gsm8k_record, load_gsm8k, load_math, load_records, math_record

__all__ = ["STYLES", "Op", "Problem", "check_step", "generate_problems", "make_problem", "parse_steps",
           "render_solution", "verify_answer", "load_records", "load_gsm8k", "load_math", "gsm8k_record", "math_record"]
