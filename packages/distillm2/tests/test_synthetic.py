"""The mini's synthetic world: the student's corrupted SFT data and the mistake counter."""

import random

import pytest
from mlrepro_distillm2.config import Config
from mlrepro_distillm2.synthetic import SyntheticWorld, WorldConfig

from mlrepro.config import ConfigError, load_config


def test_mistake_successor_is_the_least_likely():
    w = SyntheticWorld(WorldConfig())
    for k in range(w.cfg.n_topics):
        for i in range(w.cfg.n_words):
            row = w.trans[k, i]
            assert row[w.mistake[k, i]] == row.min() and row.min() < 1e-2


def test_corpus_mistake_rate_and_counter():
    w = SyntheticWorld(WorldConfig())
    clean = w.corpus(400, seed=3)
    noisy = w.corpus(400, seed=3, mistake_rate=0.3)
    fc = w.mistake_fraction([p for p, _ in clean], [r for _, r in clean])
    fn = w.mistake_fraction([p for p, _ in noisy], [r for _, r in noisy])
    assert fc["mistake_frac"] < 0.005 and fc["unparseable_frac"] == 0
    assert abs(fn["mistake_frac"] - 0.3) < 0.04  # the clean chain almost never picks the mistake itself
    with pytest.raises(ValueError):
        w.corpus(1, seed=0, mistake_rate=1.0)
    derailed = w.corpus(400, seed=3, derail_rate=0.5)
    fd = w.mistake_fraction([p for p, _ in derailed], [r for _, r in derailed])
    assert 0.3 < fd["derailed_frac"] < 0.55 and fc["derailed_frac"] == 0
    # derail_rate ~ 1: every transition from position min_len - 1 on is the mistake successor
    for p, r in w.corpus(50, seed=4, derail_rate=0.999):
        k, words = int(p.split()[0][1:]), [p.split()[1], *r.split()]
        idx = [w.words.index(x) for x in words]
        assert all(idx[i + 1] == w.mistake[k, idx[i]] for i in range(w.cfg.min_len - 1, len(idx) - 1))


def test_mistake_fraction_by_hand():
    w = SyntheticWorld(WorldConfig(n_topics=1, n_words=4))
    m = w.mistake
    a, b = w.words[0], w.words[int(m[0, 0])]
    c = w.words[int(m[0, int(m[0, 0])])]
    # a -> b is a mistake, b -> c is a mistake; then a non-word stops the count
    out = w.mistake_fraction([f"q0 {a}", f"q0 {a}"], [f"{b} {c}", "zz a"])
    assert out == {"mistake_frac": 1.0, "derailed_frac": 0.0, "transitions": 2, "unparseable_frac": 0.5}
    rng = random.Random(0)
    assert len(w.sample_response(f"q0 {a}", rng, mistake_rate=0.5).split()) >= w.cfg.min_len


@pytest.mark.parametrize("override,key", [("world.student_mistake_rate=1.5", "world.student_mistake_rate"),
                                          ("synthetic.kl_claim_on=both", "synthetic.kl_claim_on")])
def test_bad_world_keys(override, key, tmp_path):
    from pathlib import Path

    import mlrepro_distillm2

    recipes = Path(mlrepro_distillm2.__file__).parent / "recipes"
    with pytest.raises(ConfigError, match=key):
        load_config(Config, "mini", [override], recipes_dir=recipes)
