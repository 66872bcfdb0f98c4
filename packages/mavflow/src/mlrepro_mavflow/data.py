"""Multi-speaker, multi-emotion data the package makes itself, plus the loader for prepared real clips.

Worlds (``data.world``):
- ``synthetic``: a mel-domain source-filter world (spec §6.1, extended). A clip is a sequence of true phones
  (2-6 frames each) rendered as log-magnitude mel frames: phone formant envelope (warped by the speaker's vocal
  tract factor) + speaker spectral tilt and voice-colour bumps + a per-frame emotion effect (energy, tilt,
  class-specific band boost and modulation, scaled by a smooth intensity track) + smooth spectral texture noise.
  The "face" gives a per-video-frame (25 fps) EmoFAN-shaped 10-d emotion observation (8 expression scores +
  valence + arousal) with noise. Speakers carry utterance-level jitter, so averaging embeddings over utterances
  helps (the reason MAVFlow trains on speaker-averaged x-vectors).
- ``espeak``: espeak-ng voices (variants and pitch as speakers; pitch/speed/amplitude as emotion; pseudo-word text
  in several languages). Needs the ``espeak-ng`` binary; ``auto`` uses it when installed.
- ``manifest``: JSONL of prepared real clips (MuAViC / CREMA-D), see README.

Every world is deterministic given the seed.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy.ndimage import convolve1d

from .config import DataConfig
from .method.durations import regulate_to_length

EMOTIONS = ("neutral", "happy", "sad", "angry")
LOG_FLOOR = float(np.log(1e-5))


# ------------------------------------------------------------------------------------------------ containers
@dataclass
class ClipSet:
    """Ragged clip collection saved without pickle (concatenated arrays + lengths)."""

    mels: list[np.ndarray]                      # [M, L] log-mel
    speaker: np.ndarray                         # [N] int
    emotion: np.ndarray                         # [N] int
    vis: list[np.ndarray] = field(default_factory=list)     # [Tv, D] visual emotion stream
    phones: list[np.ndarray] = field(default_factory=list)  # [L] true frame-level content (synthetic world)
    extra: dict[str, np.ndarray] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.mels)

    @property
    def lengths(self) -> np.ndarray:
        return np.array([m.shape[1] for m in self.mels], dtype=np.int64)

    def subset(self, idx) -> ClipSet:
        idx = list(np.asarray(idx, dtype=np.int64))
        return ClipSet([self.mels[i] for i in idx], self.speaker[idx], self.emotion[idx],
                       [self.vis[i] for i in idx] if self.vis else [],
                       [self.phones[i] for i in idx] if self.phones else [],
                       {k: v[idx] for k, v in self.extra.items()})

    def save(self, path: str | Path) -> Path:
        def cat(xs, axis):
            return np.concatenate(xs, axis=axis) if xs else np.zeros((0,))

        arrays = {
            "mels": cat(self.mels, 1), "mel_len": self.lengths, "speaker": self.speaker, "emotion": self.emotion,
            "vis": cat(self.vis, 0), "vis_len": np.array([v.shape[0] for v in self.vis], dtype=np.int64),
            "phones": cat(self.phones, 0), "phone_len": np.array([p.shape[0] for p in self.phones], dtype=np.int64),
        }
        arrays.update({f"extra__{k}": v for k, v in self.extra.items()})
        path = Path(path)
        tmp = path.with_name(path.name + ".tmp.npz")
        np.savez_compressed(tmp, **arrays)
        tmp.replace(path)
        return path

    @classmethod
    def load(cls, path: str | Path) -> ClipSet:
        z = np.load(path, allow_pickle=False)

        def split(a, lens, axis):
            return list(np.split(a, np.cumsum(lens)[:-1], axis=axis)) if len(lens) else []

        mels = split(z["mels"], z["mel_len"], 1)
        vis = split(z["vis"], z["vis_len"], 0) if z["vis_len"].size else []
        ph = split(z["phones"], z["phone_len"], 0) if z["phone_len"].size else []
        extra = {k[len("extra__"):]: z[k] for k in z.files if k.startswith("extra__")}
        return cls(mels, z["speaker"], z["emotion"], vis, ph, extra)


def mel_fps(cfg: DataConfig) -> float:
    return cfg.sample_rate / cfg.hop_length


def n_video_frames(n_mel: int, cfg: DataConfig) -> int:
    return int(np.ceil(n_mel / mel_fps(cfg) * cfg.video_fps)) + 1


def resample_to_mel_rate(v: np.ndarray, n_mel: int, mel_rate: float, video_fps: float) -> np.ndarray:
    """Per-video-frame features [Tv, D] -> [n_mel, D] by linear interpolation in time (frame centres)."""
    v = np.asarray(v, dtype=np.float32)
    tv = (np.arange(v.shape[0]) + 0.5) / video_fps
    tm = (np.arange(n_mel) + 0.5) / mel_rate
    return np.stack([np.interp(tm, tv, v[:, d]) for d in range(v.shape[1])], axis=1).astype(np.float32)


# ------------------------------------------------------------------------------------------------ synthetic world
class SyntheticWorld:
    """Mel-domain speaker / emotion world (see module docstring). All constants derive from ``seed``."""

    name = "synthetic"

    def __init__(self, cfg: DataConfig, seed: int = 0):
        self.cfg = cfg
        rng = np.random.default_rng([seed, 7001])
        M, P = cfg.n_mels, cfg.n_phones
        self.f = np.linspace(0.0, 1.0, M)
        self.centers = np.sort(rng.uniform(0.05, 0.8, (P, 3)), axis=1)
        self.widths = rng.uniform(0.025, 0.07, (P, 3))
        self.amps = rng.uniform(1.5, 3.5, (P, 3))
        self.gain = rng.uniform(-1.0, 0.5, P)
        self.colour_c = np.array([0.15, 0.35, 0.6, 0.85])
        E = cfg.n_emotions
        base = np.array([  # energy, tilt, band boost, mod depth, mod rate (Hz)
            [0.0, 0.0, 0.0, 0.0, 0.0],    # neutral
            [0.7, 0.6, 0.0, 0.25, 5.0],   # happy
            [-0.7, -0.6, 0.0, 0.10, 2.0],  # sad
            [0.9, 0.1, 1.0, 0.35, 7.0],   # angry
        ])
        extra = rng.uniform(-0.8, 0.8, (max(E - 4, 0), 5)) * np.array([1, 1, 1, 0.4, 8])
        self.emo = np.concatenate([base, np.abs(extra)])[:E]
        D = cfg.emotion_dim
        proto = np.zeros((E, D))
        va = np.array([[0.0, 0.0], [0.8, 0.5], [-0.7, -0.5], [-0.6, 0.8]])
        for e in range(E):
            proto[e, e % max(D - 2, 1)] = 2.0
            if D >= 2:
                proto[e, -2:] = va[e] if e < 4 else rng.uniform(-0.8, 0.8, 2)
        self.vis_proto = proto

    # -- sampling ---------------------------------------------------------------------------------------------
    def sample_speaker(self, rng: np.random.Generator) -> dict:
        return {"warp": rng.uniform(0.82, 1.18), "tilt": rng.uniform(-1.0, 1.0),
                "colour": rng.normal(0, 0.5, 4), "floor": rng.uniform(-0.5, 0.5)}

    def utterance_traits(self, spk: dict, rng: np.random.Generator) -> dict:
        return {"warp": spk["warp"] + rng.normal(0, 0.01), "tilt": spk["tilt"] + rng.normal(0, 0.1),
                "colour": spk["colour"] + rng.normal(0, 0.1, 4), "floor": spk["floor"] + rng.normal(0, 0.05)}

    def sample_content(self, rng: np.random.Generator, length: int) -> tuple[np.ndarray, np.ndarray]:
        c = self.cfg
        durs = []
        while sum(durs) < length:
            durs.append(int(rng.integers(c.min_dur, c.max_dur + 1)))
        durs[-1] -= sum(durs) - length
        if durs[-1] < 1:
            durs.pop()
            durs[-1] += length - sum(durs)
        phones = [int(rng.integers(self.cfg.n_phones))]
        for _ in range(len(durs) - 1):  # no immediate repeats, so run-lengths are the true durations
            p = int(rng.integers(self.cfg.n_phones - 1))
            phones.append(p + (p >= phones[-1]))
        return np.array(phones), np.array(durs)

    def sample_emotion(self, rng: np.random.Generator, n_video: int) -> tuple[int, np.ndarray]:
        e = int(rng.integers(self.cfg.n_emotions))
        knots = max(2, n_video // 5 + 2)
        kv = rng.uniform(0.4, 1.0, knots)
        track = np.interp(np.linspace(0, knots - 1, n_video), np.arange(knots), kv)
        return e, track.astype(np.float32)

    def visual_emotion(self, emo: int, intensity_video: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """EmoFAN-shaped observation per video frame: intensity * prototype(emotion) + noise, [Tv, D]."""
        v = intensity_video[:, None] * self.vis_proto[emo][None]
        return (v + rng.normal(0, self.cfg.emotion_obs_noise, v.shape)).astype(np.float32)

    # -- rendering --------------------------------------------------------------------------------------------
    def render(self, phones_frame: np.ndarray, traits: dict, emo: int, intensity_mel: np.ndarray,
               rng: np.random.Generator) -> np.ndarray:
        """Frame-level true phones [L] -> log-mel [M, L]."""
        f = self.f
        L = len(phones_frame)
        fc = self.centers[phones_frame] * traits["warp"]  # [L, 3]
        env = (self.amps[phones_frame][:, :, None] *
               np.exp(-((f[None, None] - fc[:, :, None]) ** 2) / (2 * self.widths[phones_frame][:, :, None] ** 2))).sum(1)
        env = env + self.gain[phones_frame][:, None]
        if L > 2:  # coarticulation
            padded = np.concatenate([env[:1], env, env[-1:]])
            env = 0.25 * padded[:-2] + 0.5 * padded[1:-1] + 0.25 * padded[2:]
        spk = traits["tilt"] * (2 * f - 1) + traits["floor"]
        spk = spk + (traits["colour"][:, None] * np.exp(-((f[None] - self.colour_c[:, None]) ** 2) / (2 * 0.07**2))).sum(0)
        en, ti, bb, md, mr = self.emo[emo]
        t = np.arange(L) / mel_fps(self.cfg)
        phase = rng.uniform(0, 2 * np.pi)
        i = intensity_mel[:, None]
        emo_term = i * (en + ti * (2 * f[None] - 1) + bb * np.exp(-((f[None] - 0.7) ** 2) / (2 * 0.08**2)))
        emo_term = emo_term + md * i * np.sin(2 * np.pi * mr * t + phase)[:, None]
        k = np.exp(-0.5 * (np.arange(-6, 7) / 2.0) ** 2)
        tex = convolve1d(rng.normal(0, 1, (L, len(f))), k / np.sqrt((k**2).sum()), axis=1, mode="constant")
        tex = tex * self.cfg.texture_noise
        base = -5.0 - 2.5 * f[None]
        mel = base + env + spk[None] + emo_term + tex + rng.normal(0, self.cfg.frame_noise, (L, len(f)))
        return np.maximum(mel, LOG_FLOOR).T.astype(np.float32)

    def make_clip(self, spk: dict, rng: np.random.Generator, length: int | None = None) -> dict:
        c = self.cfg
        L = int(length if length is not None else rng.integers(c.min_frames, c.max_frames + 1))
        phones, durs = self.sample_content(rng, L)
        traits = self.utterance_traits(spk, rng)
        nv = n_video_frames(L, c)
        emo, track = self.sample_emotion(rng, nv)
        inten = resample_to_mel_rate(track[:, None], L, mel_fps(c), c.video_fps)[:, 0]
        frames = np.repeat(phones, durs)
        mel = self.render(frames, traits, emo, inten, rng)
        return {"mel": mel, "vis": self.visual_emotion(emo, track, rng), "phones": frames, "phone_ids": phones,
                "durations": durs, "traits": traits, "emotion": emo, "intensity": inten}

    def render_pair_target(self, src: dict, donor: dict, rng: np.random.Generator, mode: str = "nearest") -> np.ndarray:
        """Ground truth for dubbing: the donor's content at the SOURCE length, source speaker and emotion."""
        L = src["mel"].shape[1]
        frames = regulate_to_length(donor["phone_ids"], donor["durations"], L, mode)
        return self.render(frames, src["traits"], src["emotion"], src["intensity"], rng)


