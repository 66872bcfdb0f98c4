"""``--dry-run``: resolve the config, build the data pipeline on test-made data, construct every component with
a tiny model and push one batch through each. Loads nothing from the hub; reports which external checkpoints
the full recipe would load and whether they exist here."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import torch

from mlrepro.runs import get_logger

from .config import Config
from .data import build_datasets, espeak_available, load_manifest, write_fake_manifest
from .emotion import EmoFANShaped, EmotionClassifier
from .face import ToyFaceRenderer, wav2lip_mel, wav2lip_mel_chunks
from .method.durations import DurationPredictor, dedup, regulate_to_length
from .method.renderer import MAVFlow
from .method.speaker import GE2EEncoder, XVectorTDNN, resemblyzer_weights_path
from .method.units import KMeansUnits, build_translator
from .trainer import length_mask, pad_stack
from .vocoder import GriffinLimVocoder, HiFiGANGenerator

log = get_logger("mlrepro.mavflow")


def dry_run(cfg: Config, run) -> dict:
    t0 = time.time()
    d = run.stage_dir("dry_run")
    d.mkdir(parents=True, exist_ok=True)
    comp: dict = {}
    tiny = dataclasses.replace(cfg.data, n_train_speakers=3, utts_per_train_speaker=3, n_test_speakers=2,
                               utts_per_test_speaker=2, n_xvector_speakers=3, n_verifier_speakers=3,
                               utts_per_pool_speaker=2, min_frames=min(cfg.data.min_frames, 24),
                               max_frames=min(cfg.data.max_frames, 32))
    if cfg.data.world == "manifest":
        path = write_fake_manifest(d / "manifest", tiny, seed=cfg.seed)
        sets = load_manifest(path, tiny)
        comp["data"] = f"manifest loader on a test-made manifest ({sum(len(s) for s in sets.values())} clips)"
        train = sets["train"]
    else:
        world = tiny.world
        if world in ("espeak", "auto") and not espeak_available():
            tiny = dataclasses.replace(tiny, world="synthetic")
        sets = build_datasets(tiny, cfg.seed, cfg.units.regulator)
        train = sets["train"]
        comp["data"] = f"{tiny.world} world ({len(train)} train clips)"
    mels = train.mels
    k = min(cfg.units.k, 8)
    km = KMeansUnits(k, cfg.units.n_mfcc, cfg.units.cmn).fit(mels, 3, cfg.seed)
    units = [km(m) for m in mels]
    u, dur = dedup(units[0])
    reg = regulate_to_length(build_translator("remap", k)(u), dur, mels[0].shape[1] + 3, cfg.units.regulator)
    comp["units"] = f"k-means stand-in k={k}; regulator {cfg.units.regulator} -> {len(reg)} frames"
    dp = DurationPredictor(k, 16, cfg.duration.kernel, cfg.duration.dropout)
    comp["duration_predictor"] = list(dp(torch.as_tensor(u)[None]).shape)
    x = pad_stack([torch.from_numpy(m) for m in mels[:4]])
    mask = length_mask([m.shape[1] for m in mels[:4]])
    s = cfg.speaker
    tdnn = XVectorTDNN(cfg.data.n_mels if cfg.data.world != "manifest" else tiny.n_mels, [8] * len(s.tdnn_channels),
                       s.tdnn_kernels, s.tdnn_dilations, s.emb_dim, 3, s.sentence_norm)
    spk = tdnn.embed(x, mask).detach()
    comp["xvector_tdnn"] = list(spk.shape)
    comp["emotion_classifier"] = list(EmotionClassifier(x.shape[1], cfg.data.n_emotions, 8)(x, mask).shape)
    comp["emofan_shaped"] = list(EmoFANShaped()(torch.rand(2, 3, 64, 64)).shape)
    comp["ge2e_encoder"] = list(GE2EEncoder()(torch.rand(1, 160, 40)).shape)
    model = MAVFlow(k, x.shape[1], s.emb_dim, cfg.data.emotion_dim, [16, 16], 1, 2, 1, 0.0, 16, 8, 1,
                    use_prompt=cfg.model.use_prompt, sigma_min=cfg.cfm.sigma_min, prompt_prob=cfg.cfm.prompt_prob)
    emo = torch.randn(len(mels[:4]), cfg.data.emotion_dim, x.shape[-1])
    uu = pad_stack([torch.from_numpy(u) for u in units[:4]], k).long()
    out = model.loss(x, mask, uu, spk, emo)
    out["loss"].backward()
    comp["mavflow_loss"] = float(out["loss"])
    for comb in cfg.eval.combiners:
        r = model.synthesize(uu, mask, spk, emo, n_steps=2, solver=cfg.eval.solver, w_a=1.0, w_v=1.0, combiner=comb)
        comp[f"mavflow_sample_{comb}"] = {"shape": list(r["mel"].shape), "nfe": r["nfe"], "net_evals": r["net_evals"]}
    wav = GriffinLimVocoder(cfg.data.sample_rate, cfg.data.n_fft, cfg.data.hop_length, x.shape[1], cfg.data.fmin,
                            cfg.data.fmax, n_iter=2)(mels[0])
    comp["griffinlim"] = int(len(wav))
    hg = HiFiGANGenerator(x.shape[1], cfg.vocoder.upsample_rates, cfg.vocoder.upsample_kernel_sizes, 16,
                          cfg.vocoder.resblock_kernel_sizes, cfg.vocoder.resblock_dilation_sizes)
    comp["hifigan_tiny"] = list(hg(x[:1, :, :8]).shape)
    n_video = 10
    comp["toy_face"] = list(ToyFaceRenderer(32)(ToyFaceRenderer(32).blank_faces(n_video), wav, cfg.data.sample_rate).shape)
    comp["wav2lip_mel_chunks"] = list(wav2lip_mel_chunks(wav2lip_mel(wav, cfg.data.sample_rate), n_video).shape)

    def ext(p):
        return {"path": p, "exists": bool(p) and Path(p).exists()}

    external = {"units.checkpoint (m-AVHuBERT)": ext(cfg.units.checkpoint),
                "units.translator_checkpoint (UTUT)": ext(cfg.units.translator_checkpoint),
                "vocoder.checkpoint": ext(cfg.vocoder.checkpoint), "face.checkpoint (Wav2Lip)": ext(cfg.face.checkpoint),
                "emotion.emofan_checkpoint": ext(cfg.emotion.emofan_checkpoint),
                "speaker.hub_id": cfg.speaker.hub_id,
                "resemblyzer weights": str(resemblyzer_weights_path() or "not installed (extra 'speaker')")}
    log.info("dry run: every component built in %.1fs", time.time() - t0)
    return run.write_results({"dry_run": True, "components": comp, "external": external}, claims=[],
                             expected=cfg.expected, seeds=[cfg.seed], wall_time_s=time.time() - t0)
