"""Stdlib logging, rank 0 only."""

from __future__ import annotations

import logging
import os
import sys

_CONFIGURED = False


def is_main_process() -> bool:
    return int(os.environ.get("RANK", os.environ.get("LOCAL_RANK", "0")) or 0) == 0


def get_logger(name: str = "mlrepro") -> logging.Logger:
    """A logger that prints on rank 0 only (other ranks log warnings and above)."""
    global _CONFIGURED
    if not _CONFIGURED:
        root = logging.getLogger("mlrepro")
        if not root.handlers:
            h = logging.StreamHandler(sys.stderr)
            h.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%H:%M:%S"))
            root.addHandler(h)
        root.setLevel(logging.INFO if is_main_process() else logging.WARNING)
        root.propagate = False
        _CONFIGURED = True
    if not name.startswith("mlrepro"):
        name = f"mlrepro.{name}"
    return logging.getLogger(name)
