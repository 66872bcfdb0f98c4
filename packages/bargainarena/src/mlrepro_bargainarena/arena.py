"""Running many cells of sessions in lockstep (spec §2.3 loop, ``epoch`` sessions per cell).

A :class:`Cell` is one (scenario, method, buyer, seller) combination that plays ``n_sessions`` sessions in
order. Without across-session feedback the sessions are independent (fresh histories, as in the authors' code);
with it (method modifier ``fb``) session k+1's buyer prompt carries the metric breakdown of sessions 1..k.
:func:`play_cells` advances every live session one reply per step with one batched call per agent, checkpoints
each finished cell to a JSONL file, and skips cells already in that file (resume).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlrepro.runs import append_jsonl, read_jsonl

from .evaluate import session_record
from .extract import format_log
from .prompts import MethodSpec, buyer_system_prompt, buyer_turn_note, feedback_block, parse_method
from .protocol import Session, SessionSlot, run_lockstep
from .scenarios import Scenario


@dataclass
class Cell:
    scenario: Scenario
    method: MethodSpec
    buyer: Any
    seller: Any
    n_sessions: int
    seller_name: str = "seller"
    meta: dict = field(default_factory=dict)
    end_rule: str = "action"
    reveal: tuple[str, ...] = ("price", "cs", "np", "ar", "score")
    max_history: int = 10
    records: list[dict] = field(default_factory=list)
    sessions: list[Session] = field(default_factory=list)
    slot: SessionSlot | None = None

    @property
    def key(self) -> str:
        extra = "".join(f"|{k}={v}" for k, v in sorted(self.meta.items()))
        return f"{self.scenario.market}|{self.scenario.product}|{self.method.name}|{self.seller_name}{extra}"

    @property
    def finished(self) -> bool:
        return len(self.records) >= self.n_sessions

    def new_session(self) -> SessionSlot:
        history = self.records if self.method.feedback else []
        system = buyer_system_prompt(self.scenario, self.method, history, self.reveal, self.max_history)
        note = (lambda t, sc=self.scenario, m=self.method: buyer_turn_note(sc, m, t)) if self.method.base == "og" else None
        meta = {"method": self.method.name, "seller": self.seller_name, "session": len(self.records) + 1, **self.meta}
        s = Session(self.scenario, system, buyer_note=note, end_rule=self.end_rule, meta=meta)
        if history:
            s.extra["feedback"] = feedback_block(history, self.reveal, self.max_history)
        self.slot = SessionSlot(s, self.buyer, self.seller)
        self.slot.cell = self  # type: ignore[attr-defined]
        return self.slot

    def finish_session(self) -> dict:
        s = self.slot.session
        rec = session_record(s, self.scenario, feedback_sessions=len(self.records) if self.method.feedback else 0)
        self.records.append(rec)
        self.sessions.append(s)
        self.slot = None
        return rec

    def log_text(self, show_thoughts: bool = True) -> str:
        return format_log(self.sessions, show_thoughts)


def make_cells(scenarios: list[Scenario], methods: list[str], buyer: Any, seller: Any, n_sessions: int,
               seller_name: str = "seller", end_rule: str = "action", reveal: tuple[str, ...] = ("price", "cs", "np", "ar", "score"),
               max_history: int = 10, **meta: Any) -> list[Cell]:
    return [Cell(sc, parse_method(m), buyer, seller, n_sessions, seller_name, dict(meta), end_rule, tuple(reveal), max_history)
            for sc in scenarios for m in methods]


def play_cells(cells: list[Cell], checkpoint: str | Path | None = None, batch_size: int = 64, desc: str = "sessions",
               log_dir: str | Path | None = None) -> tuple[list[dict], list[dict], int]:
    """Play every cell to the end. Returns (session records, session dicts, number of agent calls).

    With ``checkpoint``, finished cells are appended there (records and full sessions) and cells already present
    are not replayed. With ``log_dir``, each cell's log is written to ``log_dir/<market>/<product>/<key>.txt``.
    """
    from tqdm.auto import tqdm

    done: dict[str, dict] = {}
    ckpt = Path(checkpoint) if checkpoint else None
    if ckpt is not None and ckpt.exists():
        for row in read_jsonl(ckpt):
            done[row["key"]] = row
    todo = [c for c in cells if c.key not in done]
    total = sum(c.n_sessions for c in todo)
    bar = tqdm(total=total, desc=desc, leave=False, disable=total == 0, mininterval=2.0)
    for c in todo:
        c.new_session()

    def source() -> list[SessionSlot]:
        return [c.slot for c in todo if c.slot is not None]

    def on_done(slot: SessionSlot) -> None:
        cell: Cell = slot.cell  # type: ignore[attr-defined]
        cell.finish_session()
        if not cell.finished:
            cell.new_session()
        else:
            row = {"key": cell.key, "records": cell.records, "sessions": [s.to_dict() for s in cell.sessions]}
            if ckpt is not None:
                append_jsonl(ckpt, row)
            done[cell.key] = row
            if log_dir is not None:
                p = Path(log_dir) / cell.scenario.market / cell.scenario.product.replace(" ", "_")
                p.mkdir(parents=True, exist_ok=True)
                name = cell.key.split("|", 2)[2].replace("|", "__").replace("+", "-").replace("=", "-").replace(" ", "_")
                (p / f"{name}.txt").write_text(cell.log_text(), encoding="utf-8")

    calls = run_lockstep(source, on_done, batch_size=batch_size, progress=bar)
    bar.close()
    records, sessions = [], []
    for c in cells:
        row = done.get(c.key)
        if row is None:
            raise RuntimeError(f"cell {c.key} did not finish")
        records += row["records"]
        sessions += row["sessions"]
    return records, sessions, calls


def dump_sessions(path: str | Path, sessions: list[dict]) -> None:
    with open(path, "w", encoding="utf-8") as f:
        for s in sessions:
            f.write(json.dumps(s) + "\n")
