"""AdaSTaR (arXiv 2505.16322) as pure functions: no I/O, no trainer, no global state.

References are to the paper (NeurIPS 2025 camera-ready) and to the official code (reiss-koh/AdaSTaR @ 782ace6),
as digested in ``shared/papers/adastar.md``:

* :func:`steps_schedule`, :func:`beta_schedule`: the per-iteration step budget sigma_t and sample budget
  beta_t = sigma_t * batch (paper §2 / Table 3, code ``iteration_train.py``: ``int(start_steps * grow**(t-1))``).
* :class:`HieMinHeap`: the hierarchical min-heap of §3.1 / Alg. 1 keyed by (last-sampled iteration, win rate),
  with the code's ``"id_<i>"`` string tie-break or a cleaner integer / seeded-random one.
* :func:`num_updated`: the AdaC curriculum size round(m * alpha**p) (code) or floor(m * alpha**p) (paper Alg. 1).
* :func:`adastar_sample`: one iteration of AdaSTaR's sampling (Alg. 1 lines "peek_next ... break"): walk the
  heap order, K = 2 with the second attempt only on failure, stop once beta_t correct samples exist.
* :func:`adastar_update`: pop the top ``num_updated`` observations and re-push them with (t, w).
* :func:`star_sample_full`, :func:`star_subsample`, :func:`cap_per_observation`: the baselines' sampling and
  filtering (STaR / -Acc / -Full / -Full-K / ReST-EM, paper §5.1 and App. D).
* :func:`training_sequence`, :func:`training_counts`, :func:`count_sd`: the data order of the code's
  non-shuffled, cycling sampler and the paper's imbalance measure (SD of per-observation training counts, Table 2).
* :func:`sft_pflops`, :func:`flops_to_reach`, :func:`pflops_reduction`: FLOPs accounting (Kaplan 6N per trained
  token, 2N per inference token; paper §5 "PFLOPs").
"""

from __future__ import annotations

import heapq
import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

__all__ = [
    "steps_schedule", "beta_schedule", "HieMinHeap", "num_updated", "alpha_from_outcomes", "Attempt",
    "SampleResult", "adastar_sample", "adastar_update", "star_sample_full", "star_subsample",
    "cap_per_observation", "training_sequence", "training_counts", "count_sd", "sft_pflops", "flops_to_reach",
    "pflops_reduction", "METHODS", "MethodSpec", "method_spec",
]


# ---------------------------------------------------------------------------------------------------------------
# Budget schedule (paper §2: sigma_1 = 40, sigma_{t+1} = 1.2 sigma_t, beta_t = 8 sigma_t)
# ---------------------------------------------------------------------------------------------------------------

def steps_schedule(t: int, start_steps: int = 40, grow: float = 1.2, exponential: bool = True) -> int:
    """Gradient steps sigma_t of iteration ``t`` (1-based). Code: ``int(start_steps * grow**(t-1))``; the linear
    variant (``exponential=False``) of ``iteration_train.py`` is ``int(start_steps + grow * (t-1))``."""
    if t < 1:
        raise ValueError(f"iterations are 1-based, got t={t}")
    if exponential:
        return int(start_steps * grow ** (t - 1))
    return int(start_steps + grow * (t - 1))


def beta_schedule(t: int, start_steps: int = 40, grow: float = 1.2, batch_size: int = 8,
                  exponential: bool = True) -> int:
    """beta_t = sigma_t * effective batch: the number of correct samples trained on in iteration ``t``."""
    return steps_schedule(t, start_steps, grow, exponential) * int(batch_size)


# ---------------------------------------------------------------------------------------------------------------
# HieMinHeap (paper §3.1, Alg. 1; code utils_adastar.MinHeap)
# ---------------------------------------------------------------------------------------------------------------

PRIORITIES = ("t_w", "t", "w_t")
TIE_BREAKS = ("string", "index", "random")