# ------------------------------------------------------------------------------------------------ espeak world
_SYLL = {"en": ("bdfgklmnprstvw", "aeiou"), "es": ("bdfglmnprstv", "aeiou"), "fr": ("bdfglmnprstv", "aeiouy"),
         "it": ("bdfglmnprstv", "aeiou"), "pt": ("bdfglmnprstv", "aeiou")}
_VOICES = ("m1", "m2", "m3", "m4", "m5", "m6", "m7", "f1", "f2", "f3", "f4")


def espeak_available() -> bool:
    return shutil.which("espeak-ng") is not None


def logmel(wav: np.ndarray, cfg: DataConfig) -> np.ndarray:
    """log(clamp(mel magnitude, 1e-5)) [n_mels, L] (Matcha / HiFi-GAN convention)."""
    import librosa

    m = librosa.feature.melspectrogram(y=np.asarray(wav, dtype=np.float32), sr=cfg.sample_rate, n_fft=cfg.n_fft,
                                       hop_length=cfg.hop_length, win_length=cfg.n_fft, n_mels=cfg.n_mels,
                                       fmin=cfg.fmin, fmax=cfg.fmax, power=1.0)
    return np.log(np.maximum(m, 1e-5)).astype(np.float32)


def stretch_frames(mel: np.ndarray, L: int) -> np.ndarray:
    T = mel.shape[1]
    idx = np.clip(np.floor((np.arange(L) + 0.5) * T / L).astype(np.int64), 0, T - 1)
    return mel[:, idx]


