"""Config schema of mlrepro_flexjudge (stub: the paper issue fills it in)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Config:
    seed: int = 0
    report_to: str = "none"
    expected: list[dict[str, Any]] = field(default_factory=list)