class HieMinHeap:
    """Min-heap over observations 0..n-1 keyed lexicographically by (t_last, w) plus a tie-break.

    ``priority``: ``"t_w"`` (AdaSTaR: stalest first, then lowest win rate), ``"t"`` (ablation "w/o w_i": heap on
    the last-sampled iteration only) or ``"w_t"`` (ablation AdaSTaR-PF: win rate first, then staleness).
    ``tie_break``: ``"string"`` compares ``"id_<i>"`` strings as the official code does (so ``"id_10" <
    "id_2"``), ``"index"`` compares integers, ``"random"`` draws a fresh seeded random key at every push.
    Both statistics start at 0 (Alg. 1 initialisation).
    """

    def __init__(self, n: int, priority: str = "t_w", tie_break: str = "string", seed: int = 0):
        if n < 0:
            raise ValueError("n must be >= 0")
        if priority not in PRIORITIES:
            raise ValueError(f"unknown heap priority {priority!r}; known: {PRIORITIES}")
        if tie_break not in TIE_BREAKS:
            raise ValueError(f"unknown tie_break {tie_break!r}; known: {TIE_BREAKS}")
        self.n = n
        self.priority = priority
        self.tie_break = tie_break
        self._rng = random.Random(seed)
        self.t_last = [0] * n
        self.win = [0.0] * n
        self._heap: list[tuple] = []
        for i in range(n):
            self._heap.append(self._entry(i))
        heapq.heapify(self._heap)

    def _tie(self, i: int):
        if self.tie_break == "string":
            return f"id_{i}"
        if self.tie_break == "index":
            return i
        return self._rng.random()

    def _entry(self, i: int) -> tuple:
        t, w = self.t_last[i], self.win[i]
        key = {"t_w": (t, w), "t": (t,), "w_t": (w, t)}[self.priority]
        return (*key, self._tie(i), i)

    def __len__(self) -> int:
        return len(self._heap)

    def order(self) -> list[int]:
        """Every observation in priority order, without changing the heap (``peek_next`` walked to the end; the
        code's ``heap_to_custom_order`` pops a deep copy, which gives the same order as sorting the entries)."""
        return [e[-1] for e in sorted(self._heap)]

    def pop(self) -> int:
        return heapq.heappop(self._heap)[-1]

    def push(self, i: int, t_last: int, win: float) -> None:
        self.t_last[i] = int(t_last)
        self.win[i] = float(win)
        heapq.heappush(self._heap, self._entry(i))

    def state(self) -> dict:
        return {"t_last": list(self.t_last), "win": list(self.win), "order": self.order()}

    @classmethod
    def from_state(cls, state: dict, priority: str = "t_w", tie_break: str = "string", seed: int = 0) -> HieMinHeap:
        """Rebuild a heap from :meth:`state` (for resuming); ``order`` fixes the position of random tie keys."""
        h = cls(0, priority, tie_break, seed)
        h.n = len(state["t_last"])
        h.t_last = [int(x) for x in state["t_last"]]
        h.win = [float(x) for x in state["win"]]
        order = state.get("order") or list(range(h.n))
        if tie_break == "random":  # keep the saved order among ties: rank in the saved order is the tie key
            rank = {i: r for r, i in enumerate(order)}
            h._heap = [(*{"t_w": (h.t_last[i], h.win[i]), "t": (h.t_last[i],), "w_t": (h.win[i], h.t_last[i])}
                        [priority], rank[i] / max(1, h.n), i) for i in range(h.n)]
        else:
            h._heap = [h._entry(i) for i in range(h.n)]
        heapq.heapify(h._heap)
        return h


def num_updated(m: int, alpha: float, power: float = 2.0, rounding: str = "round") -> int:
    """How many of the ``m`` sampled observations get fresh statistics (AdaC, paper §3.2).

    ``rounding="round"`` is the code (``round(m * alpha**accuracy_power)``, Python's round-half-to-even);
    ``"floor"`` is the paper's Alg. 1. ``power=2`` is AdaSTaR, ``power=0`` updates all m (ablation "w/o AdaC").
    """
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    x = m * alpha ** power
    if rounding == "round":
        k = round(x)
    elif rounding == "floor":
        k = math.floor(x + 1e-12)
    else:
        raise ValueError(f"unknown rounding {rounding!r} (round or floor)")
    return max(0, min(m, int(k)))


def alpha_from_outcomes(solved: Sequence[bool]) -> float:
    """alpha: the share of the sampled observations that produced at least one correct CoT (code, §2.6)."""
    return sum(bool(s) for s in solved) / len(solved) if len(solved) else 0.0


# ---------------------------------------------------------------------------------------------------------------
# Sampling (one STaR iteration's "Sample" and "Filter" steps)
# ---------------------------------------------------------------------------------------------------------------

@dataclass
class Attempt:
    """One generated rationale for one observation."""

    idx: int
    text: str
    correct: bool
    hint: bool = False
    parsed: bool = True
    prompt_tokens: int = 0
    gen_tokens: int = 0


@dataclass
class SampleResult:
    """Output of one iteration's sampling: the correct samples (D_t^+, in collection order) and bookkeeping."""

    correct: list[Attempt] = field(default_factory=list)
    sampled: list[int] = field(default_factory=list)  # observations sampled, in order (m = len)
    win: dict[int, float] = field(default_factory=dict)  # win statistic of each sampled observation
    attempts: int = 0
    unparsed: int = 0
    prompt_tokens: int = 0
    gen_tokens: int = 0

    @property
    def m(self) -> int:
        return len(self.sampled)

    @property
    def alpha(self) -> float:
        return alpha_from_outcomes([self.win[i] > 0 for i in self.sampled])

    def _count(self, atts: list[Attempt]) -> None:
        self.attempts += len(atts)
        for a in atts:
            self.unparsed += int(not a.parsed)
            self.prompt_tokens += a.prompt_tokens
            self.gen_tokens += a.gen_tokens