class EspeakWorld:
    """espeak-ng voices as speakers, prosody settings as emotions (needs the espeak-ng binary)."""

    name = "espeak"
    # emotion -> (pitch offset, speed factor, amplitude, pitch range word-emphasis)
    EMO = ((0, 1.0, 100), (15, 1.15, 140), (-12, 0.8, 70), (8, 1.25, 180))

    def __init__(self, cfg: DataConfig, seed: int = 0, binary: str = "espeak-ng"):
        self.cfg, self.binary = cfg, binary
        self.synth = SyntheticWorld(cfg, seed)  # visual emotion observation model

    def sample_speaker(self, rng):
        return {"voice": _VOICES[int(rng.integers(len(_VOICES)))], "pitch": int(rng.integers(25, 75)),
                "speed": int(rng.integers(150, 200)), "lang": self.cfg.languages[int(rng.integers(len(self.cfg.languages)))]}

    def text(self, rng, lang: str) -> str:
        cons, vow = _SYLL.get(lang, _SYLL["en"])
        words = []
        for _ in range(int(rng.integers(1, 3))):
            words.append("".join(cons[rng.integers(len(cons))] + vow[rng.integers(len(vow))] for _ in range(int(rng.integers(1, 3)))))
        return " ".join(words)

    def synthesize(self, text: str, spk: dict, emo: int) -> np.ndarray:
        import librosa
        import soundfile as sf

        dp, sf_, amp = self.EMO[emo % len(self.EMO)]
        with tempfile.TemporaryDirectory() as td:
            out = Path(td) / "x.wav"
            cmd = [self.binary, "-v", f"{spk['lang']}+{spk['voice']}", "-p", str(int(np.clip(spk["pitch"] + dp, 0, 99))),
                   "-s", str(int(spk["speed"] * sf_)), "-a", str(amp), "-w", str(out), text]
            subprocess.run(cmd, check=True, capture_output=True, timeout=30)
            wav, sr = sf.read(out, dtype="float32")
        if wav.ndim > 1:
            wav = wav.mean(1)
        if sr != self.cfg.sample_rate:
            wav = librosa.resample(wav, orig_sr=sr, target_sr=self.cfg.sample_rate)
        return wav

    def make_clip(self, spk: dict, rng, length: int | None = None) -> dict:
        c = self.cfg
        txt = self.text(rng, spk["lang"])
        emo = int(rng.integers(c.n_emotions))
        mel = logmel(self.synthesize(txt, spk, emo), c)
        L = int(np.clip(mel.shape[1], c.min_frames, c.max_frames)) if length is None else int(length)
        mel = stretch_frames(mel, L)
        nv = n_video_frames(L, c)
        track = np.full(nv, 0.8, dtype=np.float32)
        return {"mel": mel, "vis": self.synth.visual_emotion(emo, track, rng), "phones": np.zeros(0, dtype=np.int64),
                "text": txt, "traits": spk, "emotion": emo, "intensity": np.full(L, 0.8, dtype=np.float32)}

    def render_pair_target(self, src: dict, donor: dict, rng, mode: str = "nearest") -> np.ndarray:
        L = src["mel"].shape[1]
        return stretch_frames(logmel(self.synthesize(donor["text"], src["traits"], src["emotion"]), self.cfg), L)


