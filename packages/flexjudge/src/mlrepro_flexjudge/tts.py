"""Test-time scaling over any judge (paper §5, Fig. 6): majority voting and budget forcing, batched over items.

:func:`majority_curve` samples ``max(ks)`` reasoning paths per item once and scores the vote of the first ``k``
for every ``k`` (self-consistency). :func:`budget_forced` runs the control flow of
:func:`mlrepro_flexjudge.method.budget_force` for a whole batch in lock-step rounds (one judge call per round),
so its outputs equal the per-item pure function's (tested against it with a stub judge).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace

from mlrepro.sampling import SamplingParams

from .method import vote_mode, vote_pair_sign, vote_score

__all__ = ["sample_paths", "majority_curve", "budget_forced"]


def sample_paths(judge, prompts, params: SamplingParams, n: int) -> list[list[str]]:
    """``n`` sampled judgements (texts) per prompt."""
    outs = judge.judge(prompts, replace(params, n=n))
    return [[c.text for c in row] for row in outs]


def majority_curve(texts: Sequence[Sequence[str]], gold: Sequence, parse: Callable[[str], object],
                   ks: Sequence[int], vote: str = "mode", correct: Callable[[object, object], bool] | None = None,
                   ) -> dict[int, float]:
    """Accuracy of the vote over the first ``k`` paths, for each ``k``. ``parse(text)`` gives a verdict;
    ``vote`` is ``"mode"`` (``Counter.most_common``), ``"pair_sign"`` (the official pair majority) or ``"mean"``
    (scores: then ``correct`` decides, e.g. rounding)."""
    correct = correct or (lambda p, g: p == g)
    out = {}
    for k in ks:
        hits = []
        for row, g in zip(texts, gold):
            if len(row) < k:
                raise ValueError(f"only {len(row)} paths for k={k}")
            vals = [parse(t) for t in row[:k]]
            if vote == "mode":
                v = vote_mode(vals)
            elif vote == "pair_sign":
                v = vote_pair_sign(vals)
            elif vote in ("mean", "score_mode"):
                v = vote_score(vals, "mean" if vote == "mean" else "mode")
            else:
                raise ValueError(f"unknown vote {vote!r}")
            hits.append(bool(correct(v, g)))
        out[int(k)] = sum(hits) / len(hits) if hits else float("nan")
    return out


def budget_forced(judge, prompts, params: SamplingParams, n_forcings: int, wait: str = "Wait",
                  stops: Sequence[str] = ("</think>", "<answer>")) -> list[dict]:
    """Budget forcing for every prompt: ``n_forcings`` rounds of "generate until the model tries to stop
    thinking, cut, append ``wait``", then one free round. Items whose round ends by length stop being forced
    (as in :func:`method.budget_force`). Returns per item ``{"text", "forced", "calls"}``; ``text`` is the whole
    assistant continuation (to be parsed)."""
    prompts = list(prompts)
    texts = [""] * len(prompts)
    active = [True] * len(prompts)
    forced = [0] * len(prompts)
    calls = [0] * len(prompts)
    p1 = replace(params, n=1, stop=list(stops))
    for _ in range(n_forcings):
        idx = [i for i, a in enumerate(active) if a]
        if not idx:
            break
        outs = judge.judge([prompts[i] for i in idx], p1, prefixes=[texts[i] for i in idx])
        for i, row in zip(idx, outs):
            c = row[0]
            calls[i] += 1
            texts[i] += c.text
            if c.finish_reason != "stop":
                active[i] = False
                continue
            sep = "" if (not texts[i] or texts[i][-1].isspace()) else "\n"
            texts[i] += sep + wait
            forced[i] += 1
    pf = replace(params, n=1, stop=None)
    outs = judge.judge(prompts, pf, prefixes=texts)
    res = []
    for i, row in enumerate(outs):
        calls[i] += 1
        res.append({"text": texts[i] + row[0].text, "forced": forced[i], "calls": calls[i]})
    return res
