"""mlrepro.kernels: fused chunked vs naive skew-KL loss step (forward + backward) on CPU, float32.

The step: student hidden states ``h [N, H]`` (a leaf that requires grad, standing in for the trunk's output) and the
student lm_head ``W [V, H]`` (requires grad); a frozen teacher with its own hidden states and head ``Wt [V, H]``.

* naive: ``s = h @ W.T`` and ``t = ht @ Wt.T`` (no grad) fully materialised, then
  ``mlrepro.kernels.divergence_reference(s, t, "skew_kl", alpha=0.1)`` (log-softmax, log-space mixture) reduced with
  ``reduce_tokens``, then ``backward()``;
* fused: ``mlrepro.kernels.fused_linear_divergence(h, W, ht, Wt, kind="skew_kl", alpha=0.1)`` (default chunk size,
  gradients computed chunk by chunk in the forward pass), then ``backward()``.

Memory: **extra peak of the step** = peak resident memory during the step minus resident memory right before it.
What is held before it (and so not counted) includes W, Wt, h, ht and the gradient buffers ``W.grad``/``h.grad``,
which are allocated (zeros) beforehand, as after a first training step. torch's CPU allocations are invisible to
tracemalloc, so each (case, method) runs in a fresh subprocess with glibc told to serve every allocation above 64 KiB
with mmap and return it on free (``MALLOC_MMAP_THRESHOLD_=65536``, ``MALLOC_TRIM_THRESHOLD_=0``), which makes the
resident set track live tensors. On Linux the kernel's exact high-water mark is used: ``VmHWM`` is reset by writing
``5`` to ``/proc/self/clear_refs`` before the step and read from ``/proc/self/status`` after it (no sampling gaps).
Elsewhere a background thread samples the RSS (psutil) every millisecond. Time: wall clock of the step; the best of
the repetitions. The host's load average is recorded: on a shared machine timings are noisy, memory is not.

The naive step at N=4096, V=152064 would need about 20 GiB (each float32 [4096, 152064] tensor is 2.5 GB and the
naive graph keeps ~8 of them); a naive run whose estimated extra memory exceeds ``NAIVE_MAX_GIB`` is not run and its
numbers are extrapolated linearly in N from the same V at N=1024 (marked ``"naive_estimated": true``). The same
extrapolation is checked against a measurement at V=32000 (``extrapolation_check``).
"""

from __future__ import annotations

import os
import time

from benchmarks._isolated import PeakRSS, main, run_worker

H = 1536
ALPHA = 0.1
NAIVE_MAX_GIB = 12.0
TARGETS = {"extra_peak_ratio_max": 0.3, "time_ratio_max": 1.3}

FULL = [
    {"name": "N1024_V32000", "n": 1024, "v": 32000},
    {"name": "N4096_V32000", "n": 4096, "v": 32000},
    {"name": "N1024_V152064", "n": 1024, "v": 152064},
    {"name": "N4096_V152064", "n": 4096, "v": 152064},
    # DistiLLM-2-shaped: [B=4, T=1024] batch, prompt tokens masked, per-sequence alpha, seq_mean reduction.
    {"name": "distillm2_B4_T1024_V152064", "n": 4096, "v": 152064, "b": 4, "fused_only": True},
]
QUICK = [
    {"name": "quick_N1024_V8000", "n": 1024, "v": 8000, "h": 256},
    {"name": "quick_distillm2_B2_T512_V8000", "n": 1024, "v": 8000, "h": 256, "b": 2},
]


