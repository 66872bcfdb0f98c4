"""SMART, "Small Reasons, Large Hints" (Kim, Yi, Kim, Yun, Kim; arXiv 2504.09923), as pure functions and classes.

A small language model (SLM) writes a solution one reasoning step at a time (a step ends at a blank line,
``"\\n\\n"``). After each step a scoring function ``s(r_i | r_<i, Q)`` in [0, 1] rates it. When the score of a
*surviving* step is below the threshold ``tau``, the SLM's step is thrown away and a large model (LLM) writes one
replacement step from the same prefix; the LLM step is always accepted and control returns to the SLM (abstract;
official code ``src/sal/search/beam_search_smart.py`` and ``beam_search_smart_conf.py``).

This module has no I/O, no model loading and no global state. Models are reached through two interfaces:

* :class:`StepGenerator`: ``generate_steps(requests, final, seed) -> list[Step]``, one reasoning step for each
  ``(question, prefix)``; ``final=True`` on the last search iteration (no stop string: write to the end).
* :class:`StepScorer`: ``score(questions, steps) -> list[list[float]]``, one score per step of each partial
  solution. A process reward model (PRM) re-scores the whole solution every time; the small model's token-level
  confidence (TLC) scores each step from its own generation log-probabilities (``keep_scores_on_intervention``:
  when the LLM replaces a step, the beam keeps the SLM step's confidence, as in the official conf variant).

:func:`search` runs SLM-only / LLM-only (``helper=None``) and SMART (``helper`` = the LLM) for Best-of-N
(``beam_width=1``: step-wise BoN, every trajectory corrected independently, as in the official launch scripts) and
beam search (N candidates, beam width M, the top N // M survive), batched over many problems. Tokens are
accounted per model (``role``). :func:`select_answer` implements the final answer rules (naive, weighted,
majority) of search-and-learn; :func:`confidence_score` and :func:`aggregate_scores` the scoring utilities.
"""

from __future__ import annotations

import copy
import hashlib
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

__all__ = [
    "STEP_DELIMITER", "AGG_STRATEGIES", "CONF_STRATEGIES", "SELECTIONS",
    "StepRequest", "Step", "StepGenerator", "StepScorer", "ConfidenceScorer",
    "confidence_score", "confidence_scores", "aggregate_scores", "split_steps",
    "BeamStep", "Beam", "Intervention", "SearchParams", "ProblemResult", "search", "call_seed",
    "dedup_indices", "top_indices", "intervention_indices", "replicate", "finalize_completed",
    "group_answers", "select_answer",
]

STEP_DELIMITER = "\n\n"  # §2.2 of the spec: a step is the text up to and including the next blank line
AGG_STRATEGIES = ("last", "min", "prod")
CONF_STRATEGIES = ("probs_mean", "likelihood", "likelihood_mean")
SELECTIONS = ("naive", "weighted", "maj")


# ---------------------------------------------------------------------------------------------------------------
# interfaces
# ---------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StepRequest:
    """Generate the next step of ``question`` after the partial solution ``prefix`` (steps joined, each ending in
    ``"\\n\\n"``)."""

    question: str
    prefix: str


@dataclass
class Step:
    """One generated reasoning step.

    ``text`` includes the trailing ``"\\n\\n"`` when the step ended at a blank line (vLLM's
    ``include_stop_str_in_output=True``). ``finished`` is True when the trajectory ends with this step:
    ``finish_reason`` is ``"eos"`` (end of sequence / last iteration), ``"length"`` (token limit) or ``"empty"``.
    ``logprobs`` are the generating model's log-probabilities of its own tokens (for TLC).
    """

    text: str
    n_tokens: int
    logprobs: list[float] | None = None
    finished: bool = False
    finish_reason: str = "step"


@runtime_checkable
class StepGenerator(Protocol):
    """A model that writes one reasoning step per request. ``role`` names it in the token accounting."""

    role: str

    def generate_steps(self, requests: list[StepRequest], final: bool, seed: int) -> list[Step]: ...


@runtime_checkable
class StepScorer(Protocol):
    """Scores every step of partial solutions: ``score(questions, steps)[b][i]`` in [0, 1] for step ``i`` of
    solution ``b``. ``keep_scores_on_intervention``: after an LLM replacement keep the scores the beam had with the
    SLM's (rejected) step instead of re-scoring (True for TLC, False for a PRM)."""

    name: str
    keep_scores_on_intervention: bool

    def score(self, questions: list[str], steps: list[list[Step]]) -> list[list[float]]: ...