# attempt_fn(indices, hint) -> one Attempt per index (a batched model call); hint=True is rationalization
AttemptFn = Callable[[list[int], bool], list[Attempt]]
# attempts_fn(indices, k) -> k Attempts per index (K independent samples, no hint)
MultiAttemptFn = Callable[[list[int], int], list[list[Attempt]]]


def _two_attempts(chunk: list[int], attempt_fn: AttemptFn, rationalize: bool, res: SampleResult) -> None:
    """K = 2 as in the code: attempt 1 for every observation; attempt 2 (rationalization if on, else a plain
    resample) only for failures. Win statistic 1.0 / 0.5 / 0.0; at most one correct sample per observation."""
    first = attempt_fn(chunk, False)
    res._count(first)
    failed = []
    for i, a in zip(chunk, first):
        res.sampled.append(i)
        if a.correct:
            res.correct.append(a)
            res.win[i] = 1.0
        else:
            failed.append(i)
    if failed:
        second = attempt_fn(failed, rationalize)
        res._count(second)
        for i, a in zip(failed, second):
            if a.correct:
                res.correct.append(a)  # stored without the hint: the training text uses the plain question
                res.win[i] = 0.5
            else:
                res.win[i] = 0.0


def adastar_sample(order: Sequence[int], beta: int, attempt_fn: AttemptFn, rationalize: bool = False,
                   batch_size: int = 1) -> SampleResult:
    """AdaSTaR's adaptive sampling (Alg. 1): visit observations in heap ``order``, ``batch_size`` at a time (the
    code checks the budget once per generation batch), and stop as soon as ``beta`` correct samples exist
    (Remark 1). If the order is exhausted first, every observation was visited once."""
    res = SampleResult()
    pos = 0
    while pos < len(order) and len(res.correct) < beta:
        chunk = list(order[pos:pos + batch_size])
        pos += len(chunk)
        _two_attempts(chunk, attempt_fn, rationalize, res)
    return res


def star_sample_full(n: int, attempt_fn: AttemptFn | None = None, rationalize: bool = True, batch_size: int = 64,
                     k: int = 2, attempts_fn: MultiAttemptFn | None = None, order: Sequence[int] | None = None
                     ) -> SampleResult:
    """STaR-style sampling over the **entire** training set.

    ``k == 2`` (STaR, -Acc, -Full, -Acc-Full): attempt 1, then rationalization / resample for failures.
    ``k != 2`` (-Acc-Full-K with k=5, ReST-EM with k=11): ``k`` independent samples per observation, no
    rationalization, every correct one kept (win statistic = share correct).
    """
    res = SampleResult()
    idx = list(order) if order is not None else list(range(n))
    for s in range(0, len(idx), batch_size):
        chunk = idx[s:s + batch_size]
        if k == 2:
            if attempt_fn is None:
                raise ValueError("k=2 sampling needs attempt_fn")
            _two_attempts(chunk, attempt_fn, rationalize, res)
            continue
        if attempts_fn is None:
            raise ValueError(f"k={k} sampling needs attempts_fn")
        rows = attempts_fn(chunk, k)
        for i, atts in zip(chunk, rows):
            res._count(atts)
            res.sampled.append(i)
            good = [a for a in atts if a.correct]
            res.correct.extend(good)
            res.win[i] = len(good) / max(1, len(atts))
    return res


def star_subsample(correct: Sequence, beta: int, rng: random.Random) -> list:
    """Plain STaR's 'fit to the budget': a uniform random subset of size beta (all of them when fewer; training
    then cycles over them)."""
    items = list(correct)
    if len(items) <= beta:
        return items
    return rng.sample(items, beta)


def cap_per_observation(correct: Sequence[Attempt], cap: int) -> list[Attempt]:
    """ReST-EM's cut-off: keep at most ``cap`` correct samples per observation (first ones, in order)."""
    seen: dict[int, int] = {}
    out = []
    for a in correct:
        if seen.get(a.idx, 0) < cap:
            out.append(a)
            seen[a.idx] = seen.get(a.idx, 0) + 1
    return out


# ---------------------------------------------------------------------------------------------------------------
# Curriculum update (AdaC, Alg. 1 last lines)
# ---------------------------------------------------------------------------------------------------------------

