"""Plain training loops (conventions §3: flow papers use a plain loop, no TRL): the CFM renderer with
checkpoint/resume, the x-vector TDNNs and emotion classifier, and the duration predictor."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from .method.durations import DurationPredictor, dedup, duration_loss


@dataclass
class Prepared:
    """Model-ready clips: normalised mels [M, L], frame units [L], speaker vectors [S], emotion streams [E, L]."""

    mels: list[torch.Tensor]
    units: list[torch.Tensor]
    spk: torch.Tensor
    emo: list[torch.Tensor]

    def __len__(self) -> int:
        return len(self.mels)


def pad_stack(xs: list[torch.Tensor], value: float = 0.0) -> torch.Tensor:
    L = max(x.shape[-1] for x in xs)
    out = xs[0].new_full((len(xs), *xs[0].shape[:-1], L), value)
    for i, x in enumerate(xs):
        out[i, ..., : x.shape[-1]] = x
    return out


def length_mask(lengths: list[int] | torch.Tensor, L: int | None = None) -> torch.Tensor:
    lengths = torch.as_tensor(lengths)
    L = int(L or lengths.max())
    return (torch.arange(L)[None] < lengths[:, None]).float()[:, None]


def collate(prep: Prepared, idx, pad_unit: int, device: str | torch.device = "cpu") -> dict:
    idx = [int(i) for i in idx]
    mels = [prep.mels[i] for i in idx]
    lens = [m.shape[-1] for m in mels]
    b = {"x1": pad_stack(mels), "mask": length_mask(lens), "units": pad_stack([prep.units[i] for i in idx], pad_unit).long(),
         "spk": prep.spk[idx], "emo": pad_stack([prep.emo[i] for i in idx])}
    return {k: v.to(device) for k, v in b.items()}


def _atomic_save(obj, path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def train_cfm(model, prep: Prepared, steps: int, batch_size: int, lr: float, stage_dir: Path, seed: int,
              grad_clip: float = 5.0, weight_decay: float = 0.0, checkpoint_every: int = 250, log_every: int = 50,
              log_fn: Callable[[dict], None] | None = None, desc: str = "cfm",
              device: str | torch.device = "cpu") -> dict:
    """Train the renderer for ``steps`` steps; resumes from ``stage_dir/ckpt.pt`` if a kill left one."""
    stage_dir = Path(stage_dir)
    stage_dir.mkdir(parents=True, exist_ok=True)
    model.to(device)
    opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    g = torch.Generator().manual_seed(seed)  # batch indices
    gd = torch.Generator(device=device).manual_seed(seed + 1)  # noise, t, condition dropout
    start, hist = 0, []
    ck = stage_dir / "ckpt.pt"
    if ck.exists():
        st = torch.load(ck, map_location="cpu", weights_only=True)
        model.load_state_dict(st["model"])
        opt.load_state_dict(st["opt"])
        g.set_state(st["gen"])
        gd.set_state(st["gen_dev"])
        torch.set_rng_state(st["cpu_rng"])  # dropout masks continue as in an uninterrupted run
        start, hist = int(st["step"]), list(st["hist"])
    model.train()
    t0 = time.time()
    bar = tqdm(range(start, steps), desc=desc, initial=start, total=steps, mininterval=5, leave=False)
    run_l = run_c = run_p = 0.0
    n_run = 0
    for step in bar:
        idx = torch.randint(len(prep), (batch_size,), generator=g)
        b = collate(prep, idx, model.n_units, device)
        out = model.loss(b["x1"], b["mask"], b["units"], b["spk"], b["emo"], generator=gd)
        opt.zero_grad(set_to_none=True)
        out["loss"].backward()
        if grad_clip:
            torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
        opt.step()
        run_l += float(out["loss"].detach())
        run_c += float(out["cfm"])
        run_p += float(out["prior"])
        n_run += 1
        if (step + 1) % log_every == 0 or step + 1 == steps:
            rec = {"model": desc, "loss": run_l / n_run, "cfm_loss": run_c / n_run, "prior_loss": run_p / n_run}
            hist.append([step + 1, rec["cfm_loss"]])
            bar.set_postfix(cfm=f"{rec['cfm_loss']:.3f}")
            if log_fn:
                log_fn({**rec, "train_step": step + 1})
            run_l = run_c = run_p = 0.0
            n_run = 0
        if checkpoint_every and (step + 1) % checkpoint_every == 0 and step + 1 < steps:
            _atomic_save({"model": model.state_dict(), "opt": opt.state_dict(), "gen": g.get_state(),
                          "gen_dev": gd.get_state(), "cpu_rng": torch.get_rng_state(), "step": step + 1,
                          "hist": hist}, ck)
    model.eval()
    _atomic_save(model.state_dict(), stage_dir / "model.pt")
    if ck.exists():
        ck.unlink()
    return {"steps": steps, "resumed_from": start, "train_time_s": round(time.time() - t0, 2),
            "final_cfm_loss": hist[-1][1] if hist else None, "loss_curve": hist}


def train_mel_classifier(model, mels: list[torch.Tensor], labels, steps: int, batch_size: int, lr: float, seed: int,
                         desc: str = "clf", crop: int = 0, device: str | torch.device = "cpu") -> dict:
    """Cross-entropy training of a mel classifier (x-vector TDNN head or emotion classifier)."""
    labels = torch.as_tensor(np.asarray(labels), dtype=torch.long).to(device)
    model.to(device)
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    accs = []
    for _ in tqdm(range(steps), desc=desc, mininterval=5, leave=False):
        idx = torch.randint(len(mels), (batch_size,), generator=g)
        xs = [mels[int(i)] for i in idx]
        if crop:  # random crops: more robust utterance-level embeddings
            out = []
            for x in xs:
                L = x.shape[-1]
                c = min(crop, L)
                s = int(torch.randint(0, L - c + 1, (1,), generator=g))
                out.append(x[:, s:s + c])
            xs = out
        x = pad_stack(xs).to(device)
        mask = length_mask([t.shape[-1] for t in xs]).to(device)
        logits = model(x, mask)
        idx = idx.to(device)
        loss = torch.nn.functional.cross_entropy(logits, labels[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        accs.append(float((logits.argmax(-1) == labels[idx]).float().mean()))
    model.eval()
    return {"train_acc_last50": float(np.mean(accs[-50:])) if accs else None}


@torch.no_grad()
def batched_apply(fn, mels: list[torch.Tensor], batch_size: int = 128, device: str | torch.device = "cpu") -> torch.Tensor:
    outs = []
    for i in range(0, len(mels), batch_size):
        xs = mels[i:i + batch_size]
        outs.append(fn(pad_stack(xs).to(device), length_mask([x.shape[-1] for x in xs]).to(device)).cpu())
    return torch.cat(outs)


def train_duration_predictor(model: DurationPredictor, frame_units: list[np.ndarray], steps: int, batch_size: int,
                             lr: float, seed: int) -> dict:
    pairs = [dedup(u) for u in frame_units]
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    losses = []
    for _ in tqdm(range(steps), desc="durations", mininterval=5, leave=False):
        idx = torch.randint(len(pairs), (batch_size,), generator=g)
        us = [torch.as_tensor(pairs[int(i)][0]) for i in idx]
        ds = [torch.as_tensor(pairs[int(i)][1]) for i in idx]
        u = pad_stack(us, model.pad_id).long()
        d = pad_stack(ds, 1)
        mask = length_mask([len(x) for x in us])[:, 0]
        loss = duration_loss(model(u, mask), d, mask)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    model.eval()
    return {"final_loss": float(np.mean(losses[-50:]))}


@torch.no_grad()
def predict_durations(model: DurationPredictor, units: np.ndarray) -> np.ndarray:
    from .method.durations import durations_from_log

    u = torch.as_tensor(np.asarray(units), dtype=torch.long)[None]
    return durations_from_log(model(u))[0].numpy()
