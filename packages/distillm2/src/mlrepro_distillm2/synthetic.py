"""The mini recipe's synthetic task: a short, easily learnable language, and from-scratch pre-training of the tiny
teacher and student on it (plain torch loop; the models are ``transformers`` Qwen2 configs built in code).

Language ("topic bigrams"): a prompt ``q<k> <w>`` names a topic k and a start word w; the response is a sequence of
single-letter words drawn from a topic-specific first-order Markov chain started at w (rows ~ Dirichlet with a small
concentration, so each word has a few likely successors), ending after ``min_len`` words with a constant hazard or
at ``max_len``. Every word is one token of the tokenizer trained on the language, so teacher and student
next-token distributions over the full vocabulary, and hence the exact token-level KL(teacher || student), cost one
forward pass each.

Student SFT data with systematic mistakes (``mistake_rate``): the teacher is pre-trained on the clean language, the
student's SFT corpus comes from a corrupted version of it, in which each transition is replaced with probability
``mistake_rate`` by a fixed *mistake successor* m(k, w), the successor the clean chain finds least likely (probability
below 1e-2 for the mini's rows). So the SFT'd student differs from its teacher the way a real SFT'd small model does:
its own generations contain tokens the teacher assigns almost no probability, and after such a token the student sits
in prefixes the teacher's samples never contain. ``derail_rate`` adds a compounding, history-dependent error mode:
with that probability a response "derails" at a random position within its first ``min_len`` words, and from there
on *every* transition is the mistake successor (w -> m(k, w) -> m(k, m(k, w)) ..., which soon cycles, like the
repetition loops of small LMs). The student learns "once off track, stay off track", a behaviour that lives only in
prefixes containing a mistake, which teacher responses never contain: teacher-forced distillation on teacher samples
gives no signal there, distillation on the student's own samples does (the exposure-bias argument of the paper).
:meth:`SyntheticWorld.mistake_fraction` counts both in generations.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

import numpy as np

LETTERS = "abcdefghijklmnopqrstuvwxyz"


@dataclass
class WorldConfig:
    n_topics: int = 6
    n_words: int = 16
    concentration: float = 0.15
    min_len: int = 4
    max_len: int = 10
    stop_hazard: float = 0.3
    seed: int = 1234


class SyntheticWorld:
    """The ground-truth process; ``sample_response`` is seeded by the caller's ``random.Random``."""

    def __init__(self, cfg: WorldConfig):
        if not 2 <= cfg.n_words <= len(LETTERS):
            raise ValueError(f"n_words must be in [2, {len(LETTERS)}]")
        if cfg.n_topics < 1 or not 1 <= cfg.min_len <= cfg.max_len or not 0 < cfg.stop_hazard <= 1:
            raise ValueError("need n_topics >= 1, 1 <= min_len <= max_len, 0 < stop_hazard <= 1")
        self.cfg = cfg
        self.words = list(LETTERS[: cfg.n_words])
        rng = np.random.default_rng(cfg.seed)
        self.trans = rng.dirichlet(np.full(cfg.n_words, cfg.concentration), size=(cfg.n_topics, cfg.n_words))
        # the systematic mistake of the student's SFT data: the least likely successor under the clean chain
        self.mistake = self.trans.argmin(-1)

    def topics(self) -> list[str]:
        return [f"q{k}" for k in range(self.cfg.n_topics)]

    def sample_prompt(self, rng: random.Random) -> str:
        return f"q{rng.randrange(self.cfg.n_topics)} {rng.choice(self.words)}"

    def sample_prompts(self, n: int, seed: int) -> list[str]:
        rng = random.Random(seed)
        return [self.sample_prompt(rng) for _ in range(n)]

    def sample_response(self, prompt: str, rng: random.Random, mistake_rate: float = 0.0,
                        derail_rate: float = 0.0) -> str:
        """One response; with ``mistake_rate`` > 0 each transition is, with that probability, the systematic mistake
        m(k, w) instead of a draw from the clean row; with probability ``derail_rate`` the response derails at a
        uniform position in [0, min_len) and every later transition is the mistake (the student's corrupted SFT
        data)."""
        topic, start = prompt.split()
        k, w = int(topic[1:]), self.words.index(start)
        derail_at = rng.randrange(self.cfg.min_len) if derail_rate > 0 and rng.random() < derail_rate else None
        out = []
        while True:
            row = self.trans[k, w]
            if derail_at is not None and len(out) >= derail_at:
                w = int(self.mistake[k, w])
            elif mistake_rate > 0 and rng.random() < mistake_rate:
                w = int(self.mistake[k, w])
            else:
                w = int(np.searchsorted(np.cumsum(row), rng.random() * row.sum()))
                w = min(w, self.cfg.n_words - 1)
            out.append(self.words[w])
            if len(out) >= self.cfg.max_len or (len(out) >= self.cfg.min_len and rng.random() < self.cfg.stop_hazard):
                break
        return " ".join(out)

    def corpus(self, n: int, seed: int, mistake_rate: float = 0.0, derail_rate: float = 0.0) -> list[tuple[str, str]]:
        if not (0 <= mistake_rate < 1 and 0 <= derail_rate < 1):
            raise ValueError("mistake_rate and derail_rate must lie in [0, 1)")
        rng = random.Random(seed)
        out = []
        for _ in range(n):
            p = self.sample_prompt(rng)
            out.append((p, self.sample_response(p, rng, mistake_rate, derail_rate)))
        return out

    def mistake_fraction(self, prompts: list[str], responses: list[str]) -> dict[str, float]:
        """Share of the transitions in ``responses`` that are the systematic mistake m(k, w); share of responses that
        are derailed (3 mistake transitions in a row; the clean chain does this with probability < 1e-6); share of
        responses containing a non-word (unparseable) token (transitions after it are not counted)."""
        n = bad = unparseable = derailed = 0
        for p, r in zip(prompts, responses):
            topic, start = p.split()
            k, w = int(topic[1:]), self.words.index(start)
            run = longest = 0
            for tok in r.split():
                if tok not in self.words:
                    unparseable += 1
                    break
                v = self.words.index(tok)
                n += 1
                is_mistake = v == self.mistake[k, w]
                bad += int(is_mistake)
                run = run + 1 if is_mistake else 0
                longest = max(longest, run)
                w = v
            derailed += int(longest >= 3)
        return {"mistake_frac": bad / max(1, n), "derailed_frac": derailed / max(1, len(responses)), "transitions": n,
                "unparseable_frac": unparseable / max(1, len(responses))}

    def entropy_rate(self) -> float:
        """Mean per-word entropy (nats) of the transition rows: a floor for any model's NLL on word tokens."""
        t = self.trans
        return float(-(t * np.log(np.clip(t, 1e-300, None))).sum(-1).mean())


