"""Deal extraction from session logs (spec §2.4).

- Rule-based (our offline default, [INFERRED]): parse the log back into replies and replay them through the
  protocol (:class:`~mlrepro_bargainarena.protocol.Session`): the deal is the ``[DEAL] $M`` of the reply that ended
  the session (instalments: the total ``$M``), the item the one named with it or last named in an action.
- LLM extractor (the authors' official path): an LLM reads the log of a session and answers
  ``deal_price: <number | No deal>`` (and ``dealt_item: <item>`` in the multi-product market). Replies that do not
  parse are counted and fall back to the rule-based value.

Log format (ours, after the authors' banner style): sessions between ``===== Start of Session k =====`` and
``===== End of Session k =====`` banners, each reply starting with ``Buyer:`` or ``Seller:`` after a blank line.
"""

from __future__ import annotations

import re
from typing import Any

from .protocol import Outcome, Session
from .scenarios import Scenario, find_variant, noun

_BANNER_START = "===== Start of Session {k} ====="
_BANNER_END = "===== End of Session {k} ====="
_START_RE = re.compile(r"^===== Start of Session (\d+) =====\s*$", re.M)
_SPEAKER_RE = re.compile(r"(?:^|\n\n)(Buyer|Seller): ", re.M)


def format_log(sessions: list[Session], show_thoughts: bool = True) -> str:
    """One cell's log: every session with banners (the authors wrote one such file per product and pair)."""
    out = []
    for k, s in enumerate(sessions, start=1):
        out += [_BANNER_START.format(k=k), s.transcript(show_thoughts), _BANNER_END.format(k=k), ""]
    return "\n".join(out)


def split_log(text: str) -> list[list[tuple[str, str]]]:
    """Parse a log back into sessions of ``(role, text)`` replies (roles ``buyer``/``seller``)."""
    starts = list(_START_RE.finditer(text))
    blocks = []
    for j, m in enumerate(starts):
        end_banner = text.find(_BANNER_END.format(k=m.group(1)), m.end())
        stop = end_banner if end_banner >= 0 else (starts[j + 1].start() if j + 1 < len(starts) else len(text))
        blocks.append(text[m.end():stop].strip("\n"))
    if not starts:
        blocks = [text]
    sessions = []
    for b in blocks:
        marks = list(_SPEAKER_RE.finditer(b))
        replies = []
        for i, m in enumerate(marks):
            end = marks[i + 1].start() if i + 1 < len(marks) else len(b)
            replies.append((m.group(1).lower(), b[m.end():end].strip()))
        sessions.append(replies)
    return sessions


def extract_rule(replies: list[tuple[str, str]], scenario: Scenario, end_rule: str = "action") -> Outcome:
    """Rule-based extraction for one session: replay the replies (after the opener) through the protocol."""
    s = Session(scenario, scenario.buyer_system, end_rule=end_rule)
    body = replies[1:] if replies and replies[0][0] == "buyer" else replies  # the first buyer line is the opener
    for role, text in body:
        if s.done:
            break
        if s.next_role() != role:  # out-of-order log: skip the reply rather than misattribute it
            continue
        s.feed(text)
    if s.outcome is None:
        return Outcome("no_deal")
    return s.outcome


def extract_log_rule(text: str, scenario: Scenario, end_rule: str = "action") -> list[Outcome]:
    return [extract_rule(r, scenario, end_rule) for r in split_log(text)]


# ------------------------------------------------------------------------------------------------------------
# LLM extractor
# ------------------------------------------------------------------------------------------------------------

def llm_extraction_prompt(transcript: str, scenario: Scenario) -> list[dict]:
    """Chat prompt asking an LLM for the deal price (and item) of one session (our wording)."""
    lines = [
        f"Below is the record of one bargaining session between a buyer and a seller over a {noun(scenario.product)}.",
        "Decide whether they agreed on a deal. A deal exists only if one side accepted the other's price with "
        "[DEAL]. For an instalment deal give the total amount only, not the monthly part or the months.",
        "Answer with exactly one line:",
        "deal_price: <the agreed total price as a number, or No deal>",
    ]
    if scenario.multi:
        names = ", ".join(v["name"] for v in scenario.inventory)
        lines += ["and, when there is a deal, a second line:", f"dealt_item: <one of: {names}>"]
    lines += ["", "Session record:", transcript]
    return [{"role": "user", "content": "\n".join(lines)}]


_PRICE_RE = re.compile(r"deal_price\s*[:=]\s*(?:\[)?\s*(no\s*deal|'no deal'|\$?\s*([0-9][0-9,]*(?:\.[0-9]+)?))", re.I)
_ITEM_RE = re.compile(r"dealt_item\s*[:=]\s*['\"\[]?\s*([A-Za-z][A-Za-z \-]+)", re.I)


def parse_llm_extraction(text: str, scenario: Scenario) -> dict | None:
    """``{"deal": bool, "price": float|None, "item": str|None}`` from an extractor reply; None if unparseable."""
    m = _PRICE_RE.search(text or "")
    if not m:
        return None
    if m.group(2) is None:
        return {"deal": False, "price": None, "item": None}
    price = float(m.group(2).replace(",", ""))
    item = None
    if scenario.multi:
        mi = _ITEM_RE.search(text)
        v = find_variant(scenario.product, mi.group(1).strip()) if mi else None
        if v is None:
            return {"deal": True, "price": price, "item": None, "problem": "item_not_in_inventory"}
        item = v.name
    return {"deal": True, "price": price, "item": item}


def extract_llm(agent: Any, transcripts: list[str], scenarios: list[Scenario], batch_size: int = 32) -> list[dict | None]:
    """Run the LLM extractor (an agent from :func:`~mlrepro_bargainarena.agents.build_agent`) on many sessions."""
    out: list[dict | None] = []
    prompts = [llm_extraction_prompt(t, s) for t, s in zip(transcripts, scenarios)]
    for j in range(0, len(prompts), batch_size):
        replies = agent.respond(prompts[j: j + batch_size])
        for (text, _), sc in zip(replies, scenarios[j: j + batch_size]):
            r = parse_llm_extraction(text, sc)
            if r is not None:
                r["raw"] = text
            out.append(r)
    return out


def mock_llm_extractor(prompt: Any, params: Any = None, i: int = 0) -> str:
    """A scripted stand-in for the LLM extractor used in tests and offline runs: it reads the record the way
    the authors' substring rule does (the last ``[DEAL] $M`` anywhere in the record wins; a ``[QUIT]`` after it or
    no ``[DEAL]`` at all means no deal). Independent of the replay-based rule extractor, so the two can be
    cross-checked."""
    text = prompt[-1]["content"] if isinstance(prompt, list) else str(prompt)
    record = text.split("Session record:", 1)[-1]
    deals = list(re.finditer(r"\[DEAL\]\s*\$?\s*([0-9][0-9,]*(?:\.[0-9]+)?)(?:\s*over\s*\d+\s*months?)?(?:\s*\(([^)]+)\))?", record))
    quits = [m.start() for m in re.finditer(r"\[QUIT\]", record)]
    if not deals or (quits and quits[-1] > deals[-1].start()):
        return "deal_price: No deal"
    m = deals[-1]
    line = f"deal_price: {m.group(1).replace(',', '')}"
    if "dealt_item:" in text:
        item = m.group(2)
        if not item:  # last item named in any action before the deal
            named = re.findall(r"\[(?:BUY|SELL|INSTALLMENT)\][^\n(]*\(([^)]+)\)", record[: m.start()])
            item = named[-1] if named else ""
        line += f"\ndealt_item: {item}"
    return line