# ---------------------------------------------------------------------------------------------------------------
# scoring utilities (official src/sal/utils/score.py: calculate_confidence_score, aggregate_scores)
# ---------------------------------------------------------------------------------------------------------------


def confidence_scores(logprobs: Sequence[float]) -> dict[str, float]:
    """Token-level confidence of one step from its tokens' log-probabilities ``l_1..l_n`` (spec §2.3):

    * ``likelihood = exp(sum_j l_j)`` (probability of the whole step),
    * ``likelihood_mean = exp(mean_j l_j)`` (geometric mean of the token probabilities),
    * ``probs_mean = mean_j exp(l_j)`` (arithmetic mean of the token probabilities; what SMART-TLC uses).

    An empty step has confidence 1 under every definition (empty product / mean of nothing).
    """
    lp = [float(x) for x in logprobs]
    if any(math.isnan(x) or x > 1e-6 for x in lp):
        raise ValueError(f"log-probabilities must be <= 0 and not NaN, got {lp}")
    if not lp:
        return {"likelihood": 1.0, "likelihood_mean": 1.0, "probs_mean": 1.0}
    s = sum(lp)
    return {"likelihood": math.exp(s), "likelihood_mean": math.exp(s / len(lp)),
            "probs_mean": sum(math.exp(x) for x in lp) / len(lp)}


def confidence_score(logprobs: Sequence[float], strategy: str = "probs_mean") -> float:
    """One of :func:`confidence_scores` (``strategy`` in ``CONF_STRATEGIES``)."""
    if strategy not in CONF_STRATEGIES:
        raise ValueError(f"unknown confidence strategy {strategy!r}; known: {CONF_STRATEGIES}")
    return confidence_scores(logprobs)[strategy]


def aggregate_scores(scores: Sequence[float], strategy: str = "last") -> float:
    """Score of a (partial) solution from its per-step scores: ``last`` (newest step; the paper's default),
    ``min`` or ``prod``. An empty list aggregates to 0 (nothing written yet has no support)."""
    if strategy not in AGG_STRATEGIES:
        raise ValueError(f"unknown aggregation {strategy!r}; known: {AGG_STRATEGIES}")
    if len(scores) == 0:
        return 0.0
    if strategy == "last":
        return float(scores[-1])
    if strategy == "min":
        return float(min(scores))
    return float(math.prod(float(s) for s in scores))


class ConfidenceScorer:
    """TLC scorer: each step's score is the generating model's confidence in it (``probs_mean`` by default).

    Scores come from the log-probabilities stored on each :class:`Step`; no model call is needed. After an LLM
    intervention the beam keeps the SLM step's confidence (official ``beam_search_smart_conf.py``)."""

    keep_scores_on_intervention = True

    def __init__(self, strategy: str = "probs_mean"):
        if strategy not in CONF_STRATEGIES:
            raise ValueError(f"unknown confidence strategy {strategy!r}; known: {CONF_STRATEGIES}")
        self.strategy = strategy
        self.name = f"conf:{strategy}"

    def score(self, questions: list[str], steps: list[list[Step]]) -> list[list[float]]:
        out = []
        for sol in steps:
            row = []
            for st in sol:
                if st.logprobs is None:
                    raise ValueError("ConfidenceScorer needs step log-probabilities: generate with logprobs=True")
                row.append(confidence_score(st.logprobs, self.strategy))
            out.append(row)
        return out


def split_steps(text: str, delimiter: str = STEP_DELIMITER) -> list[str]:
    """Split a solution into steps at blank lines, as the PRM does (empty pieces dropped, whitespace stripped)."""
    return [s.strip() for s in text.split(delimiter) if s.strip()]


# ---------------------------------------------------------------------------------------------------------------
# beams and the SMART search (official beam_search_smart.py, spec §2.4)
# ---------------------------------------------------------------------------------------------------------------


@dataclass
class BeamStep:
    text: str
    role: str  # which model wrote it ("slm" / "llm")
    n_tokens: int
    logprobs: list[float] | None = None
    finish_reason: str = "step"

    def as_step(self) -> Step:
        return Step(self.text, self.n_tokens, self.logprobs, self.finish_reason != "step", self.finish_reason)