def adastar_update(heap: HieMinHeap, res: SampleResult, t: int, power: float = 2.0, rounding: str = "round"
                   ) -> list[int]:
    """Pop the top ``num_updated(m, alpha)`` heap entries and re-push them with (t_last = t, w = this iteration's
    win statistic). The rest of the sampled block keeps its old statistics and stays at the front of the heap.
    Returns the updated observations in pop order."""
    k = num_updated(res.m, res.alpha, power, rounding)
    popped = [heap.pop() for _ in range(k)]
    missing = [i for i in popped if i not in res.win]
    if missing:  # cannot happen when the heap is unchanged between order() and the update
        raise RuntimeError(f"heap popped observations that were not sampled this iteration: {missing[:5]}")
    for i in popped:
        heap.push(i, t, res.win[i])
    return popped


# ---------------------------------------------------------------------------------------------------------------
# Training data order, training counts and their SD (Table 2)
# ---------------------------------------------------------------------------------------------------------------

def training_sequence(n_examples: int, steps: int, batch_size: int) -> list[int]:
    """Indices of the examples the trainer sees: ``steps * batch_size`` draws walking the list in order and
    cycling when it runs out (code: DistributedSampler(shuffle=False) restarted every epoch)."""
    if n_examples <= 0:
        return []
    return [j % n_examples for j in range(steps * batch_size)]


def training_counts(n_obs: int, trained_obs: Sequence[int], counts: list[int] | None = None) -> list[int]:
    """Add one per trained example to its observation's count."""
    c = list(counts) if counts is not None else [0] * n_obs
    for i in trained_obs:
        c[i] += 1
    return c


def count_sd(counts: Sequence[float]) -> float:
    """Population standard deviation of per-observation training counts (paper Table 2 'SD')."""
    n = len(counts)
    if n == 0:
        return 0.0
    mu = sum(counts) / n
    return math.sqrt(sum((c - mu) ** 2 for c in counts) / n)


# ---------------------------------------------------------------------------------------------------------------
# FLOPs
# ---------------------------------------------------------------------------------------------------------------

def sft_pflops(n_params: float, n_examples: int, seq_len: int, epochs: float = 1.0) -> float:
    """Training PFLOPs of SFT: 6 N per padded token (Kaplan et al. 2020), examples padded to ``seq_len``.
    Reproduces Table 1's SFT entries, e.g. Qwen2.5-3B on GSM8K: 6 * 3.09e9 * 7473 * 512 = 70.9 PFLOPs."""
    return 6.0 * float(n_params) * n_examples * seq_len * epochs / 1e15


def flops_to_reach(accs: Sequence[float], flops: Sequence[float], target: float, eps: float = 1e-9) -> float | None:
    """Cumulative FLOPs at the first iteration whose accuracy reaches ``target`` (None if never)."""
    for a, f in zip(accs, flops):
        if a >= target - eps:
            return float(f)
    return None


def pflops_reduction(ours: float, baseline: float) -> float:
    """Relative saving 1 - ours / baseline (Table 1's bracketed percentages, as a fraction)."""
    if baseline <= 0:
        raise ValueError("baseline FLOPs must be positive")
    return 1.0 - float(ours) / float(baseline)


# ---------------------------------------------------------------------------------------------------------------
# Method table (paper §5.1 baselines)
# ---------------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class MethodSpec:
    """How one method runs the outer loop."""

    name: str
    sampler: str  # "full" (whole training set) or "adastar" (heap, early stop)
    accumulate: bool  # continue from the previous iteration (True) or restart from the base model (False)
    budget: str  # "beta" (subsample to beta_t) or "full" (train on all of D_t^+)
    k: int = 2
    rationalize: bool | None = None  # None: the recipe's setting; False: never (K-sample methods)
    cap: int | None = None  # ReST-EM: max correct samples per observation
    heap_priority: str = "t_w"
    accuracy_power: float | None = None  # None: the recipe's f(alpha) power (2 for AdaSTaR)


METHODS: dict[str, MethodSpec] = {m.name: m for m in [
    MethodSpec("star", "full", False, "beta"),
    MethodSpec("star_acc", "full", True, "beta"),
    MethodSpec("star_full", "full", False, "full"),
    MethodSpec("star_acc_full", "full", True, "full"),
    MethodSpec("star_acc_full_k", "full", True, "full", k=5, rationalize=False),
    MethodSpec("rest_em", "full", False, "beta", k=11, rationalize=False, cap=3),
    MethodSpec("adastar", "adastar", True, "beta"),
    MethodSpec("adastar_no_adac", "adastar", True, "beta", accuracy_power=0.0),  # AdaD: update all m
    MethodSpec("adastar_no_w", "adastar", True, "beta", heap_priority="t"),
    MethodSpec("adastar_pf", "adastar", True, "beta", heap_priority="w_t"),
]}


def method_spec(name: str) -> MethodSpec:
    if name not in METHODS:
        raise ValueError(f"unknown method {name!r}; known: {', '.join(METHODS)}")
    return METHODS[name]
