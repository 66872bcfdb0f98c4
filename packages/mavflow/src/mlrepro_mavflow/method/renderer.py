"""The CFM zero-shot AV renderer: unit encoder + velocity U-Net + OT-CFM training and guided sampling.

Training (spec §2.2, §2.3): X1 = normalised target mel; mu = UnitEncoder(units); a = speaker vector (speaker-
averaged a_spk in training); v = per-frame emotion stream. With probability p_drop each of a and v is replaced by
the null condition (zeros) independently (classifier-free dropout). Loss = OT-CFM loss + prior_loss_weight *
masked ||mu - X1||^2 (Matcha's prior loss).

Ablations: ``use_speaker=False`` / ``use_emotion=False`` build a network without that input at all.
"""

from __future__ import annotations

import torch
from torch import nn

from .cfm import cfm_loss, ot_path, ot_target, solve_fixed
from .decoder import UnitEncoder, VelocityUNet, pad_to_multiple
from .guidance import condition_dropout, guided_velocity


class MAVFlow(nn.Module):
    def __init__(self, n_units: int, n_mels: int = 80, spk_dim: int = 64, emo_dim: int = 10,
                 channels=(128, 128), n_mid_blocks: int = 2, attn_heads: int = 2, n_transformer: int = 1,
                 dropout: float = 0.05, time_emb_dim: int = 128, unit_emb_dim: int = 64, encoder_layers: int = 2,
                 use_speaker: bool = True, use_emotion: bool = True, use_prompt: bool = False,
                 sigma_min: float = 1e-4, p_drop_speaker: float = 0.2, p_drop_emotion: float = 0.2,
                 prior_loss_weight: float = 1.0, prompt_prob: float = 0.0, prompt_max_frac: float = 0.3,
                 attn_where: str = "all", linear_skip: bool = False):
        super().__init__()
        self.n_mels, self.n_units = n_mels, n_units
        self.use_speaker, self.use_emotion, self.use_prompt = use_speaker, use_emotion, use_prompt
        self.spk_dim, self.emo_dim = spk_dim, emo_dim
        self.sigma_min = sigma_min
        self.p_drop_speaker, self.p_drop_emotion = p_drop_speaker, p_drop_emotion
        self.prior_loss_weight = prior_loss_weight
        self.prompt_prob, self.prompt_max_frac = prompt_prob, prompt_max_frac
        self.encoder = UnitEncoder(n_units, unit_emb_dim, n_mels, encoder_layers, dropout=dropout)
        self.decoder = VelocityUNet(n_mels, channels, n_mid_blocks, attn_heads, n_transformer, dropout, time_emb_dim,
                                    spk_dim if use_speaker else 0, emo_dim if use_emotion else 0,
                                    use_prompt=use_prompt, attn_where=attn_where,
                                    linear_skip=linear_skip)

    @property
    def multiple(self) -> int:
        return self.decoder.multiple

    def pad_batch(self, mask, units, x1=None, emo=None):
        """Pad every frame-level input to the U-Net's length multiple (mask 0, unit id = pad)."""
        m = self.multiple
        mask = pad_to_multiple(mask, m)
        units = pad_to_multiple(units, m, value=self.n_units)
        x1 = pad_to_multiple(x1, m) if x1 is not None else None
        emo = pad_to_multiple(emo, m) if emo is not None else None
        return mask, units, x1, emo

    def _conds(self, spk, emo, keep_spk: bool | torch.Tensor, keep_emo: bool | torch.Tensor, B: int, L: int, like):
        s = e = None
        if self.use_speaker:
            s = spk if spk is not None else torch.zeros(B, self.spk_dim, device=like.device)
            if isinstance(keep_spk, torch.Tensor):
                s = s * keep_spk[:, None]
            elif not keep_spk:
                s = torch.zeros_like(s)
        if self.use_emotion:
            e = emo if emo is not None else torch.zeros(B, self.emo_dim, L, device=like.device)
            if isinstance(keep_emo, torch.Tensor):
                e = e * keep_emo[:, None, None]
            elif not keep_emo:
                e = torch.zeros_like(e)
        return s, e

    def loss(self, x1, mask, units, spk=None, emo=None, generator: torch.Generator | None = None) -> dict:
        """x1 [B, M, L] (normalised mel), mask [B, 1, L], units [B, L] long, spk [B, S], emo [B, E, L]."""
        mask, units, x1, emo = self.pad_batch(mask, units, x1, emo)
        B, _, L = x1.shape
        dev = x1.device
        mu = self.encoder(units, mask)
        keep_s = condition_dropout(B, self.p_drop_speaker, generator, dev)
        keep_e = condition_dropout(B, self.p_drop_emotion, generator, dev)
        s, e = self._conds(spk, emo, keep_s, keep_e, B, L, x1)
        t = torch.rand(B, generator=generator, device=dev)
        x0 = torch.randn(x1.shape, generator=generator, device=dev)
        xt = ot_path(x0, x1, t, self.sigma_min)
        u = ot_target(x0, x1, self.sigma_min)
        loss_mask = mask
        prompt = None
        if self.use_prompt:
            prompt, pmask = self.make_prompt(x1, mask, generator)
            loss_mask = mask * (1 - pmask)  # no loss on the prompt region (Voicebox / P-Flow convention)
        v = self.decoder(xt, mask, mu, t, s, e, prompt)
        l_cfm = cfm_loss(v, u, loss_mask)
        l_prior = cfm_loss(mu, x1, mask)
        total = l_cfm + self.prior_loss_weight * l_prior
        return {"loss": total, "cfm": l_cfm.detach(), "prior": l_prior.detach()}

    def make_prompt(self, x1, mask, generator=None):
        """X~1 [INFERRED]: with prob prompt_prob, a random contiguous span (<= prompt_max_frac) of x1, zeros elsewhere."""
        B, _, L = x1.shape
        pm = torch.zeros(B, 1, L, device=x1.device)
        lens = mask[:, 0].sum(-1).long()
        use = torch.rand(B, generator=generator, device=x1.device) < self.prompt_prob
        for b in range(B):
            if not use[b] or lens[b] < 2:
                continue
            n = int(torch.randint(1, max(2, int(self.prompt_max_frac * lens[b]) + 1), (1,), generator=generator, device=x1.device))
            s0 = int(torch.randint(0, int(lens[b]) - n + 1, (1,), generator=generator, device=x1.device))
            pm[b, :, s0:s0 + n] = 1
        return x1 * pm, pm

    @torch.no_grad()
    def synthesize(self, units, mask, spk=None, emo=None, n_steps: int = 10, solver: str = "euler",
                   temperature: float = 0.667, w_a: float = 0.0, w_v: float = 0.0, combiner: str = "nested",
                   x0: torch.Tensor | None = None, generator: torch.Generator | None = None, prompt=None) -> dict:
        """Sample a normalised mel [B, M, L] for frame-level ``units``. Returns mel, NFE and network passes."""
        L0 = units.shape[-1]
        mask, units, _, emo = self.pad_batch(mask, units, None, emo)
        B, L = units.shape
        dev = units.device
        mu = self.encoder(units, mask)
        if prompt is not None:
            prompt = pad_to_multiple(prompt, self.multiple)
        if x0 is None:
            x0 = torch.randn(B, self.n_mels, L, generator=generator, device=dev) * temperature
        else:
            x0 = pad_to_multiple(x0, self.multiple)
        x0 = x0 * mask
        if not self.use_speaker:
            w_a = 0.0
        if not self.use_emotion:
            w_v = 0.0

        def net(x, t, keep_s, keep_e):
            s, e = self._conds(spk, emo, keep_s, keep_e, B, L, x)
            return self.decoder(x, mask, mu, t, s, e, prompt)

        vel = guided_velocity(net, combiner, w_a, w_v)
        x1, nfe = solve_fixed(vel, x0, n_steps, solver)
        return {"mel": (x1 * mask)[..., :L0], "mu": mu[..., :L0], "nfe": nfe, "net_evals": nfe * vel.n_conditions}
