"""Plain PyTorch training loop for the score model (conventions §3: flow/diffusion papers use a plain loop).

Denoising score matching (``method.score.dsm_loss``) with AdamW, linear warm-up then cosine decay, gradient
clipping (1.0 as hdm-official) and an optional EMA of the weights. A checkpoint (model, EMA, optimiser,
scheduler, step, RNG state) is written atomically every ``ckpt_every`` steps; calling :func:`train` again on the
same folder resumes from it, so a killed run never redoes finished steps.
"""

from __future__ import annotations

import copy
import math
import os
from collections.abc import Callable
from pathlib import Path

import torch

from .method.score import dsm_loss, sample_times
from .method.sde import LinearSDE

__all__ = ["train", "load_model_weights"]


def _atomic_save(obj, path: Path) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def _lr_lambda(warmup: int, total: int):
    def f(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        prog = (step - warmup) / max(1, total - warmup)
        return 0.5 * (1.0 + math.cos(math.pi * min(prog, 1.0)))

    return f


def train(model: torch.nn.Module, sde: LinearSDE, noise_draw: Callable, data: torch.Tensor, *, steps: int,
          batch_size: int, lr: float, weight_decay: float = 0.0, warmup: int = 100, grad_clip: float = 1.0,
          ema_decay: float = 0.0, ckpt_every: int = 500, ckpt_dir: str | Path, seed: int = 0,
          log_every: int = 50, log_fn: Callable[[dict], None] | None = None, progress: bool = True,
          stop_after: int | None = None) -> dict:
    """Train ``model`` (noise prediction) on ``data`` (n, N); returns a summary dict.

    ``stop_after`` ends the call early after that many steps *in this call* (used by the resume test to
    simulate a kill); the checkpoint written at that point lets the next call continue.
    """
    if steps < 1 or batch_size < 1 or lr <= 0:
        raise ValueError(f"bad training settings: steps={steps}, batch_size={batch_size}, lr={lr}")
    ckpt_dir = Path(ckpt_dir)
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    ckpt = ckpt_dir / "last.pt"
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, _lr_lambda(warmup, steps))
    ema = copy.deepcopy(model).requires_grad_(False) if ema_decay > 0 else None
    gen = torch.Generator().manual_seed(seed)
    step, losses = 0, []
    if ckpt.exists():
        state = torch.load(ckpt, weights_only=True)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        sched.load_state_dict(state["sched"])
        if ema is not None and state.get("ema") is not None:
            ema.load_state_dict(state["ema"])
        gen.set_state(state["gen"])
        step, losses = int(state["step"]), list(state.get("losses", []))

    def save():
        _atomic_save({"model": model.state_dict(), "opt": opt.state_dict(), "sched": sched.state_dict(),
                      "ema": None if ema is None else ema.state_dict(), "gen": gen.get_state(), "step": step,
                      "losses": losses}, ckpt)

    n = data.shape[0]
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=steps, initial=step, desc="train", leave=False, mininterval=2.0)
    done_here = 0
    model.train()
    running = None
    while step < steps:
        idx = torch.randint(0, n, (batch_size,), generator=gen)
        x0 = data[idx]
        t = sample_times(sde, batch_size, gen, x0.dtype)
        xi = noise_draw(batch_size, gen).to(x0.dtype)
        loss = dsm_loss(model, sde, x0, xi, t)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"non-finite training loss at step {step}")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if grad_clip and grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
        opt.step()
        sched.step()
        if ema is not None:
            with torch.no_grad():
                for pe, pm in zip(ema.parameters(), model.parameters()):
                    pe.lerp_(pm, 1.0 - ema_decay)
        step += 1
        done_here += 1
        lv = loss.item()
        running = lv if running is None else 0.98 * running + 0.02 * lv
        if bar is not None:
            bar.update(1)
        if step % log_every == 0 or step == steps:
            losses.append([step, running])
            if log_fn is not None:
                log_fn({"step": step, "loss": running, "lr": sched.get_last_lr()[0]})
        if step % ckpt_every == 0 or step == steps or (stop_after is not None and done_here >= stop_after):
            save()
        if stop_after is not None and done_here >= stop_after and step < steps:
            break
    if bar is not None:
        bar.close()
    model.eval()
    final = ema if ema is not None else model
    return {"steps": step, "finished": step >= steps, "final_loss": running, "losses": losses,
            "weights": final.state_dict()}


def load_model_weights(model: torch.nn.Module, path: str | Path) -> torch.nn.Module:
    model.load_state_dict(torch.load(path, weights_only=True))
    return model.eval()
