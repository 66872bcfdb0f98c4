"""Config schema of mlrepro_mavflow (MAVFlow, arXiv 2503.11026).

One dataclass tree for the three recipes (paper / mini / smoke). Every field carries a ``help`` string; the
recipes say where each value comes from (paper section, Matcha-TTS / AV2AV code, or "not in paper").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mlrepro.config import ConfigError

WORLDS = ("synthetic", "espeak", "auto", "manifest")
SOLVERS = ("euler", "midpoint", "heun")
COMBINERS = ("nested", "independent")
SPEAKER_BACKENDS = ("tdnn", "resemblyzer", "ge2e_weights", "speechbrain")
UNIT_BACKENDS = ("kmeans", "mavhubert")
TRANSLATORS = ("identity", "remap", "utut")
REGULATORS = ("nearest", "scale")
VOCODERS = ("griffinlim", "hifigan")
FACES = ("toy", "wav2lip", "none")
EMOTION_BACKENDS = ("synthetic", "emofan")


def _h(text: str) -> dict:
    return {"help": text}


@dataclass
class DataConfig:
    world: str = field(default="synthetic", metadata=_h(
        "synthetic (mel-domain speaker/emotion world), espeak (espeak-ng voices; needs the binary), "
        "auto (espeak when installed, else synthetic) or manifest (prepared MuAViC / CREMA-D clips)"))
    manifest: str = field(default="", metadata=_h("JSONL manifest of prepared clips (world=manifest)"))
    sample_rate: int = field(default=16000, metadata=_h("audio sample rate (Hz)"))
    n_mels: int = field(default=80, metadata=_h("mel bins"))
    n_fft: int = field(default=1024, metadata=_h("STFT size"))
    hop_length: int = field(default=256, metadata=_h("STFT hop (mel frame rate = sample_rate / hop)"))
    fmin: float = 0.0
    fmax: float = 8000.0
    video_fps: float = field(default=25.0, metadata=_h("frame rate of the (visual) emotion stream"))
    n_phones: int = field(default=40, metadata=_h("synthetic world: number of true phone types"))
    min_dur: int = field(default=2, metadata=_h("synthetic world: min phone duration (frames)"))
    max_dur: int = field(default=6, metadata=_h("synthetic world: max phone duration (frames)"))
    min_frames: int = field(default=40, metadata=_h("min clip length (mel frames)"))
    max_frames: int = field(default=64, metadata=_h("max clip length (mel frames)"))
    n_train_speakers: int = field(default=64, metadata=_h("speakers of the renderer training set"))
    utts_per_train_speaker: int = 12
    n_test_speakers: int = field(default=8, metadata=_h("held-out (zero-shot) speakers"))
    utts_per_test_speaker: int = 12
    n_xvector_speakers: int = field(default=200, metadata=_h(
        "separate speaker pool used to pre-train the conditioning x-vector (stands in for VoxCeleb)"))
    n_verifier_speakers: int = field(default=200, metadata=_h(
        "another disjoint pool for the SECS verifier"))
    utts_per_pool_speaker: int = 6
    n_emotions: int = field(default=4, metadata=_h("emotion classes (CREMA-D has 6; the synthetic world 4)"))
    emotion_dim: int = field(default=10, metadata=_h("visual emotion feature size (EmoFAN: 8 expressions + V + A)"))
    emotion_obs_noise: float = field(default=0.3, metadata=_h("noise of the visual emotion observation"))
    texture_noise: float = field(default=0.15, metadata=_h("synthetic world: smooth spectral texture noise"))
    frame_noise: float = field(default=0.05, metadata=_h("synthetic world: white noise on the log-mel"))
    languages: list[str] = field(default_factory=lambda: ["en", "es", "fr", "it", "pt"])
    max_clips: int = field(default=0, metadata=_h("cap on manifest clips (0 = all)"))


@dataclass
class UnitsConfig:
    backend: str = field(default="kmeans", metadata=_h("kmeans (CPU stand-in) or mavhubert (paper: m-AVHuBERT)"))
    k: int = field(default=50, metadata=_h("number of units (AV2AV: 1000; k-means stand-in: 50)"))
    n_mfcc: int = field(default=13, metadata=_h("MFCCs for the k-means stand-in (c0 dropped)"))
    cmn: bool = field(default=True, metadata=_h("per-utterance cepstral mean normalisation before k-means"))
    kmeans_iters: int = 25
    checkpoint: str = field(default="", metadata=_h("m-AVHuBERT checkpoint + k-means model (paper)"))
    km_path: str = ""
    translator: str = field(default="identity", metadata=_h("identity | remap (toy table) | utut (paper)"))
    translator_checkpoint: str = ""
    regulator: str = field(default="nearest", metadata=_h("length regulator to source length: nearest | scale"))


@dataclass
class DurationConfig:
    hidden: int = field(default=128, metadata=_h("AV2AV duration predictor hidden size"))
    kernel: int = 3
    dropout: float = 0.5
    steps: int = 300
    batch_size: int = 64
    lr: float = 2e-3


@dataclass
class SpeakerConfig:
    conditioning: str = field(default="tdnn", metadata=_h("x-vector used as a_spk / a_utt: " + "|".join(SPEAKER_BACKENDS)))
    verifier: str = field(default="tdnn", metadata=_h("embedding used for SECS (a separately trained model)"))
    hub_id: str = field(default="speechbrain/spkrec-xvect-voxceleb", metadata=_h("speechbrain x-vector (paper)"))
    tdnn_channels: list[int] = field(default_factory=lambda: [64, 64, 64, 64, 192])
    tdnn_kernels: list[int] = field(default_factory=lambda: [5, 3, 3, 1, 1])
    tdnn_dilations: list[int] = field(default_factory=lambda: [1, 2, 3, 1, 1])
    emb_dim: int = field(default=64, metadata=_h("x-vector size (speechbrain: 512)"))
    sentence_norm: bool = field(default=False, metadata=_h("subtract the per-utterance mean of the features"))
    steps: int = 400
    batch_size: int = 64
    lr: float = 2e-3
    average_in_training: bool = field(default=True, metadata=_h("train on speaker-averaged a_spk (paper)"))


@dataclass
class EmotionConfig:
    backend: str = field(default="synthetic", metadata=_h("synthetic (world's visual stream) or emofan (paper)"))
    emofan_checkpoint: str = ""
    emonet_repo: str = ""
    classifier_steps: int = 300
    classifier_lr: float = 2e-3
    classifier_channels: int = 64


@dataclass
class ModelConfig:
    channels: list[int] = field(default_factory=lambda: [128, 128], metadata=_h("U-Net channels per level (Matcha: [256, 256])"))
    n_mid_blocks: int = 2
    attn_heads: int = field(default=2, metadata=_h("heads of the transformer block per level (0 = none)"))
    n_transformer: int = field(default=1, metadata=_h("transformer blocks per level (Matcha: 1)"))
    attn_where: str = field(default="all", metadata=_h("transformer blocks at every level (Matcha), 'mid' only, or 'none'"))
    dropout: float = 0.05
    time_emb_dim: int = 128
    unit_emb_dim: int = 64
    encoder_layers: int = field(default=2, metadata=_h("conv layers of the unit encoder producing mu"))
    linear_skip: bool = field(default=False, metadata=_h(
        "time-modulated 1x1 path from [x_t; mu] to the velocity (CPU adaptation when channels < n_mels)"))
    use_speaker: bool = True
    use_emotion: bool = True
    use_prompt: bool = field(default=False, metadata=_h("X~1 acoustic prompt input ([UNKNOWN] in the paper)"))


@dataclass
class CFMConfig:
    sigma_min: float = field(default=1e-4, metadata=_h("OT-CFM sigma_min (Matcha-TTS value)"))
    p_drop_speaker: float = field(default=0.2, metadata=_h("CFG condition dropout for a_spk"))
    p_drop_emotion: float = field(default=0.2, metadata=_h("CFG condition dropout for v_t"))
    prior_loss_weight: float = field(default=1.0, metadata=_h("Matcha prior loss ||mu - X1||^2"))
    prompt_prob: float = 0.0
    prompt_max_frac: float = 0.3


@dataclass
class TrainConfig:
    steps: int = 1500
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 0.0
    grad_clip: float = 5.0
    checkpoint_every: int = 250
    log_every: int = 50
    variants: list[str] = field(default_factory=lambda: ["full", "no_speaker", "no_emotion"],
                                metadata=_h("models trained: full MAVFlow and the two ablations"))


@dataclass
class EvalConfig:
    n_steps: int = field(default=10, metadata=_h("ODE steps (Matcha default 10)"))
    solver: str = "euler"
    temperature: float = field(default=0.667, metadata=_h("noise scale at t=0 (Matcha default)"))
    n_eval: int = field(default=0, metadata=_h("held-out pairs evaluated (0 = all)"))
    nfe_steps: list[int] = field(default_factory=lambda: [1, 2, 4, 8, 16, 32])
    nfe_solvers: list[str] = field(default_factory=lambda: ["euler", "midpoint"])
    guidance: list[list[float]] = field(default_factory=lambda: [[0.0, 0.0], [0.5, 0.0], [1.0, 0.0], [2.0, 0.0],
                                                                  [0.0, 0.5], [0.0, 1.0], [0.0, 2.0],
                                                                  [0.5, 0.5], [1.0, 1.0], [2.0, 2.0]])
    combiners: list[str] = field(default_factory=lambda: ["nested", "independent"])
    guidance_steps: int = 10
    batch_size: int = 48
    ode_reference: bool = field(default=True, metadata=_h("also solve with adaptive dopri5 to report solver error"))
    ode_rtol: float = 1e-4


@dataclass
class VocoderConfig:
    backend: str = field(default="griffinlim", metadata=_h("griffinlim (CPU) or hifigan (paper)"))
    n_iter: int = 32
    checkpoint: str = ""
    upsample_rates: list[int] = field(default_factory=lambda: [8, 8, 2, 2])
    upsample_kernel_sizes: list[int] = field(default_factory=lambda: [16, 16, 4, 4])
    upsample_initial_channel: int = 512
    resblock_kernel_sizes: list[int] = field(default_factory=lambda: [3, 7, 11])
    resblock_dilation_sizes: list[list[int]] = field(default_factory=lambda: [[1, 3, 5], [1, 3, 5], [1, 3, 5]])


@dataclass
class FaceConfig:
    backend: str = field(default="toy", metadata=_h("toy (CPU mouth-energy renderer), wav2lip (paper) or none"))
    wav2lip_repo: str = ""
    checkpoint: str = ""
    size: int = 96


@dataclass
class Config:
    seed: int = 0
    report_to: str = "none"
    device: str = field(default="cpu", metadata=_h("cpu | cuda | auto"))
    num_threads: int = field(default=1, metadata=_h(
        "torch intra-op threads (0 = torch default). 1 avoids OpenMP oversubscription on shared CPUs"))
    data: DataConfig = field(default_factory=DataConfig)
    units: UnitsConfig = field(default_factory=UnitsConfig)
    duration: DurationConfig = field(default_factory=DurationConfig)
    speaker: SpeakerConfig = field(default_factory=SpeakerConfig)
    emotion: EmotionConfig = field(default_factory=EmotionConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    cfm: CFMConfig = field(default_factory=CFMConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    vocoder: VocoderConfig = field(default_factory=VocoderConfig)
    face: FaceConfig = field(default_factory=FaceConfig)
    expected: list[dict[str, Any]] = field(default_factory=list)

    def validate(self) -> None:
        def one_of(key: str, val: str, allowed: tuple) -> None:
            if val not in allowed:
                raise ConfigError(f"config key {key!r}: {val!r} is not one of {list(allowed)}")

        one_of("data.world", self.data.world, WORLDS)
        one_of("eval.solver", self.eval.solver, SOLVERS)
        for s in self.eval.nfe_solvers:
            one_of("eval.nfe_solvers", s, SOLVERS)
        for c in self.eval.combiners:
            one_of("eval.combiners", c, COMBINERS)
        one_of("speaker.conditioning", self.speaker.conditioning, SPEAKER_BACKENDS)
        one_of("speaker.verifier", self.speaker.verifier, SPEAKER_BACKENDS)
        one_of("units.backend", self.units.backend, UNIT_BACKENDS)
        one_of("units.translator", self.units.translator, TRANSLATORS)
        one_of("units.regulator", self.units.regulator, REGULATORS)
        one_of("vocoder.backend", self.vocoder.backend, VOCODERS)
        one_of("face.backend", self.face.backend, FACES)
        one_of("emotion.backend", self.emotion.backend, EMOTION_BACKENDS)
        one_of("model.attn_where", self.model.attn_where, ("all", "mid", "none"))
        for v in self.train.variants:
            one_of("train.variants", v, ("full", "no_speaker", "no_emotion", "no_both"))
        if self.data.world == "manifest" and not self.data.manifest:
            raise ConfigError("config key 'data.manifest': required when data.world=manifest")
        if not 0.0 <= self.cfm.sigma_min < 1.0:
            raise ConfigError("config key 'cfm.sigma_min': must be in [0, 1)")
        for k in ("p_drop_speaker", "p_drop_emotion", "prompt_prob", "prompt_max_frac"):
            if not 0.0 <= getattr(self.cfm, k) <= 1.0:
                raise ConfigError(f"config key 'cfm.{k}': must be a probability in [0, 1]")
        if self.data.min_frames > self.data.max_frames or self.data.min_frames < 4:
            raise ConfigError("config key 'data.min_frames': need 4 <= min_frames <= max_frames")
        if self.data.min_dur < 1 or self.data.min_dur > self.data.max_dur:
            raise ConfigError("config key 'data.min_dur': need 1 <= min_dur <= max_dur")
        if not self.model.channels:
            raise ConfigError("config key 'model.channels': needs at least one level")
        if any(len(g) != 2 for g in self.eval.guidance):
            raise ConfigError("config key 'eval.guidance': each entry is [w_a, w_v]")
        if self.eval.n_steps < 1 or any(n < 1 for n in self.eval.nfe_steps):
            raise ConfigError("config key 'eval.n_steps': ODE steps must be >= 1")
        if len(self.speaker.tdnn_channels) != len(self.speaker.tdnn_kernels) or len(self.speaker.tdnn_kernels) != len(
            self.speaker.tdnn_dilations
        ):
            raise ConfigError("config key 'speaker.tdnn_channels': channels/kernels/dilations must have equal length")
        if self.units.k < 2:
            raise ConfigError("config key 'units.k': need at least 2 units")