def make_world(cfg: DataConfig, seed: int = 0):
    world = cfg.world
    if world == "auto":
        world = "espeak" if espeak_available() else "synthetic"
    if world == "synthetic":
        return SyntheticWorld(cfg, seed)
    if world == "espeak":
        if not espeak_available():
            raise RuntimeError("data.world=espeak needs the espeak-ng binary on PATH (use world=synthetic or auto)")
        return EspeakWorld(cfg, seed)
    raise ValueError(f"world {world!r} is not generated in code (manifest worlds are loaded with load_manifest)")


# ------------------------------------------------------------------------------------------------ building sets
def _build_set(world, speakers: list[dict], spk_ids: list[int], n_utts: int, rng, keep: bool = False):
    mels, spk, emo, vis, ph, raw = [], [], [], [], [], []
    for sid, s in zip(spk_ids, speakers):
        for _ in range(n_utts):
            c = world.make_clip(s, rng)
            mels.append(c["mel"])
            spk.append(sid)
            emo.append(c["emotion"])
            vis.append(c["vis"])
            ph.append(np.asarray(c["phones"], dtype=np.int64))
            if keep:
                raw.append(c)
    cs = ClipSet(mels, np.array(spk, dtype=np.int64), np.array(emo, dtype=np.int64), vis,
                 ph if all(len(p) for p in ph) else [])
    return cs, raw


