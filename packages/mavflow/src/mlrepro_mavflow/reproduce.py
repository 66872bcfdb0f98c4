"""Stage orchestration: data -> units -> speaker encoders -> emotion classifier -> durations -> train (full and
ablations) -> evaluation (held-out speakers, dubbing pairs) -> NFE / guidance sweep -> pipeline demo -> report.

Every stage runs through ``RunDir.stage`` so ``--resume`` skips finished stages; CFM training also resumes from
its last in-stage checkpoint.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch

from mlrepro.runs import claim, get_logger, read_json

from .config import Config
from .data import ClipSet, build_datasets, load_manifest, make_world, mel_fps, resample_to_mel_rate
from .emotion import EmotionClassifier
from .evaluate import accuracy, bootstrap_diff_ci, dtw_distance, length_match_error, mcd, mel_mse
from .method.durations import DurationPredictor, dedup
from .method.renderer import MAVFlow
from .method.speaker import XVectorTDNN, l2norm, secs, speaker_average
from .method.units import KMeansUnits, build_translator
from .pipeline import prepare_condition
from .trainer import Prepared, batched_apply, train_cfm, train_duration_predictor, train_mel_classifier

log = get_logger("mlrepro.mavflow")

# paper numbers (spec §5, from the notes' tables)
PAPER_SS = {"mavflow": [0.49, 0.51, 0.53, 0.48], "av2av": [0.35, 0.31, 0.37, 0.30]}  # Table 1, Es/Fr/It/Pt-En
PAPER_EMO = {"mavflow": 36.46, "av2av": 33.66}  # Table 2, CREMA-D Emo-Acc %
PAPER_DTW = {"mavflow": 7.30, "av2av": 7.84}    # Table 2, DTW
SETS = ("xvec_pool", "verifier_pool", "train", "test", "pairs")


# ------------------------------------------------------------------------------------------------ helpers
def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(f"device={name!r} but CUDA is not available (use device=cpu or auto)")
    return torch.device(name)


def _norm(mels: list[np.ndarray], stats) -> list[torch.Tensor]:
    mean, std = stats
    return [torch.from_numpy((m - mean) / std).float() for m in mels]


def _save_ragged(path: Path, arrays: dict[str, list[np.ndarray]], **extra) -> None:
    out = {}
    for k, xs in arrays.items():
        out[k] = np.concatenate(xs) if xs else np.zeros(0, dtype=np.int64)
        out[k + "__len"] = np.array([len(x) for x in xs], dtype=np.int64)
    out.update(extra)
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez_compressed(tmp, **out)
    tmp.replace(path)


def _load_ragged(path: Path, key: str) -> list[np.ndarray]:
    z = np.load(path, allow_pickle=False)
    lens = z[key + "__len"]
    return list(np.split(z[key], np.cumsum(lens)[:-1])) if len(lens) else []


def build_tdnn(cfg: Config, n_classes: int) -> XVectorTDNN:
    s = cfg.speaker
    return XVectorTDNN(cfg.data.n_mels, s.tdnn_channels, s.tdnn_kernels, s.tdnn_dilations, s.emb_dim, n_classes,
                       s.sentence_norm)


def build_model(cfg: Config, n_units: int, variant: str) -> MAVFlow:
    m, c = cfg.model, cfg.cfm
    return MAVFlow(n_units, cfg.data.n_mels, cfg.speaker.emb_dim, cfg.data.emotion_dim, m.channels, m.n_mid_blocks,
                   m.attn_heads, m.n_transformer, m.dropout, m.time_emb_dim, m.unit_emb_dim, m.encoder_layers,
                   use_speaker=m.use_speaker and variant not in ("no_speaker", "no_both"),
                   use_emotion=m.use_emotion and variant not in ("no_emotion", "no_both"), use_prompt=m.use_prompt,
                   sigma_min=c.sigma_min, p_drop_speaker=c.p_drop_speaker, p_drop_emotion=c.p_drop_emotion,
                   prior_loss_weight=c.prior_loss_weight, prompt_prob=c.prompt_prob, prompt_max_frac=c.prompt_max_frac,
                   attn_where=m.attn_where, linear_skip=m.linear_skip)


class Ctx:
    """Lazily loaded stage products shared by later stages."""

    def __init__(self, cfg: Config, run):
        self.cfg, self.run = cfg, run
        self._sets: dict[str, ClipSet] = {}
        self.device = resolve_device(cfg.device)

    def sets(self, name: str) -> ClipSet:
        if name not in self._sets:
            self._sets[name] = ClipSet.load(self.run.stage_dir("data") / f"{name}.npz")
        return self._sets[name]

    @property
    def stats(self):
        o = read_json(self.run.stage_dir("data") / "output.json")
        return float(o["mel_mean"]), float(o["mel_std"])

    def units(self, split: str) -> list[np.ndarray]:
        return _load_ragged(self.run.stage_dir("units") / "units.npz", split)

    def unit_extractor(self) -> KMeansUnits:
        z = np.load(self.run.stage_dir("units") / "units.npz", allow_pickle=False)
        return KMeansUnits(int(z["k"]), int(z["n_mfcc"]), bool(z["cmn"]), z["centroids"])

    def spk_npz(self):
        return np.load(self.run.stage_dir("speaker_encoders") / "embeddings.npz", allow_pickle=False)

    def tdnn(self, which: str) -> XVectorTDNN:
        sd = torch.load(self.run.stage_dir("speaker_encoders") / f"{which}.pt", map_location="cpu", weights_only=True)
        n_cls = sd["head.2.weight"].shape[0]
        m = build_tdnn(self.cfg, n_cls)
        m.load_state_dict(sd)
        return m.eval().to(self.device)

    def emo_clf(self) -> EmotionClassifier:
        m = EmotionClassifier(self.cfg.data.n_mels, self.cfg.data.n_emotions, self.cfg.emotion.classifier_channels)
        m.load_state_dict(torch.load(self.run.stage_dir("emotion_classifier") / "emo_clf.pt", map_location="cpu",
                                     weights_only=True))
        return m.eval().to(self.device)

    def dur(self, n_units: int) -> DurationPredictor:
        d = self.cfg.duration
        m = DurationPredictor(n_units, d.hidden, d.kernel, d.dropout)
        m.load_state_dict(torch.load(self.run.stage_dir("duration_predictor") / "dur.pt", map_location="cpu",
                                     weights_only=True))
        return m.eval()

    def model(self, variant: str, n_units: int) -> MAVFlow:
        m = build_model(self.cfg, n_units, variant)
        m.load_state_dict(torch.load(self.run.stage_dir(f"train_{variant}") / "model.pt", map_location="cpu",
                                     weights_only=True))
        return m.eval().to(self.device)


# ------------------------------------------------------------------------------------------------ stages
def stage_data(cfg: Config, d: Path) -> dict:
    if cfg.data.world == "manifest":
        sets = load_manifest(cfg.data.manifest, cfg.data)
        for need in ("train", "test"):
            if need not in sets:
                raise ValueError(f"manifest has no '{need}' split")
        sets.setdefault("xvec_pool", sets["train"])
        sets.setdefault("verifier_pool", sets["xvec_pool"])
        test = sets["test"]
        # real data has no ground truth for "content of B in the voice of A": evaluate resynthesis / translation
        # of each source (donor = itself), metrics against the source
        sets["pairs"] = ClipSet(list(test.mels), test.speaker.copy(), test.emotion.copy(),
                                extra={"src": np.arange(len(test)), "donor": np.arange(len(test))})
        world = "manifest"
    else:
        sets = build_datasets(cfg.data, cfg.seed, cfg.units.regulator)
        world = make_world(cfg.data, cfg.seed).name
    for k in SETS:
        sets[k].save(d / f"{k}.npz")
    allm = np.concatenate([m.reshape(-1) for m in sets["train"].mels])
    from .data import espeak_available

    return {"world": world, "espeak_available": espeak_available(), "mel_mean": float(allm.mean()),
            "mel_std": float(allm.std()), "sizes": {k: len(sets[k]) for k in SETS},
            "n_speakers": {k: int(len(np.unique(sets[k].speaker))) for k in SETS}}


def stage_units(cfg: Config, ctx: Ctx, d: Path) -> dict:
    tr, te = ctx.sets("train"), ctx.sets("test")
    km = KMeansUnits(cfg.units.k, cfg.units.n_mfcc, cfg.units.cmn).fit(tr.mels, cfg.units.kmeans_iters, cfg.seed)
    u_tr = [km(m) for m in tr.mels]
    u_te = [km(m) for m in te.mels]
    _save_ragged(d / "units.npz", {"train": u_tr, "test": u_te}, centroids=km.centroids, k=km.k, n_mfcc=km.n_mfcc,
                 cmn=km.cmn)
    out = {"k": km.k, "mean_run_length": float(np.mean([dedup(u)[1].mean() for u in u_tr])),
           "units_used": int(len(np.unique(np.concatenate(u_tr))))}
    if tr.phones:  # purity of units w.r.t. the world's true phones (synthetic world only)
        up, ph = np.concatenate(u_tr), np.concatenate(tr.phones)
        tab = np.zeros((km.k, int(ph.max()) + 1))
        np.add.at(tab, (up, ph), 1)
        out["unit_phone_purity"] = float(tab.max(1).sum() / tab.sum())
        spk = np.concatenate([np.full(len(u), s) for u, s in zip(u_tr, tr.speaker)])
        # how much speaker identity the units carry: accuracy of predicting the speaker from the unit histogram
        out["unit_speaker_majority"] = float(_unit_speaker_leak(up, spk, km.k))
    return out


def _unit_speaker_leak(units: np.ndarray, spk: np.ndarray, k: int) -> float:
    tab = np.zeros((k, int(spk.max()) + 1))
    np.add.at(tab, (units, spk), 1)
    return tab.max(1).sum() / tab.sum()


def stage_speaker(cfg: Config, ctx: Ctx, d: Path) -> dict:
    s, stats = cfg.speaker, ctx.stats
    out = {}
    models = {}
    for name, pool, seed in (("cond_tdnn", "xvec_pool", cfg.seed + 1), ("verifier_tdnn", "verifier_pool", cfg.seed + 2)):
        cs = ctx.sets(pool)
        labels = np.unique(cs.speaker, return_inverse=True)[1]
        torch.manual_seed(seed)
        m = build_tdnn(cfg, int(labels.max()) + 1)
        out[name] = train_mel_classifier(m, _norm(cs.mels, stats), labels, s.steps, s.batch_size, s.lr, seed, desc=name,
                                         device=ctx.device)
        torch.save(m.state_dict(), d / f"{name}.pt")
        models[name] = m
    cond, ver = models["cond_tdnn"], models["verifier_tdnn"]
    tr, te, pairs = ctx.sets("train"), ctx.sets("test"), ctx.sets("pairs")
    emb = {}
    emb["a_utt_train"] = batched_apply(cond.embed, _norm(tr.mels, stats), device=ctx.device).numpy()
    emb["a_utt_test"] = batched_apply(cond.embed, _norm(te.mels, stats), device=ctx.device).numpy()
    avg = speaker_average(emb["a_utt_train"], tr.speaker)
    emb["a_spk_train"] = np.stack([avg[int(x)] for x in tr.speaker])
    emb["ver_test"] = batched_apply(ver.embed, _norm(te.mels, stats), device=ctx.device).numpy()
    emb["ver_pairs_gt"] = batched_apply(ver.embed, _norm(pairs.mels, stats), device=ctx.device).numpy()
    np.savez_compressed(d / "embeddings.npz", **emb)
    # diagnostics on the held-out speakers (spec §6.2 test): averaged vs single-utterance embedding
    e, spk = l2norm(emb["a_utt_test"]), te.speaker
    single, averaged = [], []
    rng = np.random.default_rng(cfg.seed)
    for i in range(len(e)):
        same = np.flatnonzero((spk == spk[i]) & (np.arange(len(e)) != i))
        if len(same) < 2:
            continue
        single.append(float(secs(e[rng.choice(same)], e[i])))
        averaged.append(float(secs(e[same].mean(0), e[i])))
    ve = l2norm(emb["ver_test"])
    sim = ve @ ve.T
    same_m = (spk[:, None] == spk[None]) & ~np.eye(len(spk), dtype=bool)
    diff_m = spk[:, None] != spk[None]
    out.update({"heldout_cos_single_utt": float(np.mean(single)) if single else None,
                "heldout_cos_speaker_avg": float(np.mean(averaged)) if averaged else None,
                "verifier_same_speaker_cos": float(sim[same_m].mean()) if same_m.any() else None,
                "verifier_diff_speaker_cos": float(sim[diff_m].mean()) if diff_m.any() else None})
    return out


def stage_emotion(cfg: Config, ctx: Ctx, d: Path) -> dict:
    stats = ctx.stats
    tr, te, pairs = ctx.sets("train"), ctx.sets("test"), ctx.sets("pairs")
    torch.manual_seed(cfg.seed + 3)
    m = EmotionClassifier(cfg.data.n_mels, cfg.data.n_emotions, cfg.emotion.classifier_channels)
    info = train_mel_classifier(m, _norm(tr.mels, stats), tr.emotion, cfg.emotion.classifier_steps, 64,
                                cfg.emotion.classifier_lr, cfg.seed + 3, desc="emotion_clf", device=ctx.device)
    torch.save(m.state_dict(), d / "emo_clf.pt")
    pred_te = batched_apply(m, _norm(te.mels, stats), device=ctx.device).argmax(-1).numpy()
    pred_pg = batched_apply(m, _norm(pairs.mels, stats), device=ctx.device).argmax(-1).numpy()
    return {**info, "acc_heldout_gt": accuracy(pred_te, te.emotion), "acc_pairs_gt": accuracy(pred_pg, pairs.emotion)}


def stage_duration(cfg: Config, ctx: Ctx, d: Path) -> dict:
    k = ctx.unit_extractor().k
    dc = cfg.duration
    torch.manual_seed(cfg.seed + 4)
    m = DurationPredictor(k, dc.hidden, dc.kernel, dc.dropout)
    info = train_duration_predictor(m, ctx.units("train"), dc.steps, dc.batch_size, dc.lr, cfg.seed + 4)
    torch.save(m.state_dict(), d / "dur.pt")
    from .trainer import predict_durations

    err = []
    for u in ctx.units("test"):
        uu, dd = dedup(u)
        err.append(np.abs(predict_durations(m, uu) - dd).mean())
    return {**info, "heldout_duration_mae_frames": float(np.mean(err))}


def train_inputs(cfg: Config, ctx: Ctx) -> Prepared:
    tr = ctx.sets("train")
    z = ctx.spk_npz()
    spk = z["a_spk_train"] if cfg.speaker.average_in_training else l2norm(z["a_utt_train"])
    fps = mel_fps(cfg.data)
    emo = [torch.from_numpy(resample_to_mel_rate(v, m.shape[1], fps, cfg.data.video_fps).T) for v, m in zip(tr.vis, tr.mels)]
    units = [torch.from_numpy(u) for u in ctx.units("train")]
    return Prepared(_norm(tr.mels, ctx.stats), units, torch.from_numpy(np.asarray(spk, dtype=np.float32)), emo)


def stage_train(cfg: Config, ctx: Ctx, variant: str, d: Path, prep: Prepared) -> dict:
    k = ctx.unit_extractor().k
    torch.manual_seed(cfg.seed + 10)  # same init for every variant (paired comparison)
    model = build_model(cfg, k, variant)
    t = cfg.train
    info = train_cfm(model, prep, t.steps, t.batch_size, t.lr, d, cfg.seed + 10, t.grad_clip, t.weight_decay,
                     t.checkpoint_every, t.log_every, log_fn=ctx.run.log_metrics, desc=variant, device=ctx.device)
    info["n_params"] = int(sum(p.numel() for p in model.parameters()))
    return info


def eval_inputs(cfg: Config, ctx: Ctx) -> dict:
    """Conditions for every dubbing pair: content units from the donor regulated to the source length."""
    te, pairs = ctx.sets("test"), ctx.sets("pairs")
    km = ctx.unit_extractor()
    dur = ctx.dur(km.k)
    tr = build_translator(cfg.units.translator, km.k, cfg.seed, cfg.units.translator_checkpoint)
    z = ctx.spk_npz()
    a_utt = l2norm(z["a_utt_test"]).astype(np.float32)
    u_te = ctx.units("test")
    fps = mel_fps(cfg.data)
    items = []
    for i in range(len(pairs)):
        src, donor = int(pairs.extra["src"][i]), int(pairs.extra["donor"][i])
        L = te.mels[src].shape[1]
        items.append(prepare_condition(u_te[donor], L, te.vis[src], a_utt[src], dur, tr, fps, cfg.data.video_fps,
                                       cfg.units.regulator))
    n = len(items) if not cfg.eval.n_eval else min(cfg.eval.n_eval, len(items))
    return {"items": items[:n], "src": pairs.extra["src"][:n], "n": n}


@torch.no_grad()
def generate(model: MAVFlow, items, seed: int, n_steps: int, solver: str, temperature: float, w_a=0.0, w_v=0.0,
             combiner="nested", batch_size: int = 48, x0s: list[torch.Tensor] | None = None) -> tuple[list[np.ndarray], dict]:
    """Normalised mels for every item (same starting noise for the same seed); returns (mels, cost info)."""
    from .trainer import length_mask, pad_stack

    out, nfe, evals, t0 = [], 0, 0, time.time()
    dev = next(model.parameters()).device
    g = torch.Generator().manual_seed(seed)
    for b0 in range(0, len(items), batch_size):
        its = items[b0:b0 + batch_size]
        L = [len(x.units) for x in its]
        units = pad_stack([torch.from_numpy(x.units) for x in its], model.n_units).long()
        mask = length_mask(L)
        spk = torch.from_numpy(np.stack([x.spk for x in its]))
        emo = pad_stack([torch.from_numpy(x.emo) for x in its])
        x0 = torch.randn(len(its), model.n_mels, units.shape[1], generator=g) * temperature
        if x0s is not None:
            x0 = pad_stack([x0s[b0 + j] for j in range(len(its))])
        r = model.synthesize(units.to(dev), mask.to(dev), spk.to(dev), emo.to(dev), n_steps, solver, temperature, w_a, w_v,
                             combiner, x0=x0.to(dev))
        nfe, evals = r["nfe"], r["net_evals"]
        out += [r["mel"][j, :, :L[j]].cpu().numpy() for j in range(len(its))]
    return out, {"nfe": nfe, "net_evals_per_item": evals, "time_s": round(time.time() - t0, 3)}


class Scorer:
    def __init__(self, cfg: Config, ctx: Ctx, n: int):
        self.stats, self.device = ctx.stats, ctx.device
        self.ver, self.emo = ctx.tdnn("verifier_tdnn"), ctx.emo_clf()
        te, pairs = ctx.sets("test"), ctx.sets("pairs")
        self.src = pairs.extra["src"][:n]
        self.ver_src = l2norm(ctx.spk_npz()["ver_test"])[self.src]
        self.gt = [pairs.mels[i] for i in range(n)]
        self.emotion = te.emotion[self.src]
        self.src_len = np.array([te.mels[int(s)].shape[1] for s in self.src])

    def __call__(self, mels_norm: list[np.ndarray], with_dtw: bool = True) -> dict:
        mean, std = self.stats
        mels = [m * std + mean for m in mels_norm]
        finite = np.array([np.isfinite(m).all() for m in mels])
        safe = [m if f else np.zeros_like(m) for m, f in zip(mels, finite)]
        t = [torch.from_numpy(m.astype(np.float32)) for m in mels_norm]
        t = [x if f else torch.zeros_like(x) for x, f in zip(t, finite)]
        v = l2norm(batched_apply(self.ver.embed, t, device=self.device).numpy())
        pred = batched_apply(self.emo, t, device=self.device).argmax(-1).numpy()
        per = {"secs": secs(v, self.ver_src), "emo_correct": (pred == self.emotion).astype(float),
               "mse": np.array([mel_mse(m, g) for m, g in zip(safe, self.gt)]),
               "mcd": np.array([mcd(m, g) for m, g in zip(safe, self.gt)]),
               "len_err": np.array([length_match_error(m.shape[1], n) for m, n in zip(mels, self.src_len)])}
        if with_dtw:
            dt = [dtw_distance(m, g) for m, g in zip(safe, self.gt)]
            per["dtw"] = np.array([x[0] for x in dt])
            per["dtw_warp"] = np.array([x[1] for x in dt])
        for k in per:
            per[k] = np.where(finite, per[k], np.nan) if k != "len_err" else per[k]
        agg = {k: float(np.nanmean(v)) for k, v in per.items()}
        agg["emo_acc"] = agg.pop("emo_correct")
        agg["len_err_max"] = int(per["len_err"].max())
        agg["n_nonfinite"] = int((~finite).sum())
        return {"agg": agg, "per": {k: [float(x) for x in v] for k, v in per.items()}}


def draw_x0s(items, seed: int, temperature: float, n_mels: int) -> list[torch.Tensor]:
    """One starting noise per pair, shared by every model and every sampler setting (paired comparisons)."""
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(n_mels, len(x.units), generator=g) * temperature for x in items]


def stage_eval_main(cfg: Config, ctx: Ctx, d: Path) -> dict:
    ev = cfg.eval
    inp = eval_inputs(cfg, ctx)
    sc = Scorer(cfg, ctx, inp["n"])
    k = ctx.unit_extractor().k
    res, examples = {}, {}
    te = ctx.sets("test")
    x0s = draw_x0s(inp["items"], cfg.seed + 999, ev.temperature, cfg.data.n_mels)
    for v in cfg.train.variants:
        model = ctx.model(v, k)
        mels, cost = generate(model, inp["items"], 0, ev.n_steps, ev.solver, ev.temperature,
                              batch_size=ev.batch_size, x0s=x0s)
        s = sc(mels)
        res[v] = {**s["agg"], **cost, "per_item": s["per"]}
        mean, std = ctx.stats
        for j in range(min(2, len(mels))):
            examples[f"{v}_{j}"] = mels[j] * std + mean
        log.info("eval %s: %s", v, {kk: round(vv, 4) for kk, vv in s["agg"].items() if isinstance(vv, float)})
    # references: the ground-truth target, and the donor's own voice stretched to the source length
    mean, std = ctx.stats
    gt_norm = [(g - mean) / std for g in sc.gt]
    s = sc(gt_norm)
    res["reference_gt"] = {**s["agg"], "per_item": s["per"]}
    pairs = ctx.sets("pairs")
    from .data import stretch_frames

    donor_norm = [(stretch_frames(te.mels[int(pairs.extra["donor"][i])], len(inp["items"][i].units)) - mean) / std
                  for i in range(inp["n"])]
    s = sc(donor_norm)
    res["reference_donor_voice"] = {**s["agg"], "per_item": s["per"]}
    for j in range(min(2, inp["n"])):
        examples[f"source_{j}"] = te.mels[int(inp["src"][j])]
        examples[f"target_{j}"] = sc.gt[j]
    np.savez_compressed(d / "examples.npz", **examples)
    return res


def stage_eval_sweep(cfg: Config, ctx: Ctx, d: Path) -> dict:
    ev = cfg.eval
    variant = "full" if "full" in cfg.train.variants else cfg.train.variants[0]
    inp = eval_inputs(cfg, ctx)
    sc = Scorer(cfg, ctx, inp["n"])
    model = ctx.model(variant, ctx.unit_extractor().k)
    x0s = draw_x0s(inp["items"], cfg.seed + 999, ev.temperature, cfg.data.n_mels)
    # 'exact' ODE solution from the same noise (adaptive dopri5), to measure the solver error at each NFE
    ref = _adaptive_reference(model, inp["items"], x0s, ev.batch_size, ev.ode_rtol) if ev.ode_reference else None
    rows = []
    for solver in ev.nfe_solvers:
        for n in ev.nfe_steps:
            mels, cost = generate(model, inp["items"], 0, n, solver, ev.temperature, batch_size=ev.batch_size, x0s=x0s)
            s = sc(mels)["agg"]
            err = (float(np.sqrt(np.mean(np.concatenate([((a - b) ** 2).ravel() for a, b in zip(mels, ref)]))))
                   if ref is not None else None)
            rows.append({"kind": "nfe", "solver": solver, "steps": n, "w_a": 0.0, "w_v": 0.0, "combiner": "none",
                         **s, **cost, "ode_rmse_vs_dopri5": err})
    for comb in ev.combiners:
        for w_a, w_v in ev.guidance:
            if comb != ev.combiners[0] and w_a == 0 and w_v == 0:
                continue  # identical to the first combiner at w = 0
            mels, cost = generate(model, inp["items"], 0, ev.guidance_steps, "euler", ev.temperature, w_a, w_v, comb,
                                  batch_size=ev.batch_size, x0s=x0s)
            s = sc(mels)["agg"]
            rows.append({"kind": "guidance", "solver": "euler", "steps": ev.guidance_steps, "w_a": float(w_a),
                         "w_v": float(w_v), "combiner": comb, **s, **cost})
    return {"variant": variant, "rows": rows}


@torch.no_grad()
def _adaptive_reference(model, items, x0s, batch_size, rtol=1e-4):
    from .method.cfm import solve_adaptive
    from .method.decoder import pad_to_multiple
    from .trainer import length_mask, pad_stack

    out = []
    for b0 in range(0, len(items), batch_size):
        its = items[b0:b0 + batch_size]
        L = [len(x.units) for x in its]
        units = pad_stack([torch.from_numpy(x.units) for x in its], model.n_units).long()
        mask, units, _, emo = model.pad_batch(length_mask(L), units, None,
                                              pad_stack([torch.from_numpy(x.emo) for x in its]))
        dev = next(model.parameters()).device
        mask, units, emo = mask.to(dev), units.to(dev), emo.to(dev)
        spk = torch.from_numpy(np.stack([x.spk for x in its])).to(dev)
        x0 = pad_to_multiple(pad_stack([x0s[b0 + j] for j in range(len(its))]), model.multiple).to(dev) * mask
        mu = model.encoder(units, mask)
        s, e = model._conds(spk, emo, True, True, len(its), units.shape[1], x0)
        x1, _ = solve_adaptive(lambda x, t, mask=mask, mu=mu, s=s, e=e: model.decoder(x, mask, mu, t, s, e), x0,
                               rtol=rtol, atol=rtol)
        out += [(x1 * mask)[j, :, :L[j]].cpu().numpy() for j in range(len(its))]
    return out


def stage_pipeline_demo(cfg: Config, ctx: Ctx, d: Path) -> dict:
    """One clip end to end: units -> durations -> length regulation -> CFM -> vocoder -> face renderer."""
    from .face import build_face_renderer
    from .pipeline import DubbingPipeline
    from .vocoder import build_vocoder

    variant = "full" if "full" in cfg.train.variants else cfg.train.variants[0]
    km = ctx.unit_extractor()
    cond = ctx.tdnn("cond_tdnn").cpu()
    stats = ctx.stats

    def spk_embed(mel):
        x = torch.from_numpy(((mel - stats[0]) / stats[1]).astype(np.float32))[None]
        with torch.no_grad():
            return l2norm(cond.embed(x))[0].numpy()

    pipe = DubbingPipeline(km, build_translator(cfg.units.translator, km.k, cfg.seed), ctx.dur(km.k), spk_embed,
                           ctx.model(variant, km.k).cpu(), stats, build_vocoder(cfg.vocoder, cfg.data),
                           build_face_renderer(cfg.face), mel_fps(cfg.data), cfg.data.video_fps, cfg.units.regulator)
    te, pairs = ctx.sets("test"), ctx.sets("pairs")
    src, donor = int(pairs.extra["src"][0]), int(pairs.extra["donor"][0])
    t0 = time.time()
    r = pipe(te.mels[src], te.mels[donor], te.vis[src], cfg.eval.n_steps, cfg.eval.solver, cfg.eval.temperature,
             seed=cfg.seed)
    out = {"time_s": round(time.time() - t0, 3), "src_frames": int(te.mels[src].shape[1]),
           "out_frames": int(r["mel"].shape[1]), "src_video_frames": int(te.vis[src].shape[0]), "nfe": r["nfe"]}
    if "wav" in r:
        import soundfile as sf

        sf.write(d / "demo.wav", r["wav"], cfg.data.sample_rate)
        out["wav_samples"] = int(len(r["wav"]))
        out["wav_seconds"] = round(len(r["wav"]) / cfg.data.sample_rate, 3)
        # mel of the vocoded audio vs the generated mel: how much Griffin-Lim loses
        from .data import logmel

        back = logmel(r["wav"], cfg.data)[:, : r["mel"].shape[1]]
        out["griffinlim_roundtrip_mcd"] = mcd(back, r["mel"][:, : back.shape[1]])
    if "frames" in r:
        out["out_video_frames"] = int(r["frames"].shape[0])
        np.savez_compressed(d / "frames.npz", frames=r["frames"][:: max(1, len(r["frames"]) // 6)])
    return out


# ------------------------------------------------------------------------------------------------ claims
def make_claims(main: dict, seed: int) -> list:
    claims = []
    if "full" in main and "no_speaker" in main:
        f, n = main["full"], main["no_speaker"]
        lo, hi = bootstrap_diff_ci(f["per_item"]["secs"], n["per_item"]["secs"], seed=seed)
        gain = (f["secs"] - n["secs"]) / abs(n["secs"]) if n["secs"] else None
        claims.append(claim(
            "secs_speaker_conditioning",
            "Conditioning the CFM renderer on the source x-vector raises speaker similarity (SECS) on held-out "
            "speakers against a renderer trained without speaker conditioning (Table 1: MAVFlow vs AV2AV).",
            {"mavflow_ss_mean": round(float(np.mean(PAPER_SS["mavflow"])), 4),
             "av2av_ss_mean": round(float(np.mean(PAPER_SS["av2av"])), 4)},
            {"full": round(f["secs"], 4), "no_speaker": round(n["secs"], 4), "diff_ci95": [round(lo, 4), round(hi, 4)],
             "relative_gain": round(gain, 4) if gain is not None else None},
            lo > 0, "holds when the 95% bootstrap CI of the paired SECS difference lies above 0"))
    if "full" in main and "no_emotion" in main:
        f, n = main["full"], main["no_emotion"]
        lo, hi = bootstrap_diff_ci(f["per_item"]["emo_correct"], n["per_item"]["emo_correct"], seed=seed)
        claims.append(claim(
            "emotion_stream_raises_emo_acc",
            "The per-frame visual emotion stream raises emotion accuracy of the generated speech against an "
            "ablation trained without it (Table 2: Emo-Acc MAVFlow 36.46% vs AV2AV 33.66%).",
            {"mavflow_emo_acc_pct": PAPER_EMO["mavflow"], "av2av_emo_acc_pct": PAPER_EMO["av2av"]},
            {"full_pct": round(100 * f["emo_acc"], 2), "no_emotion_pct": round(100 * n["emo_acc"], 2),
             "diff_ci95_pct": [round(100 * lo, 2), round(100 * hi, 2)]},
            lo > 0, "holds when the 95% bootstrap CI of the paired accuracy difference lies above 0"))
    abl = [v for v in ("no_speaker", "no_emotion") if v in main]
    if "full" in main and abl:
        cis = {v: bootstrap_diff_ci(main[v]["per_item"]["dtw"], main["full"]["per_item"]["dtw"], seed=seed) for v in abl}
        claims.append(claim(
            "dtw_lowest_with_both_streams",
            "With both paralinguistic streams the DTW distance to the target is lower than for either ablation "
            "(Table 2: DTW MAVFlow 7.30 vs AV2AV 7.84; our DTW is a stand-in definition).",
            {"mavflow_dtw": PAPER_DTW["mavflow"], "av2av_dtw": PAPER_DTW["av2av"]},
            {"full": round(main["full"]["dtw"], 4), **{v: round(main[v]["dtw"], 4) for v in abl},
             **{f"{v}_minus_full_ci95": [round(a, 4), round(b, 4)] for v, (a, b) in cis.items()}},
            all(lo > 0 for lo, _ in cis.values()), "holds when every ablation's DTW exceeds full's (paired 95% CI > 0)"))
    variants = [v for v in main if not v.startswith("reference")]
    if variants:
        mx = max(main[v]["len_err_max"] for v in variants)
        claims.append(claim(
            "isometric_length",
            "Duration regulation interpolated to the source length makes every dubbed output exactly as long as the "
            "source (MAVFlow's length constraint for dubbing).",
            "output length = source length (no number given)", {"max_abs_length_error_frames": mx},
            mx == 0, "holds when no output differs from its source length"))
    return claims


# ------------------------------------------------------------------------------------------------ entry points
def reproduce(cfg: Config, run, args) -> dict:
    if getattr(args, "dry_run", False):
        from .dryrun import dry_run

        return dry_run(cfg, run)
    if cfg.num_threads > 0:
        torch.set_num_threads(cfg.num_threads)
    t0, c0 = time.time(), time.process_time()
    ctx = Ctx(cfg, run)
    info = {"data": run.stage("data", lambda d: stage_data(cfg, d))}
    info["units"] = run.stage("units", lambda d: stage_units(cfg, ctx, d))
    info["speaker"] = run.stage("speaker_encoders", lambda d: stage_speaker(cfg, ctx, d))
    info["emotion"] = run.stage("emotion_classifier", lambda d: stage_emotion(cfg, ctx, d))
    info["duration"] = run.stage("duration_predictor", lambda d: stage_duration(cfg, ctx, d))
    prep = None
    info["train"] = {}
    for v in cfg.train.variants:
        if prep is None and not run.stage_done(f"train_{v}"):
            prep = train_inputs(cfg, ctx)
        info["train"][v] = run.stage(f"train_{v}", lambda d, v=v, prep=prep: stage_train(cfg, ctx, v, d, prep))
    main = run.stage("eval_main", lambda d: stage_eval_main(cfg, ctx, d))
    sweep = run.stage("eval_sweep", lambda d: stage_eval_sweep(cfg, ctx, d))
    demo = run.stage("pipeline_demo", lambda d: stage_pipeline_demo(cfg, ctx, d))
    claims = make_claims(main, cfg.seed)
    metrics = {
        "world": info["data"]["world"],
        "cpu_time_s_this_attempt": round(time.process_time() - c0, 1),
        "main": {v: {k: x for k, x in r.items() if k != "per_item"} for v, r in main.items()},
        "sweep": sweep["rows"],
        "pipeline_demo": demo,
        "diagnostics": {"data": info["data"], "units": info["units"], "speaker": info["speaker"],
                        "emotion": info["emotion"], "duration": info["duration"],
                        "train": {v: {k: x for k, x in t.items() if k != "loss_curve"} for v, t in info["train"].items()}},
    }
    run.write_samples([{"variant": v, "pair": i, **{k: vals[i] for k, vals in r["per_item"].items()}}
                       for v, r in main.items() for i in range(len(r["per_item"]["secs"]))])
    res = run.write_results(metrics, claims=claims, expected=cfg.expected, seeds=[cfg.seed],
                            wall_time_s=time.time() - t0,
                            notes=f"data world: {info['data']['world']} (espeak-ng available: {info['data']['espeak_available']})")
    from .plots import make_plots

    make_plots(run.path)
    return res


def evaluate_only(cfg: Config, run, args) -> dict:
    """`eval`: rerun the evaluation stages of a finished (resumed) run."""
    if not run.stage_done("train_" + cfg.train.variants[0]):
        raise SystemExit("eval needs a run whose training stages are done: use --resume RUN_DIR")
    return reproduce(cfg, run, args)