# ------------------------------------------------------------------------------------------------ worker side
def _worker(spec: dict) -> dict:
    import torch

    from mlrepro.kernels import divergence_reference, fused_linear_divergence, reduce_tokens
    from mlrepro.kernels._engine import resolve_chunk_size

    n, v, h = spec["n"], spec["v"], spec.get("h", H)
    b = spec.get("b")
    g = torch.Generator().manual_seed(0)
    lead = (b, n // b) if b else (n,)
    w = (torch.randn(v, h, generator=g) * 0.02).requires_grad_()
    wt = torch.randn(v, h, generator=g) * 0.02
    hid = torch.randn(*lead, h, generator=g).requires_grad_()
    hid_t = torch.randn(*lead, h, generator=g)
    w.grad, hid.grad = torch.zeros_like(w), torch.zeros_like(hid)
    mask, alpha, reduction = None, ALPHA, "token_mean"
    if b:  # DistiLLM-2 shape: each sequence starts with a prompt (20-60% of it) that is masked out
        t = n // b
        plen = torch.randint(int(0.2 * t), int(0.6 * t), (b, 1), generator=g)
        mask = torch.arange(t).unsqueeze(0) >= plen
        alpha = torch.linspace(0.01, 0.1, b)
        reduction = "seq_mean"

    def step() -> float:
        if spec["method"] == "naive":
            s = hid @ w.T
            with torch.no_grad():
                tl = hid_t @ wt.T
            loss = reduce_tokens(divergence_reference(s, tl, "skew_kl", alpha=alpha), mask, reduction)
        else:
            loss = fused_linear_divergence(hid, w, hid_t, wt, kind="skew_kl", alpha=alpha, mask=mask,
                                           reduction=reduction)
        loss.backward()
        return loss.item()

    times, extras, losses = [], [], []
    for i in range(spec.get("warmup", 0) + spec.get("reps", 1)):
        with PeakRSS() as pk:
            t0 = time.perf_counter()
            loss = step()
            dt = time.perf_counter() - t0
        if i >= spec.get("warmup", 0):
            times.append(dt)
            extras.append(pk.peak - pk.before)
            losses.append(loss)
    return {"method": spec["method"], "time_s": min(times), "times_s": [round(x, 3) for x in times],
            "extra_peak_bytes": max(extras), "held_before_bytes": pk.before, "loss": losses[0],
            "w_grad_norm": float(w.grad.norm()), "peak_method": pk.method,
            "chunk_size": resolve_chunk_size(None, v, h), "threads": torch.get_num_threads()}


# ------------------------------------------------------------------------------------------------ driver side
def _run_worker(spec: dict) -> dict:
    return run_worker("benchmarks.bench_kernels", spec)


def _naive_estimate_gib(n: int, v: int, h: int) -> float:
    return (9 * n * v * 4 + v * h * 4) / 2**30


def _mib(x: float) -> float:
    return round(x / 2**20, 1)


def run(quick: bool = False) -> dict:
    cases = QUICK if quick else FULL
    t_start, load0 = time.time(), os.getloadavg()
    out_cases, measured_naive = [], {}
    for c in cases:
        n, v, h = c["n"], c["v"], c.get("h", H)
        reps = 2 if n * v <= 4096 * 32000 else 1
        base = {**c, "h": h, "reps": reps, "warmup": 1 if quick else 0}
        print(f"-- {c['name']}: N={n} H={h} V={v} reps={reps}", flush=True)
        fused = _run_worker({**base, "method": "fused"})
        row = {"case": c["name"], "tokens": n, "hidden": h, "vocab": v, "batch": c.get("b"),
               "fused": fused, "chunk_size": fused["chunk_size"]}
        naive = None
        if not c.get("fused_only") and _naive_estimate_gib(n, v, h) <= NAIVE_MAX_GIB:
            naive = _run_worker({**base, "method": "naive"})
            measured_naive[(v, h, n)] = naive
            row["naive"] = naive
            row["naive_estimated"] = False
            row["loss_abs_diff"] = abs(naive["loss"] - fused["loss"])
            row["w_grad_norm_rel_diff"] = abs(naive["w_grad_norm"] - fused["w_grad_norm"]) / naive["w_grad_norm"]
        elif not c.get("fused_only"):
            ref = min((k for k in measured_naive if k[0] == v and k[1] == h), key=lambda k: k[2], default=None)
            if ref is not None:
                naive = _extrapolate(measured_naive[ref], ref[2], n, v, h)
                row["naive"] = naive
                row["naive_estimated"] = True
        if naive is not None:
            row["extra_peak_ratio"] = round(fused["extra_peak_bytes"] / naive["extra_peak_bytes"], 4)
            row["time_ratio"] = round(fused["time_s"] / naive["time_s"], 4)
            row["meets_targets"] = (row["extra_peak_ratio"] <= TARGETS["extra_peak_ratio_max"]
                                    and row["time_ratio"] <= TARGETS["time_ratio_max"])
        out_cases.append(row)
        _print_row(row)
    check = _extrapolation_check(measured_naive)
    compared = [r for r in out_cases if "meets_targets" in r]
    return {
        "description": "fused chunked vs naive skew-KL (alpha=0.1) loss step, forward+backward, float32, CPU",
        "memory_method": "extra peak = VmHWM (reset via /proc/self/clear_refs) - VmRSS before the step, fresh "
                         "subprocess per (case, method), glibc mmap threshold 64 KiB; params and grads held before",
        "targets": TARGETS,
        "cases": out_cases,
        "extrapolation_check": check,
        "all_targets_met": bool(compared) and all(r["meets_targets"] for r in compared),
        "all_measured_targets_met": all(r["meets_targets"] for r in compared if not r.get("naive_estimated")),
        "load_average_start": [round(x, 2) for x in load0],
        "load_average_end": [round(x, 2) for x in os.getloadavg()],
        "cpu_count": os.cpu_count(),
        "bench_wall_s": round(time.time() - t_start, 1),
    }


def _extrapolate(ref: dict, n0: int, n: int, v: int, h: int) -> dict:
    fixed = v * h * 4  # the weight-gradient temporary does not grow with N
    per_tok = (ref["extra_peak_bytes"] - fixed) / n0
    return {"method": "naive", "extra_peak_bytes": int(fixed + per_tok * n), "time_s": ref["time_s"] * n / n0,
            "estimated_from_tokens": n0}


def _extrapolation_check(measured: dict) -> dict | None:
    for (v, h, n), res in measured.items():
        smaller = [k for k in measured if k[0] == v and k[1] == h and k[2] < n]
        if smaller:
            k0 = min(smaller, key=lambda k: k[2])
            est = _extrapolate(measured[k0], k0[2], n, v, h)
            return {"vocab": v, "from_tokens": k0[2], "to_tokens": n,
                    "estimated_extra_peak_mib": _mib(est["extra_peak_bytes"]),
                    "measured_extra_peak_mib": _mib(res["extra_peak_bytes"]),
                    "estimated_time_s": round(est["time_s"], 2), "measured_time_s": round(res["time_s"], 2)}
    return None


def _print_row(row: dict) -> None:
    f = row["fused"]
    msg = f"   fused: extra peak {_mib(f['extra_peak_bytes'])} MiB, {f['time_s']:.2f} s (chunk {f['chunk_size']})"
    if "naive" in row:
        nv = row["naive"]
        est = " (estimated)" if row.get("naive_estimated") else ""
        msg += (f"\n   naive{est}: extra peak {_mib(nv['extra_peak_bytes'])} MiB, {nv['time_s']:.2f} s"
                f"\n   ratio fused/naive: memory {row['extra_peak_ratio']:.3f} (target <= "
                f"{TARGETS['extra_peak_ratio_max']}), time {row['time_ratio']:.3f} (target <= "
                f"{TARGETS['time_ratio_max']}) -> {'ok' if row['meets_targets'] else 'MISSED'}")
    print(msg, flush=True)


if __name__ == "__main__":
    main(_worker, run)
