"""The negotiation protocol (spec §2.2-§2.3): action grammar, thought stripping, the turn loop, deal detection.

Dialogue: the buyer sends the fixed opener; the seller replies; then for ``rounds`` iterations the buyer replies,
then the seller. Each reply has Thought / Talk / Action parts; before a reply is shown to the opponent everything
but Talk and Action is removed (the speaker keeps its full text). A ``[DEAL]`` or ``[QUIT]`` action by either
side ends the session (checked after every reply); after ``rounds`` buyer replies without one there is no deal.

Sessions run as small state machines so that a driver can advance many of them in lockstep and send one batched
``generate`` call per agent (conventions §6), which is what the ``hf``/``vllm`` backends want.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from .scenarios import Scenario, find_variant

ACTION_TAGS = ("BUY", "SELL", "DEAL", "REJECT", "QUIT", "INSTALLMENT")
PRICED = {"BUY", "SELL", "INSTALLMENT"}
BUYER_TAGS = {"BUY", "REJECT", "DEAL", "QUIT", "INSTALLMENT"}
SELLER_TAGS = {"SELL", "REJECT", "DEAL", "QUIT", "INSTALLMENT"}
KICKOFF = "(A seller is in front of you. Start the conversation.)"  # user turn before the buyer's opener

_NUM = r"([0-9][0-9,]*(?:\.[0-9]+)?)"
_TAG_RE = re.compile(
    r"\[\s*(BUY|SELL|DEAL|REJECT|QUIT|INSTALLMENT)\s*\]"  # the tag
    r"(?:[ \t:]*(?:(?:US)?\$|USD)?[ \t]*" + _NUM + r"(?![0-9]))?"  # optional price
    r"(?:[ \t]*(?:over|for|in)[ \t]+(\d+)[ \t]*months?)?"  # optional instalment length
    r"(?:[ \t]*\(([^)\n]{1,60})\)|[ \t]+for[ \t]+(?:the[ \t]+|a[ \t]+)?([A-Za-z][A-Za-z \-]{1,40}))?",  # optional item
    re.IGNORECASE,
)
_LABEL_RE = re.compile(r"^[ \t>*_#-]*(thought|thoughts|talk|action)[ \t*_]*:[ \t*_]*", re.IGNORECASE | re.MULTILINE)
_THINK_RE = re.compile(r"<think>.*?(</think>|$)", re.IGNORECASE | re.DOTALL)
_SELF_SCORE_RE = re.compile(r"Self-score:\s*(.+)", re.IGNORECASE)
_KV_RE = re.compile(r"(cost_estimate|cs|np|ar|reward)\s*[=:]\s*\$?\s*(-?[0-9][0-9,]*(?:\.[0-9]+)?)", re.IGNORECASE)


@dataclass
class Action:
    kind: str  # one of ACTION_TAGS
    price: float | None = None
    months: int | None = None
    item: str | None = None

    def to_dict(self) -> dict:
        return {"kind": self.kind, "price": self.price, "months": self.months, "item": self.item}


def _to_float(s: str) -> float:
    return float(s.replace(",", ""))


def find_actions(text: str) -> list[Action]:
    """Every action tag in ``text``, in order, with its price / months / item when given."""
    out = []
    for m in _TAG_RE.finditer(text or ""):
        kind = m.group(1).upper()
        price = _to_float(m.group(2)) if m.group(2) else None
        months = int(m.group(3)) if m.group(3) else None
        item = (m.group(4) or m.group(5) or "").strip() or None
        out.append(Action(kind, price, months, item))
    return out


def split_sections(text: str) -> dict[str, str]:
    """Split a reply into its labelled sections (``thought``, ``talk``, ``action``; the last of each kind wins)
    plus ``preamble`` (text before the first label). ``<think>`` blocks are removed first."""
    text = _THINK_RE.sub("", text or "")
    labels = list(_LABEL_RE.finditer(text))
    if not labels:
        return {"preamble": text.strip()}
    out = {"preamble": text[: labels[0].start()].strip()}
    for j, m in enumerate(labels):
        end = labels[j + 1].start() if j + 1 < len(labels) else len(text)
        name = m.group(1).lower().rstrip("s") if m.group(1).lower() == "thoughts" else m.group(1).lower()
        out[name] = text[m.end():end].strip()
    return out


def strip_thought(text: str) -> str:
    """What the opponent sees: the Talk and Action parts only (spec §2.3 ``clean_message``).

    ``<think>`` blocks, ``Thought:`` sections and anything before the first label are removed. A reply without
    any label is passed on as it is (minus ``<think>`` blocks). A reply with labels but no Talk/Action part
    shows nothing.
    """
    sec = split_sections(text)
    if set(sec) == {"preamble"}:
        return sec["preamble"]
    parts = []
    if "talk" in sec:
        parts.append(f"Talk: {sec['talk']}")
    if "action" in sec:
        parts.append(f"Action: {sec['action']}")
    return "\n".join(parts)


def parse_action(text: str, role: str | None = None) -> tuple[Action | None, str]:
    """The action of one reply: the last valid tag of the Action section, else of the public (Talk/Action)
    text, else of the preamble of an unlabelled reply. Tags inside the Thought never count.

    Returns ``(action, problem)``; ``problem`` is ``""`` when the action is well formed, otherwise a short reason
    (``no_action``, ``missing_price``, ``wrong_role_tag``). Price-less ``[DEAL]`` is allowed (resolved against the
    opponent's last offer by the session).
    """
    sec = split_sections(text)
    pools = [sec.get("action", ""), sec.get("talk", "")] if set(sec) != {"preamble"} else [sec["preamble"]]
    allowed = BUYER_TAGS if role == "buyer" else SELLER_TAGS if role == "seller" else set(ACTION_TAGS)
    wrong = False
    for pool in pools:
        acts = find_actions(pool)
        good = [a for a in acts if a.kind in allowed]
        wrong = wrong or (len(good) < len(acts))
        if good:
            a = good[-1]
            if a.kind in PRICED and a.price is None:
                return a, "missing_price"
            return a, ""
    return None, ("wrong_role_tag" if wrong else "no_action")


def parse_self_score(text: str) -> dict | None:
    """The ``Self-score:`` line a utility-aware buyer writes in its Thought (None if absent or empty)."""
    m = _SELF_SCORE_RE.search(_THINK_RE.sub("", text or ""))
    if not m:
        return None
    vals = {k.lower(): _to_float(v) for k, v in _KV_RE.findall(m.group(1))}
    return vals or None


# -----------------------------------------------------------------------------------------------------------
# Sessions
# -----------------------------------------------------------------------------------------------------------

@dataclass
class Turn:
    role: str  # "buyer" | "seller"
    text: str  # full reply (what the speaker remembers)
    public: str  # what the opponent sees
    action: Action | None
    problem: str = ""  # parse problem ("" when fine)
    index: int = 0  # 0-based index of this speaker's reply (the buyer's opener is -1)
    finish_reason: str = "stop"
    self_score: dict | None = None
    note: str = ""  # per-turn instruction shown to the speaker (OG price rule)

    def to_dict(self) -> dict:
        return {"role": self.role, "text": self.text, "public": self.public,
                "action": self.action.to_dict() if self.action else None, "problem": self.problem,
                "index": self.index, "finish_reason": self.finish_reason, "self_score": self.self_score,
                "note": self.note}


@dataclass
class Outcome:
    status: str  # "deal" | "quit" | "no_deal"
    price: float | None = None
    item: str | None = None
    months: int | None = None
    ended_by: str | None = None  # role that sent [DEAL]/[QUIT]
    flags: list[str] = field(default_factory=list)

    @property
    def deal(self) -> bool:
        return self.status == "deal"

    def to_dict(self) -> dict:
        return {"status": self.status, "price": self.price, "item": self.item, "months": self.months,
                "ended_by": self.ended_by, "flags": list(self.flags)}


class Session:
    """One bargaining session between a buyer and a seller on ``scenario``.

    ``buyer_system`` is the full buyer system prompt (scenario + method blocks + feedback); ``buyer_note(t)``
    returns an extra per-turn instruction appended to it (OG-Narrator). ``end_rule`` is ``"action"`` (the parsed
    action ends the session; ours) or ``"substring"`` (any ``[DEAL]``/``[QUIT]`` in the raw reply, as in the
    authors' loop).
    """

    def __init__(self, scenario: Scenario, buyer_system: str, seller_system: str | None = None,
                 buyer_note: Callable[[int], str] | None = None, end_rule: str = "action", meta: dict | None = None):
        if end_rule not in ("action", "substring"):
            raise ValueError(f"end_rule must be 'action' or 'substring', got {end_rule!r}")
        self.scenario = scenario
        self.rounds = scenario.rounds
        self.buyer_system = buyer_system
        self.seller_system = seller_system if seller_system is not None else scenario.seller_system
        self.buyer_note = buyer_note
        self.end_rule = end_rule
        self.meta = dict(meta or {})
        opener = scenario.opener
        self.turns: list[Turn] = [Turn("buyer", opener, opener, None, "", -1)]
        self.outcome: Outcome | None = None
        self.extra: dict[str, Any] = {}  # e.g. the across-session feedback the buyer was shown (kept in to_dict)

    # ---- state ----------------------------------------------------------------------------------------
    @property
    def done(self) -> bool:
        return self.outcome is not None

    def n_replies(self, role: str) -> int:
        return sum(1 for t in self.turns if t.role == role and t.index >= 0)

    def next_role(self) -> str | None:
        if self.done:
            return None
        return "seller" if self.turns[-1].role == "buyer" else "buyer"

    def view(self, role: str) -> list[dict]:
        """Chat messages for ``role``'s next reply: own turns as assistant (full text), the opponent's as user
        (thoughts stripped)."""
        if role == "buyer":
            t = self.n_replies("buyer")
            note = self.buyer_note(t) if self.buyer_note else ""
            system = self.buyer_system + (f"\n\n{note}" if note else "")
            msgs = [{"role": "system", "content": system}, {"role": "user", "content": KICKOFF}]
        else:
            msgs = [{"role": "system", "content": self.seller_system}]
        for turn in self.turns:
            if turn.role == role:
                msgs.append({"role": "assistant", "content": turn.text})
            else:
                msgs.append({"role": "user", "content": turn.public})
        return msgs

    def pending(self) -> tuple[str, list[dict]] | None:
        role = self.next_role()
        return None if role is None else (role, self.view(role))

    # ---- transitions ----------------------------------------------------------------------------------
    def last_action(self, role: str) -> Action | None:
        for t in reversed(self.turns):
            if t.role == role and t.action is not None:
                return t.action
        return None

    def last_offer(self, role: str) -> Action | None:
        """Latest priced offer ([BUY]/[SELL]/[INSTALLMENT]) made by ``role``."""
        for t in reversed(self.turns):
            if t.role == role and t.action is not None and t.action.kind in PRICED and t.action.price is not None:
                return t.action
        return None

    def current_item(self) -> str | None:
        """Multi-product: the item most recently named in an action by either side (None if never named)."""
        if not self.scenario.multi:
            return None
        for t in reversed(self.turns):
            if t.action is not None and t.action.item:
                v = find_variant(self.scenario.product, t.action.item)
                if v is not None:
                    return v.name
        return None

    def feed(self, text: str, finish_reason: str = "stop") -> Turn:
        """Record the next speaker's reply and apply the end rules."""
        role = self.next_role()
        if role is None:
            raise RuntimeError("session already finished")
        index = self.n_replies(role)
        note = self.buyer_note(index) if (role == "buyer" and self.buyer_note) else ""
        action, problem = parse_action(text, role)
        if role == "buyer" and index == 0 and action is not None and action.kind not in ("BUY", "REJECT"):
            problem = problem or "first_action_not_buy_or_reject"
        turn = Turn(role, text, strip_thought(text), action, problem, index, finish_reason,
                    parse_self_score(text) if role == "buyer" else None, note)
        self.turns.append(turn)
        self._check_end(turn)
        if not self.done and role == "seller" and self.n_replies("buyer") >= self.rounds:
            self.outcome = Outcome("no_deal")
        return turn

    def _check_end(self, turn: Turn) -> None:
        act = turn.action
        kind = act.kind if act is not None and act.kind in ("DEAL", "QUIT") else None
        if self.end_rule == "substring" and kind is None:
            raw = turn.text.upper()
            if "[DEAL]" in raw or "[QUIT]" in raw:
                acts = [a for a in find_actions(turn.text) if a.kind in ("DEAL", "QUIT")]
                act = acts[-1] if acts else None
                kind = act.kind if act else None
        if kind == "QUIT":
            self.outcome = Outcome("quit", ended_by=turn.role)
        elif kind == "DEAL":
            self.outcome = self._deal(turn.role, act)

    def _deal(self, role: str, act: Action) -> Outcome:
        other = "seller" if role == "buyer" else "buyer"
        offer = self.last_offer(other)
        flags = []
        price, months, item = act.price, act.months, act.item
        if price is None:
            if offer is None:
                return Outcome("deal", None, None, None, role, ["deal_without_price"])
            price, months = offer.price, offer.months if months is None else months
            flags.append("deal_price_from_last_offer")
        elif offer is None:
            flags.append("deal_without_offer")
        elif abs(offer.price - price) > 0.005:
            flags.append("deal_price_mismatch")
        if self.scenario.multi:
            v = find_variant(self.scenario.product, item) if item else None
            if v is None:
                named = self.current_item()
                item = named or self.scenario.desired_item
                if not named:
                    flags.append("item_defaulted_to_desired")
            else:
                item = v.name
        else:
            item = None
        return Outcome("deal", float(price), item, months, role, flags)

    # ---- records --------------------------------------------------------------------------------------
    def problems(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for t in self.turns:
            if t.problem:
                key = f"{t.role}_{t.problem}"
                out[key] = out.get(key, 0) + 1
        return out

    def transcript(self, show_thoughts: bool = True) -> str:
        """Plain-text log of the session (full replies by default)."""
        lines = []
        for t in self.turns:
            who = "Buyer" if t.role == "buyer" else "Seller"
            lines.append(f"{who}: {t.text if show_thoughts else t.public}")
        return "\n\n".join(lines)

    def to_dict(self) -> dict:
        return {"scenario": self.scenario.key, "meta": self.meta, "turns": [t.to_dict() for t in self.turns],
                "outcome": self.outcome.to_dict() if self.outcome else None, "problems": self.problems(),
                **({"extra": self.extra} if self.extra else {})}


# -----------------------------------------------------------------------------------------------------------
# Batched driver
# -----------------------------------------------------------------------------------------------------------

class Responder:
    """What the driver needs from an agent: a batched ``respond(list of chat messages) -> list of (text, finish)``."""

    name: str = "agent"

    def respond(self, prompts: list[list[dict]]) -> list[tuple[str, str]]:  # pragma: no cover - interface
        raise NotImplementedError


@dataclass
class SessionSlot:
    """A live session with the agents that play it."""

    session: Session
    buyer: Any  # Responder
    seller: Any  # Responder


def run_lockstep(slots_source: Callable[[], list[SessionSlot]], on_done: Callable[[SessionSlot], None],
                 batch_size: int = 64, progress: Any = None) -> int:
    """Advance every live session by one reply per step, one batched call per agent, until none is left.

    ``slots_source()`` returns the live sessions (it may add new ones as earlier ones finish, e.g. the next
    session of a cell with across-session feedback); ``on_done(slot)`` is called once per finished session.
    Returns the number of agent calls (generated replies).
    """
    calls = 0
    while True:
        slots = [s for s in slots_source() if not s.session.done]
        if not slots:
            return calls
        groups: dict[int, tuple[Any, list[tuple[SessionSlot, list[dict]]]]] = {}
        for s in slots:
            role, msgs = s.session.pending()
            agent = s.buyer if role == "buyer" else s.seller
            groups.setdefault(id(agent), (agent, []))[1].append((s, msgs))
        for agent, items in groups.values():
            for j in range(0, len(items), max(1, batch_size)):
                chunk = items[j: j + batch_size]
                replies = agent.respond([m for _, m in chunk])
                if len(replies) != len(chunk):
                    raise RuntimeError(f"agent {getattr(agent, 'name', agent)} returned {len(replies)} replies for {len(chunk)} prompts")
                for (slot, _), (text, finish) in zip(chunk, replies):
                    slot.session.feed(text, finish)
                    calls += 1
                    if slot.session.done:
                        on_done(slot)
                        if progress is not None:
                            progress.update(1)


def run_session(scenario: Scenario, buyer: Any, seller: Any, buyer_system: str | None = None,
                buyer_note: Callable[[int], str] | None = None, end_rule: str = "action") -> Session:
    """Play one session to the end (no batching). Convenience for tests and examples."""
    s = Session(scenario, buyer_system if buyer_system is not None else scenario.buyer_system,
                buyer_note=buyer_note, end_rule=end_rule)
    slot = SessionSlot(s, buyer, seller)
    run_lockstep(lambda: [slot], lambda _: None)
    return s


def dialogue_prices(turns: Sequence[Turn], role: str) -> list[float]:
    """Prices offered by ``role`` in order (for plots and scripted policies)."""
    return [t.action.price for t in turns if t.role == role and t.action is not None and t.action.kind in PRICED
            and t.action.price is not None]