@dataclass
class Intervention:
    """One LLM intervention: the iteration, the SLM step it replaced and its score, the LLM step and its score."""

    iteration: int
    old_text: str
    new_text: str
    old_score: float
    new_score: float
    llm_tokens: int


@dataclass
class Beam:
    """A partial solution. ``scores`` holds one score per step (PRM: recomputed; TLC: appended)."""

    problem: int
    index: int
    steps: list[BeamStep] = field(default_factory=list)
    scores: list[float] = field(default_factory=list)
    pruned: bool = False
    completed: bool = False
    finish_reason: str = ""
    history_tokens: int = 0
    interventions: list[Intervention] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "".join(s.text for s in self.steps)

    def tokens_by_role(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for s in self.steps:
            out[s.role] = out.get(s.role, 0) + s.n_tokens
        return out


@dataclass
class SearchParams:
    """Search knobs (official ``Config``; defaults are the paper recipe's, spec §3).

    ``n``: candidates N; ``beam_width``: M (the top ``n // beam_width`` partial solutions survive each iteration;
    M = 1 is the step-wise Best-of-N of the launch scripts); ``tau``: intervention threshold; ``num_iterations``:
    search depth (the last iteration writes to the end); ``max_history_tokens``: a beam whose steps total more
    tokens is completed; ``filter_duplicates``: drop identical partial solutions; ``sort_completed``: return the N
    best completed solutions by aggregated score (else the first N); ``agg_strategy``: how a solution's score is
    made from its step scores (compared with ``tau``, used for pruning and the final ranking).
    """

    n: int = 16
    beam_width: int = 1
    tau: float = 0.9
    num_iterations: int = 40
    max_history_tokens: int = 2048
    filter_duplicates: bool = True
    sort_completed: bool = True
    agg_strategy: str = "last"

    def __post_init__(self) -> None:
        if self.n < 1 or self.beam_width < 1 or self.n // self.beam_width < 1:
            raise ValueError(f"need n >= beam_width >= 1 (n={self.n}, beam_width={self.beam_width})")
        if self.num_iterations < 1:
            raise ValueError("num_iterations must be >= 1")
        if self.agg_strategy not in AGG_STRATEGIES:
            raise ValueError(f"unknown agg_strategy {self.agg_strategy!r}; known: {AGG_STRATEGIES}")
        if not math.isfinite(self.tau):
            raise ValueError("tau must be finite")

    @property
    def keep(self) -> int:
        return self.n // self.beam_width


@dataclass
class ProblemResult:
    """Search output for one problem: the N final solutions (best first when ``sort_completed``), their
    aggregated scores, the naive prediction, and token/step accounting by model role."""

    completions: list[Beam]
    scores: list[float]
    pred_index: int
    generated_tokens: dict[str, int]  # every token each model generated, kept or not
    calls: dict[str, int]  # steps requested from each model
    n_interventions: int
    iterations: int

    @property
    def texts(self) -> list[str]:
        return [b.text for b in self.completions]


def call_seed(seed: int, iteration: int, role: str) -> int:
    """Seed of one generation call: a stable hash of (run seed, iteration, role). A given model sees the same
    seeds in every run with the same seed, so tau = 0 reproduces SLM-only exactly."""
    h = hashlib.sha256(f"smart:{seed}:{iteration}:{role}".encode()).digest()
    return int.from_bytes(h[:8], "little") & ((1 << 62) - 1)


def replicate(active: list[Beam], n: int) -> list[Beam]:
    """Extend the surviving beams cyclically (deep copies) to exactly ``n`` beams (official: ``(active * r)[:n]``)."""
    if not active:
        raise ValueError("cannot replicate an empty beam list")
    if len(active) == n:
        return active
    reps = n // len(active) + 1
    return [copy.deepcopy(b) for b in (active * reps)[:n]]


def dedup_indices(texts: Sequence[str]) -> list[int]:
    """Indices of the first occurrence of each distinct text, in order (``filter_duplicates``)."""
    seen: dict[str, int] = {}
    for i, t in enumerate(texts):
        seen.setdefault(t, i)
    return list(seen.values())


def top_indices(scores: Sequence[float], k: int) -> list[int]:
    """Indices of the ``k`` highest scores (official ``np.argsort(scores)[-k:]``), ascending by score; ties keep
    the later index, as a stable argsort does."""
    order = sorted(range(len(scores)), key=lambda i: (scores[i], i))
    return order[-k:] if k > 0 else []


def intervention_indices(scores: Sequence[float], keep: Sequence[int], tau: float) -> list[int]:
    """The intervention rule: among the surviving beams ``keep``, those whose score is below ``tau``."""
    return [i for i in keep if scores[i] < tau]


def finalize_completed(completed: list[Beam], n: int, sort_completed: bool, agg: str) -> list[Beam]:
    """The N returned solutions: the best N by aggregated score (``sort_completed``) or the first N, padded by
    cyclic duplication when fewer than N completed."""
    if not completed:
        return []
    if sort_completed:
        # Python's sort is stable: equal scores keep completion order
        completed = sorted(completed, key=lambda b: aggregate_scores(b.scores, agg), reverse=True)
    completed = completed[:n]
    if len(completed) < n:
        completed = [copy.deepcopy(b) for b in (completed * (n // len(completed) + 1))[:n]]
    return completed


@dataclass
class _ProblemState:
    question: str
    active: list[Beam]
    completed: list[Beam] = field(default_factory=list)
    done: bool = False
    generated: dict[str, int] = field(default_factory=dict)
    calls: dict[str, int] = field(default_factory=dict)
    n_interventions: int = 0
    iterations: int = 0

    def count(self, role: str, n_tokens: int) -> None:
        self.generated[role] = self.generated.get(role, 0) + int(n_tokens)
        self.calls[role] = self.calls.get(role, 0) + 1


def _append(beam: Beam, step: Step, role: str, max_history_tokens: int) -> None:
    beam.steps.append(BeamStep(step.text, role, int(step.n_tokens), step.logprobs, step.finish_reason))
    beam.history_tokens += int(step.n_tokens)
    if beam.history_tokens > max_history_tokens:
        beam.completed, beam.finish_reason = True, "history"
    elif step.finished or step.text == "":
        beam.completed, beam.finish_reason = True, step.finish_reason if step.finished else "empty"


def search(questions: Sequence[str], generator: StepGenerator, scorer: StepScorer, params: SearchParams,
           helper: StepGenerator | None = None, seed: int = 0,
           progress: Callable[[int, int], None] | None = None) -> list[ProblemResult]:
    """Step-level search over many problems at once; SMART when ``helper`` (the LLM) is given.

    ``generator`` writes every step (the SLM for SLM-only and SMART, the LLM for LLM-only). Per iteration
    (official ``_beam_search``, spec §2.4):

    1. the unpruned beams of each unfinished problem are replicated to N;
    2. each gets one step from ``generator`` (all problems in one batched call; no stop string on the last
       iteration); a beam completes on EOS, the length limit, an empty step or too long a history;
    3. all beams are scored; completed beams leave the active set;
    4. duplicates are dropped (``filter_duplicates``), the top ``N // M`` by aggregated score survive, the others
       are pruned;
    5. **intervention**: every surviving beam whose score is below ``tau`` is reset to its state before the new
       step, ``helper`` writes one step instead (always accepted, not re-checked against tau), the beam is
       re-scored (PRM) or keeps its SLM scores (TLC), and the LLM's tokens are counted.

    Deliberate deviation from the official code: a beam completed by an LLM step is moved to the completed set
    and leaves the active set (the official code also keeps extending it).

    Returns one :class:`ProblemResult` per question.
    """
    if helper is not None and helper.role == generator.role:
        raise ValueError("helper and generator must have different roles for the token accounting")
    n, k = params.n, params.keep
    states = [_ProblemState(q, [Beam(problem=p, index=i) for i in range(n)]) for p, q in enumerate(questions)]
    for it in range(params.num_iterations):
        final = it == params.num_iterations - 1
        for s in states:
            if not s.done and not any(not b.pruned for b in s.active):
                s.done = True
        live = [s for s in states if not s.done]
        if not live:
            break
        for s in live:
            s.active = replicate([b for b in s.active if not b.pruned], n)
            s.iterations = it + 1
        beams = [b for s in live for b in s.active]
        snapshots = [copy.deepcopy(b) for b in beams]
        steps = generator.generate_steps([StepRequest(states[b.problem].question, b.text) for b in beams],
                                         final=final, seed=call_seed(seed, it, generator.role))
        if len(steps) != len(beams):
            raise RuntimeError(f"{generator.role} returned {len(steps)} steps for {len(beams)} requests")
        for b, st in zip(beams, steps):
            states[b.problem].count(generator.role, st.n_tokens)
            _append(b, st, generator.role, params.max_history_tokens)
        _score(scorer, states, beams, incremental=scorer.keep_scores_on_intervention)

        # per problem: completed beams leave, duplicates go, top N // M survive, low survivors are marked
        todo: list[tuple[_ProblemState, int, Beam, float]] = []  # (state, active index, snapshot, old score)
        pos = 0
        for s in live:
            snaps = snapshots[pos:pos + len(s.active)]
            pos += len(s.active)
            for b in s.active:
                if b.completed:
                    s.completed.append(b)
            pairs = [(b, sn) for b, sn in zip(s.active, snaps) if not b.completed]
            if not pairs or (not params.sort_completed and len(s.completed) >= n):
                s.active, s.done = [b for b, _ in pairs], True
                continue
            if params.filter_duplicates:
                keep_idx = dedup_indices([b.text for b, _ in pairs])
                pairs = [pairs[i] for i in keep_idx]
            s.active = [b for b, _ in pairs]
            agg = [aggregate_scores(b.scores, params.agg_strategy) for b in s.active]
            top = top_indices(agg, k)
            top_set = set(top)
            for i, b in enumerate(s.active):
                b.pruned = i not in top_set
            if helper is not None:
                for i in intervention_indices(agg, top, params.tau):
                    todo.append((s, i, pairs[i][1], agg[i]))
        if helper is not None and todo:
            _intervene(helper, scorer, params, todo, it, final, seed)
        if progress is not None:
            progress(it + 1, sum(not s.done for s in states))
    results = []
    for s in states:
        completed = s.completed
        incomplete = False
        if not completed:  # nothing finished within num_iterations: return the live beams, flagged
            completed, incomplete = [b for b in s.active if not b.pruned] or s.active, True
        final_beams = finalize_completed(completed, n, params.sort_completed, params.agg_strategy)
        if incomplete:
            for b in final_beams:
                b.finish_reason = "incomplete"
        scores = [aggregate_scores(b.scores, params.agg_strategy) for b in final_beams]
        pred = max(range(len(scores)), key=lambda i: (scores[i], -i)) if scores else -1
        results.append(ProblemResult(final_beams, scores, pred, dict(s.generated), dict(s.calls),
                                     s.n_interventions, s.iterations))
    return results


def _score(scorer: StepScorer, states: list[_ProblemState], beams: list[Beam], incremental: bool) -> None:
    """PRM: every beam's full step list re-scored; TLC: the newest step's score appended."""
    if not beams:
        return
    qs = [states[b.problem].question for b in beams]
    if incremental:
        new = scorer.score(qs, [[b.steps[-1].as_step()] for b in beams])
        for b, sc in zip(beams, new):
            b.scores.append(float(sc[-1]))
    else:
        new = scorer.score(qs, [[st.as_step() for st in b.steps] for b in beams])
        for b, sc in zip(beams, new):
            if len(sc) != len(b.steps):
                raise RuntimeError(f"scorer {scorer.name} returned {len(sc)} scores for {len(b.steps)} steps")
            b.scores = [float(x) for x in sc]


def _intervene(helper: StepGenerator, scorer: StepScorer, params: SearchParams,
               todo: list[tuple[_ProblemState, int, Beam, float]], it: int, final: bool, seed: int) -> None:
    snaps = [copy.deepcopy(snap) for _, _, snap, _ in todo]
    steps = helper.generate_steps([StepRequest(s.question, sn.text) for (s, _, _, _), sn in zip(todo, snaps)],
                                  final=final, seed=call_seed(seed, it, helper.role))
    if len(steps) != len(snaps):
        raise RuntimeError(f"{helper.role} returned {len(steps)} steps for {len(snaps)} requests")
    for (s, _, _, _), sn, st in zip(todo, snaps, steps):
        s.count(helper.role, st.n_tokens)
        _append(sn, st, helper.role, params.max_history_tokens)
    if scorer.keep_scores_on_intervention:
        for (s, i, _, _), sn in zip(todo, snaps):
            sn.scores = list(s.active[i].scores)  # the SLM's scores, incl. the rejected step's (official conf)
    else:
        qs = [s.question for s, _, _, _ in todo]
        new = scorer.score(qs, [[x.as_step() for x in sn.steps] for sn in snaps])
        for sn, sc in zip(snaps, new):
            sn.scores = [float(x) for x in sc]
    for (s, i, _, old), sn, st in zip(todo, snaps, steps):
        # the snapshot carries the interventions made before this iteration; add this one
        sn.interventions.append(Intervention(it, s.active[i].steps[-1].text, st.text, float(old),
                                             aggregate_scores(sn.scores, params.agg_strategy), int(st.n_tokens)))
        sn.pruned = False
        s.n_interventions += 1
        s.active[i] = sn
        if sn.completed:  # deviation: an LLM-completed beam leaves the active set
            s.completed.append(sn)
    for s in {id(s): s for s, _, _, _ in todo}.values():
        s.active = [b for b in s.active if not b.completed]


# ---------------------------------------------------------------------------------------------------------------
# final answer selection (search-and-learn: pred_naive / pred_weighted / pred_maj at n)
# ---------------------------------------------------------------------------------------------------------------


def group_answers(answers: Sequence[str | None], equiv: Callable[[str, str], bool] | None = None) -> list[list[int]]:
    """Group indices of equivalent answers (first-seen order); ``None`` answers (unparseable) are left out."""
    eq = equiv or (lambda a, b: a.strip() == b.strip())
    groups: list[list[int]] = []
    reps: list[str] = []
    for i, a in enumerate(answers):
        if a is None:
            continue
        for g, r in zip(groups, reps):
            if eq(a, r):
                g.append(i)
                break
        else:
            groups.append([i])
            reps.append(a)
    return groups


def select_answer(answers: Sequence[str | None], scores: Sequence[float], method: str = "weighted",
                  n: int | None = None, equiv: Callable[[str, str], bool] | None = None) -> int:
    """Index of the selected solution among the first ``n`` (all when None); -1 when none has an answer.

    * ``naive``: the highest-scoring solution (ties: the earlier one);
    * ``weighted``: the answer group with the largest **sum** of scores, represented by its best member;
    * ``maj``: the most frequent answer group (ties: the group seen first), represented by its best member.
    Unparseable answers (``None``) never win unless every answer is unparseable (then naive over all).
    """
    if method not in SELECTIONS:
        raise ValueError(f"unknown selection {method!r}; known: {SELECTIONS}")
    if len(answers) != len(scores):
        raise ValueError("answers and scores must have the same length")
    m = len(answers) if n is None else min(int(n), len(answers))
    if m <= 0:
        return -1
    ans, sc = list(answers[:m]), [float(x) for x in scores[:m]]

    def best(idx: Sequence[int]) -> int:
        return max(idx, key=lambda i: (sc[i], -i))

    groups = group_answers(ans, equiv)
    if not groups:
        return best(range(m))
    if method == "naive":
        return best([i for g in groups for i in g])
    if method == "weighted":
        g = max(groups, key=lambda g: (sum(sc[i] for i in g), -groups.index(g)))
    else:
        g = max(groups, key=lambda g: (len(g), -groups.index(g)))
    return best(g)


def _role_tokens(beams: Sequence[Beam]) -> dict[str, int]:
    out: dict[str, int] = {}
    for b in beams:
        for r, t in b.tokens_by_role().items():
            out[r] = out.get(r, 0) + t
    return out


def summarize_problem(res: ProblemResult) -> dict[str, Any]:
    """JSON-able accounting of one problem's search: tokens generated per model, steps per model in the final
    solutions, interventions."""
    final_steps: dict[str, int] = {}
    for b in res.completions:
        for st in b.steps:
            final_steps[st.role] = final_steps.get(st.role, 0) + 1
    return {"generated_tokens": dict(res.generated_tokens), "calls": dict(res.calls),
            "final_tokens": _role_tokens(res.completions), "final_steps": final_steps,
            "n_interventions": res.n_interventions, "iterations": res.iterations}
