"""hf sampling backend: batched generation vs one prompt at a time, on tiny offline models (CPU).

For each model size, the same prompts are generated greedily (so every mode produces the same tokens, which is
checked) once one prompt per ``generate`` call (``batch_size=1``) and once batched with left padding; the
reported number is generated tokens per second (best of ``repeats`` timed runs after one warm-up call) and the
ratio batched / one-by-one. Torch runs on one thread: these models are far too small to gain from more, and on
a shared machine a second intra-op thread only adds contention noise (measured: 10-20x slower per step when
the cores are oversubscribed).
"""

from __future__ import annotations

import random
import tempfile
import time

SIZES = {
    # name: tiny_lm arguments
    "tiny": {"hidden": 16, "layers": 2, "heads": 4, "kv_heads": 2},
    "small": {"hidden": 128, "layers": 4, "heads": 4, "kv_heads": 2},
}


def _prompts(n: int, seed: int = 0) -> list:
    rng = random.Random(seed)
    words = "the answer is step total left buys sells apples coins books boxes first then finally".split()
    out: list = []
    for i in range(n):
        text = " ".join(rng.choice(words) for _ in range(rng.randint(3, 40)))
        out.append([{"role": "user", "content": text}] if i % 4 == 3 else text)  # some chat prompts too
    return out


def _time(fn, repeats: int) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def run(quick: bool = False) -> dict:
    import torch

    n_prompts = 8 if quick else 32
    max_new = 8 if quick else 32
    repeats = 1 if quick else 2
    batch_sizes = [8] if quick else [8, 32]
    sizes = ["tiny"] if quick else list(SIZES)
    prompts = _prompts(n_prompts)
    old_threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _run(prompts, n_prompts, max_new, repeats, batch_sizes, sizes)
    finally:
        torch.set_num_threads(old_threads)


def _run(prompts, n_prompts, max_new, repeats, batch_sizes, sizes) -> dict:
    import torch

    from mlrepro.sampling import SamplingParams
    from mlrepro.sampling.hf import HFSampler
    from mlrepro.testing import tiny_lm

    params = SamplingParams(temperature=0, max_new_tokens=max_new)
    res: dict = {"device": "cpu", "torch_threads": torch.get_num_threads(), "n_prompts": n_prompts,
                 "max_new_tokens": max_new, "repeats": repeats, "decoding": "greedy", "models": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for size in sizes:
            path = tiny_lm(arch="qwen2", cache_dir=tmp, **SIZES[size])
            base = HFSampler(path, device="cpu", dtype="float32", batch_size=1)
            n_params = sum(p.numel() for p in base.model.parameters())
            base.generate(prompts[:2], params)  # warm-up

            def one_by_one(s=base):
                return [s.generate([p], params)[0] for p in prompts]

            t1, ref = _time(one_by_one, repeats)
            tokens = sum(len(r[0].token_ids) for r in ref)
            entry = {"params": n_params, **SIZES[size], "generated_tokens": tokens,
                     "one_by_one": {"seconds": round(t1, 4), "tokens_per_s": round(tokens / t1, 1)}, "batched": {}}
            for bs in batch_sizes:
                s = HFSampler(base.model, tokenizer=base.tokenizer, batch_size=bs)
                tb, out = _time(lambda s=s: s.generate(prompts, params), repeats)
                same = [[c.token_ids for c in r] for r in out] == [[c.token_ids for c in r] for r in ref]
                entry["batched"][f"batch_size_{bs}"] = {
                    "seconds": round(tb, 4), "tokens_per_s": round(tokens / tb, 1),
                    "speedup_vs_one_by_one": round(t1 / tb, 2), "outputs_identical": same}
            res["models"][size] = entry
            print(f"{size}: one-by-one {entry['one_by_one']['tokens_per_s']} tok/s; " + "; ".join(
                f"{k} {v['tokens_per_s']} tok/s (x{v['speedup_vs_one_by_one']}, identical={v['outputs_identical']})"
                for k, v in entry["batched"].items()), flush=True)
    return res