def build_world_tokenizer(world: SyntheticWorld, vocab_size: int = 300, seed: int = 0, n_texts: int = 3000):
    """A byte-level BPE tokenizer (``mlrepro.testing.build_tokenizer``, ChatML template) trained on ChatML-rendered
    samples of the language, so every word and template piece is a single token."""
    from mlrepro.testing import build_tokenizer

    texts = [f"<|im_start|>user\n{p}<|im_end|>\n<|im_start|>assistant\n{r}<|im_end|>\n"
             for p, r in world.corpus(n_texts, seed)]
    tok = build_tokenizer(texts, vocab_size=vocab_size, model_max_length=128, split_digits=False)
    for w in world.words:
        if len(tok.encode(" " + w, add_special_tokens=False)) != 1:
            raise ValueError(f"word {w!r} is not a single token; raise vocab_size")
    return tok


def pretrain(model, tokenizer, pairs: list[tuple[str, str]], *, steps: int, batch_size: int = 64, lr: float = 3e-3,
             seed: int = 0, warmup: int = 20, progress: bool = False) -> list[float]:
    """Completion-only next-token training of ``model`` on (prompt, response) pairs in ChatML (AdamW, cosine
    schedule). Returns the loss every 10 steps."""
    import torch

    from .data import concatenated_batch, tokenize_pair

    feats = [tokenize_pair(tokenizer, {"prompt": p, "chosen": r, "rejected": r}, max_length=None, chat=True,
                           add_bos=False) for p, r in pairs]
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0, betas=(0.9, 0.98))
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / warmup) * 0.5 * (1 + math.cos(math.pi * min(1.0, s / max(1, steps)))))
    model.train()
    losses = []
    it = range(steps)
    if progress:
        from tqdm import tqdm

        it = tqdm(it, desc="pretrain", leave=False)
    for step in it:
        idx = torch.randint(len(feats), (batch_size,), generator=g).tolist()
        b = concatenated_batch([feats[i] for i in idx], tokenizer.pad_token_id)
        half = len(idx)  # chosen rows only (rejected duplicates them)
        out = model(input_ids=b["input_ids"][:half], attention_mask=b["attention_mask"][:half],
                    labels=b["labels"][:half])
        opt.zero_grad(set_to_none=True)
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        if step % 10 == 0 or step == steps - 1:
            losses.append(float(out.loss.detach()))
    model.eval()
    return losses
