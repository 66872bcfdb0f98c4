"""distillm2: one DistiLLM-2 loss step (forward + backward) with the chunked kernels vs the naive full-vocabulary
implementation written like the released code, at B=4, T=1024, V=152064 (the Qwen2 vocabulary), on CPU.

The batch is the code's concatenated batch: B = 4 sequences of T = 1024 tokens, the first B/2 with teacher responses
(SKL, alpha 0.1) and the last B/2 with student responses (SRKL, alpha 0.1, detached mixture), prompts (the first
20-60 % of each row) masked, per-sequence token means (``seq_mean``), b = 1. Arms:

* ``naive_bf16``: :func:`mlrepro_distillm2.method.naive_distillm_v2_loss` with ``upcast=False`` on bf16 logits: the
  code as it runs under DeepSpeed bf16 (bf16 model, bf16 logits, full-vocabulary log-softmax, ``logsumexp``
  mixtures, SKL and SRKL at every position of every row);
* ``naive_fp32``: the same with the logits upcast to float32 (the code under fp32 / autocast);
* ``chunked``: :func:`mlrepro_distillm2.method.distillation_loss` on the same bf16 logits (``Preds(logits=...)``,
  i.e. :func:`mlrepro.kernels.chunked_divergence`): float32 maths on chunk-sized buffers, SKL only on the teacher
  rows and SRKL only on the student rows;
* ``fused``: the trainer's default path, from hidden states ``[B, T, H=1536]`` and the LM-head weights (bf16):
  :func:`mlrepro.kernels.fused_linear_divergence`, no logits in forward or backward. It includes the two
  vocabulary projections (and their gradients) that the logits arms get for free, so its time is not comparable;
  its memory is the point.

Memory: extra peak of the step = peak resident memory during the step minus resident memory right before it (the
inputs and their gradient buffers are allocated before). Each arm runs in a fresh subprocess with glibc serving
large allocations by mmap and returning them on free (``MALLOC_MMAP_THRESHOLD_=65536``, ``MALLOC_TRIM_THRESHOLD_=0``);
on Linux the kernel's exact high-water mark (``VmHWM``, reset through ``/proc/self/clear_refs``) is read. A naive arm
whose estimated extra peak exceeds ``NAIVE_MAX_GIB`` is not run at full size: it is measured at T = 128 and T = 256
and extrapolated linearly in T (marked ``estimated``). Times are wall clock on a shared machine (the load average is
recorded); memory is not affected by the load.
"""

from __future__ import annotations

import json
import os
import time

from benchmarks._isolated import PeakRSS, main, run_worker

B, T, V, H = 4, 1024, 152064, 1536
NAIVE_MAX_GIB = 11.0
QUICK = {"b": 4, "t": 128, "v": 8000, "h": 256}


def _worker(spec: dict) -> dict:
    import torch
    from mlrepro_distillm2 import method as M

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1") or 1))
    b, t, v, h = spec["b"], spec["t"], spec["v"], spec["h"]
    g = torch.Generator().manual_seed(0)
    plen = torch.randint(int(0.2 * t), int(0.6 * t), (b, 1), generator=g)
    labels = torch.randint(0, v, (b, t), generator=g)
    labels = torch.where(torch.arange(t).unsqueeze(0) >= plen, labels, M.IGNORE_INDEX)
    arm = spec["arm"]
    if arm == "fused":
        hs = (torch.randn(b, t, h, generator=g) * 1.0).bfloat16().requires_grad_()
        w = (torch.randn(v, h, generator=g) * 0.05).bfloat16().requires_grad_()
        ht = torch.randn(b, t, h, generator=g).bfloat16()
        wt = (torch.randn(v, h, generator=g) * 0.05).bfloat16()
        hs.grad, w.grad = torch.zeros_like(hs), torch.zeros_like(w)
        leaves = [hs, w]
    else:
        # logits of a [B, T] batch with a realistic spread (std 3), in the model dtype (bf16)
        zs = (torch.randn(b, t, v, generator=g) * 3).bfloat16().requires_grad_()
        zt = (torch.randn(b, t, v, generator=g) * 3).bfloat16()
        zs.grad = torch.zeros_like(zs)
        leaves = [zs]
    n_chosen = b // 2

    def step():
        if arm == "fused":
            out = M.distillation_loss("distillm_v2", M.Preds(hidden=hs, weight=w), M.Preds(hidden=ht, weight=wt),
                                      labels, n_chosen)
            loss = out.loss
        elif arm == "chunked":
            loss = M.distillation_loss("distillm_v2", M.Preds(logits=zs), M.Preds(logits=zt), labels, n_chosen).loss
        else:
            loss = M.naive_distillm_v2_loss(zs, zt, labels, n_chosen, upcast=arm == "naive_fp32")
        loss.backward()
        return float(loss)

    with PeakRSS() as pk:
        t0 = time.perf_counter()
        loss = step()
        dt = time.perf_counter() - t0
    return {"arm": arm, "time_s": round(dt, 3), "extra_peak_bytes": pk.peak - pk.before, "held_before_bytes": pk.before,
            "loss": loss, "grad_norm": float(sum(x.grad.float().norm() ** 2 for x in leaves) ** 0.5),
            "threads": torch.get_num_threads(), "peak_method": pk.method}


