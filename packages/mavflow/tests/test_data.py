"""The package's own data: synthetic world, ClipSet storage, manifests, the espeak world with a fake binary."""

import dataclasses
import os
import stat
import sys

import numpy as np
import pytest
from mlrepro_mavflow.config import DataConfig
from mlrepro_mavflow.data import (
    ClipSet,
    EspeakWorld,
    SyntheticWorld,
    build_datasets,
    load_manifest,
    make_world,
    resample_to_mel_rate,
    write_fake_manifest,
)

SMALL = DataConfig(n_train_speakers=3, utts_per_train_speaker=2, n_test_speakers=2, utts_per_test_speaker=2,
                   n_xvector_speakers=2, n_verifier_speakers=2, utts_per_pool_speaker=2, min_frames=20, max_frames=30,
                   n_mels=24)


def test_world_is_deterministic_and_pairs_keep_source_length():
    a, b = build_datasets(SMALL, 3), build_datasets(SMALL, 3)
    c = build_datasets(SMALL, 4)
    assert all(np.array_equal(x, y) for x, y in zip(a["train"].mels, b["train"].mels))
    assert not np.array_equal(a["train"].mels[0][:, :5], c["train"].mels[0][:, :5])
    test, pairs = a["test"], a["pairs"]
    assert len(pairs) == len(test)
    for i in range(len(pairs)):
        assert pairs.mels[i].shape == test.mels[pairs.extra["src"][i]].shape
        assert test.speaker[pairs.extra["donor"][i]] != test.speaker[i]
    assert set(np.unique(a["train"].speaker)).isdisjoint(np.unique(test.speaker))


def test_clip_units_match_true_durations():
    w = SyntheticWorld(SMALL, 0)
    rng = np.random.default_rng(0)
    for _ in range(20):
        c = w.make_clip(w.sample_speaker(rng), rng)
        assert len(c["phones"]) == c["mel"].shape[1] == c["durations"].sum()
        assert (c["durations"] >= 1).all() and np.isfinite(c["mel"]).all()


def test_speaker_changes_spectrum_more_than_utterance_jitter():
    w = SyntheticWorld(SMALL, 0)
    rng = np.random.default_rng(0)
    frames = np.repeat(np.arange(5), 4)
    s1, s2 = w.sample_speaker(rng), w.sample_speaker(rng)
    inten = np.full(20, 0.7)
    r = lambda s: w.render(frames, w.utterance_traits(s, rng), 0, inten, rng).mean(1)  # noqa: E731
    same = np.abs(r(s1) - r(s1)).mean()
    diff = np.abs(r(s1) - r(s2)).mean()
    assert diff > 2 * same


def test_clipset_roundtrip(tmp_path):
    s = build_datasets(SMALL, 0)["train"]
    p = s.save(tmp_path / "x.npz")
    t = ClipSet.load(p)
    assert len(t) == len(s) and all(np.array_equal(x, y) for x, y in zip(s.mels, t.mels))
    assert all(np.array_equal(x, y) for x, y in zip(s.vis, t.vis)) and np.array_equal(s.speaker, t.speaker)
    sub = t.subset([1, 0])
    assert np.array_equal(sub.mels[0], s.mels[1])


def test_resample_to_mel_rate():
    v = np.stack([np.arange(5.0), np.ones(5)], 1)  # 25 fps
    out = resample_to_mel_rate(v, 10, 50.0, 25.0)
    assert out.shape == (10, 2) and np.allclose(out[:, 1], 1)
    assert np.all(np.diff(out[:, 0]) >= 0) and out[0, 0] == 0 and out[-1, 0] == 4


def test_manifest_loader(tmp_path):
    path = write_fake_manifest(tmp_path, SMALL, n_speakers=3, n_utts=3)
    sets = load_manifest(path, SMALL)
    assert {"train", "test", "xvec_pool"} <= set(sets)
    assert sets["test"].mels[0].shape[0] == SMALL.n_mels
    (tmp_path / "bad.jsonl").write_text('{"audio": "wav/s0_u0.wav"}\n')
    with pytest.raises(ValueError, match="speaker"):
        load_manifest(tmp_path / "bad.jsonl", SMALL)


FAKE_ESPEAK = '''#!{py}
import sys, numpy as np, soundfile as sf
args = sys.argv[1:]
out = args[args.index("-w") + 1]
pitch = int(args[args.index("-p") + 1]); text = args[-1]
t = np.arange(int(2205 * (1 + len(text) / 4))) / 22050
sf.write(out, (0.2 * np.sin(2 * np.pi * (100 + 3 * pitch) * t)).astype("float32"), 22050)
'''


def test_espeak_world_with_a_fake_binary(tmp_path, monkeypatch):
    b = tmp_path / "espeak-ng"
    b.write_text(FAKE_ESPEAK.format(py=sys.executable))
    b.chmod(b.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    cfg = dataclasses.replace(SMALL, world="auto")
    w = make_world(cfg, 0)
    assert isinstance(w, EspeakWorld)
    rng = np.random.default_rng(0)
    s = w.sample_speaker(rng)
    c = w.make_clip(s, rng)
    assert c["mel"].shape[0] == SMALL.n_mels and SMALL.min_frames <= c["mel"].shape[1] <= SMALL.max_frames
    gt = w.render_pair_target(c, w.make_clip(w.sample_speaker(rng), rng), rng)
    assert gt.shape == c["mel"].shape
