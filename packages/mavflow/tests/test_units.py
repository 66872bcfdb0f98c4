"""k-means unit stand-in and unit translators."""

import numpy as np
from mlrepro_mavflow.method.units import (
    KMeansUnits,
    RemapTranslator,
    assign_nearest,
    kmeans,
    mfcc_from_logmel,
    unit_features,
)


def test_kmeans_recovers_separated_clusters():
    rng = np.random.default_rng(0)
    centers = np.array([[0, 0], [10, 0], [0, 10], [10, 10]], dtype=float)
    lab = rng.integers(0, 4, 800)
    x = centers[lab] + rng.normal(0, 0.5, (800, 2))
    cent = kmeans(x, 4, seed=1)
    a = assign_nearest(x, cent)
    # a bijection between found and true clusters
    tab = np.zeros((4, 4), int)
    np.add.at(tab, (a, lab), 1)
    assert (tab.max(1).sum() == 800) and len(set(tab.argmax(1))) == 4


def test_mfcc_is_orthonormal_dct_of_logmel():
    rng = np.random.default_rng(0)
    m = rng.normal(size=(8, 3))
    c = mfcc_from_logmel(m, 8)
    # orthonormal: energy preserved, c0 = sum / sqrt(M)
    assert np.allclose((c**2).sum(0), (m**2).sum(0))
    assert np.allclose(c[0], m.sum(0) / np.sqrt(8))


def test_unit_features_drop_c0_and_mean_normalise():
    rng = np.random.default_rng(0)
    m = rng.normal(size=(20, 30))
    f = unit_features(m, 13, cmn=True)
    assert f.shape == (30, 12) and np.allclose(f.mean(0), 0)
    # a constant added to the whole log-mel (loudness) only changes c0: the features do not move
    assert np.allclose(unit_features(m + 3.0, 13), f)


def test_kmeans_units_fit_predict_state_roundtrip():
    rng = np.random.default_rng(0)
    mels = [rng.normal(size=(16, 30)) for _ in range(10)]
    km = KMeansUnits(k=6, n_mfcc=8).fit(mels, iters=5)
    u = km(mels[0])
    assert u.shape == (30,) and u.dtype == np.int64 and u.max() < 6
    km2 = KMeansUnits.from_state(km.state())
    assert (km2(mels[0]) == u).all()


def test_remap_translator_is_a_permutation():
    t = RemapTranslator(20, seed=3)
    assert sorted(t.table.tolist()) == list(range(20))
    assert t(np.array([0, 1, 2])).tolist() == t.table[:3].tolist()