def build_datasets(cfg: DataConfig, seed: int, mode: str = "nearest") -> dict[str, ClipSet]:
    """Generate the pools (x-vector pre-training, verifier), the renderer train set, the held-out test set and
    the dubbing evaluation pairs (content from another held-out speaker, regulated to the source length)."""
    world = make_world(cfg, seed)
    rng = np.random.default_rng([seed, 11])
    n_tr, n_te = cfg.n_train_speakers, cfg.n_test_speakers
    n_x, n_v = cfg.n_xvector_speakers, cfg.n_verifier_speakers
    spks = [world.sample_speaker(rng) for _ in range(n_x + n_v + n_tr + n_te)]
    ids = list(range(len(spks)))
    sets: dict[str, ClipSet] = {}
    sets["xvec_pool"], _ = _build_set(world, spks[:n_x], ids[:n_x], cfg.utts_per_pool_speaker, rng)
    sets["verifier_pool"], _ = _build_set(world, spks[n_x:n_x + n_v], ids[n_x:n_x + n_v], cfg.utts_per_pool_speaker, rng)
    a = n_x + n_v
    sets["train"], _ = _build_set(world, spks[a:a + n_tr], ids[a:a + n_tr], cfg.utts_per_train_speaker, rng)
    test, raw = _build_set(world, spks[a + n_tr:], ids[a + n_tr:], cfg.utts_per_test_speaker, rng, keep=True)
    sets["test"] = test
    # dubbing pairs: source i keeps speaker / emotion / length, content from the same utterance slot of the
    # next held-out speaker (a different speaker, so the content units cannot carry the source voice)
    n_u = cfg.utts_per_test_speaker
    donors = np.array([((i // n_u + 1) % n_te) * n_u + i % n_u for i in range(len(test))], dtype=np.int64)
    if n_te < 2:
        donors = np.array([(i + 1) % len(test) for i in range(len(test))], dtype=np.int64)
    gt = [world.render_pair_target(raw[i], raw[int(donors[i])], rng, mode) for i in range(len(test))]
    sets["pairs"] = ClipSet(gt, test.speaker.copy(), test.emotion.copy(), extra={
        "src": np.arange(len(test), dtype=np.int64), "donor": donors})
    return sets


# ------------------------------------------------------------------------------------------------ manifests
def load_manifest(path: str | Path, cfg: DataConfig, emotion_labels: tuple[str, ...] = EMOTIONS) -> dict[str, ClipSet]:
    """Prepared real clips: one JSON object per line with ``audio`` (wav path), ``speaker``, ``split``
    (train / test / xvec_pool / verifier_pool), optional ``emotion`` (label or int) and ``emotion_features``
    (.npy of per-video-frame EmoFAN outputs [Tv, 10]). Relative paths are resolved next to the manifest."""
    import soundfile as sf

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"manifest not found: {path}")
    rows = [json.loads(x) for x in path.read_text().splitlines() if x.strip()]
    if cfg.max_clips:
        rows = rows[: cfg.max_clips]
    spk_index: dict[str, int] = {}
    by_split: dict[str, list] = {}
    for i, r in enumerate(rows):
        for k in ("audio", "speaker", "split"):
            if k not in r:
                raise ValueError(f"{path}: line {i + 1} has no {k!r}")
        wav, sr = sf.read(path.parent / r["audio"], dtype="float32")
        if wav.ndim > 1:
            wav = wav.mean(1)
        if sr != cfg.sample_rate:
            import librosa

            wav = librosa.resample(wav, orig_sr=sr, target_sr=cfg.sample_rate)
        mel = logmel(wav, cfg)
        emo = r.get("emotion", 0)
        emo = emotion_labels.index(emo) if isinstance(emo, str) else int(emo)
        if r.get("emotion_features"):
            vis = np.load(path.parent / r["emotion_features"], allow_pickle=False).astype(np.float32)
        else:  # no face features prepared: a constant label-derived stream (documented stand-in)
            nv = n_video_frames(mel.shape[1], cfg)
            vis = np.zeros((nv, cfg.emotion_dim), dtype=np.float32)
            vis[:, emo % cfg.emotion_dim] = 1.0
        sid = spk_index.setdefault(str(r["speaker"]), len(spk_index))
        by_split.setdefault(r["split"], []).append((mel, sid, emo, vis))
    out = {}
    for split, items in by_split.items():
        out[split] = ClipSet([x[0] for x in items], np.array([x[1] for x in items]), np.array([x[2] for x in items]),
                             [x[3] for x in items])
    return out


def write_fake_manifest(root: str | Path, cfg: DataConfig, n_speakers: int = 4, n_utts: int = 3, seed: int = 0) -> Path:
    """A tiny manifest of made-up tone clips (for dry runs and tests of the real-data path)."""
    import soundfile as sf

    root = Path(root)
    (root / "wav").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    lines = []
    for s in range(n_speakers):
        f0 = 100 + 40 * s
        for u in range(n_utts):
            n = int(cfg.sample_rate * rng.uniform(0.5, 0.9))
            t = np.arange(n) / cfg.sample_rate
            wav = 0.1 * sum(np.sin(2 * np.pi * f0 * h * t) / h for h in range(1, 6)) + 0.01 * rng.normal(size=n)
            name = f"wav/s{s}_u{u}.wav"
            sf.write(root / name, wav.astype(np.float32), cfg.sample_rate)
            split = "test" if s == n_speakers - 1 else ("train" if u else "xvec_pool")
            lines.append(json.dumps({"audio": name, "speaker": f"spk{s}", "split": split, "emotion": EMOTIONS[u % 4]}))
    (root / "manifest.jsonl").write_text("\n".join(lines) + "\n")
    return root / "manifest.jsonl"