def _run(spec: dict) -> dict:
    return run_worker("benchmarks.bench_distillm2", spec, env_defaults={"OMP_NUM_THREADS": "1"})


def _gib(x: float) -> float:
    return round(x / 2**30, 3)


def _naive_estimate_gib(b: int, t: int, v: int, upcast: bool) -> float:
    """Estimated naive extra peak: measured at small sizes as ~13 (bf16) / ~14.5 (float32) tensors of [B, T, V]."""
    return (14.5 if upcast else 13.0) * b * t * v * (4 if upcast else 2) / 2**30


def run(quick: bool = False) -> dict:
    size = QUICK if quick else {"b": B, "t": T, "v": V, "h": H}
    t_start, load0 = time.time(), os.getloadavg()
    res: dict = {"shape": {"B": size["b"], "T": size["t"], "V": size["v"], "H_fused": size["h"]},
                 "definition": "B = sequences in the concatenated batch (B/2 teacher-response rows, B/2 "
                               "student-response rows)", "arms": {}}
    for arm in ("chunked", "naive_bf16", "naive_fp32", "fused"):
        print(f"-- {arm}", flush=True)
        if arm.startswith("naive") and _naive_estimate_gib(size["b"], size["t"], size["v"],
                                                            arm == "naive_fp32") > NAIVE_MAX_GIB:
            pts = []
            for tt in (128, 256):
                r = _run({**size, "t": tt, "arm": arm})
                pts.append((tt, r))
            (t1, r1), (t2, r2) = pts
            slope_m = (r2["extra_peak_bytes"] - r1["extra_peak_bytes"]) / (t2 - t1)
            slope_t = (r2["time_s"] - r1["time_s"]) / (t2 - t1)
            est = {"arm": arm, "estimated": True, "measured_at": {str(tt): r for tt, r in pts},
                   "extra_peak_bytes": r2["extra_peak_bytes"] + slope_m * (size["t"] - t2),
                   "time_s": round(r2["time_s"] + slope_t * (size["t"] - t2), 3)}
            res["arms"][arm] = est
        else:
            res["arms"][arm] = {**_run({**size, "arm": arm}), "estimated": False}
        a = res["arms"][arm]
        a["extra_peak_gib"] = _gib(a["extra_peak_bytes"])
        print(json.dumps({k: v for k, v in a.items() if k != "measured_at"}), flush=True)
    arms = res["arms"]
    ch = arms["chunked"]
    for ref in ("naive_bf16", "naive_fp32"):
        n = arms[ref]
        res[f"chunked_vs_{ref}"] = {
            "peak_memory_ratio": round(ch["extra_peak_bytes"] / max(1, n["extra_peak_bytes"]), 4),
            "memory_saved_gib": _gib(n["extra_peak_bytes"] - ch["extra_peak_bytes"]),
            "time_ratio": round(ch["time_s"] / max(1e-9, n["time_s"]), 3),
            "naive_estimated": n.get("estimated", False),
            "loss_abs_diff": (abs(ch["loss"] - n["loss"]) if "loss" in n else None)}
    res["fused_vs_naive_bf16_peak_memory_ratio"] = round(
        arms["fused"]["extra_peak_bytes"] / max(1, arms["naive_bf16"]["extra_peak_bytes"]), 4)
    res["logits_bytes_one_bf16_tensor_gib"] = _gib(size["b"] * size["t"] * size["v"] * 2)
    res["load_average_start_end"] = [list(load0), list(os.getloadavg())]
    res["total_s"] = round(time.time() - t_start, 1)
    return res


if __name__ == "__main__":
    main(_worker, run)
