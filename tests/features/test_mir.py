"""The MIR kind on synthetic signals with closed-form answers."""

import numpy as np
import pytest

from scorelens.config import MIRConfig
from scorelens.exceptions import FeatureError, ParameterError
from scorelens.features.base import get_kind
from scorelens.features.groups import group_columns
from scorelens.features.mir import PITCH_CLASSES, MIRKind

SR = 22050


@pytest.fixture(scope="module")
def kind():
    return MIRKind()


def _mean(kind, y):
    ff = kind.compute(np.asarray(y, dtype=np.float32), SR)
    return dict(zip(ff.names, ff.values.mean(axis=0)))


def _t(seconds):
    return np.arange(int(seconds * SR)) / SR


def test_registry_builds_the_kind_with_overrides():
    k = get_kind("mir", n_fft=4096)
    assert isinstance(k, MIRKind) and k.config.n_fft == 4096
    assert k.settings()["n_fft"] == 4096


def test_unknown_setting_is_refused():
    with pytest.raises(ParameterError, match="unknown MIR setting.*hop_size"):
        MIRKind(hop_size=256)


def test_134_columns_in_eight_groups(kind):
    names = kind.column_names()
    assert len(names) == len(set(names)) == 134 == kind.dim
    counts = {g: len(c) for g, c in group_columns(names).items()}
    assert counts == {"MFCCs": 26, "ΔMFCCs": 26, "ΔΔMFCCs": 26, "Dynamics": 2, "Pitch": 24, "Rhythm": 4,
                      "Timbre": 16, "Tone": 10}
    assert names[:2] == ["mfcc/mfcc_01/mean", "mfcc/mfcc_01/std"]


def test_native_frames_are_texture_windows(kind):
    ff = kind.compute(np.zeros(int(12 * SR), np.float32), SR)
    np.testing.assert_allclose(ff.times, [2.5, 5.85, 9.2, 9.5], atol=1e-6)
    assert kind.frame_rate_hz == pytest.approx(1 / 3.35)


def test_sine_centroid_zcr_rms_and_chroma(kind):
    y = 0.5 * np.sin(2 * np.pi * 440.0 * _t(6))
    d = _mean(kind, y)
    assert d["timbre/centroid/mean"] == pytest.approx(440.0, rel=0.01)
    assert d["timbre/zcr/mean"] == pytest.approx(440.0, rel=0.02)  # one direction per period
    assert d["dynamics/rms/mean"] == pytest.approx(0.5 / np.sqrt(2), rel=0.02)
    chroma = np.array([d[f"pitch/chroma_{p}/mean"] for p in PITCH_CLASSES])
    assert chroma[9] == pytest.approx(1.0) and np.all(np.delete(chroma, 9) < 0.05)
    assert d["tone/brightness/mean"] < 0.01
    assert d["timbre/roughness/mean"] == 0.0
    assert abs(d["delta_mfcc/delta_mfcc_01/mean"]) < 0.05  # stationary: no change


def test_white_noise_flatness_and_entropy_closed_forms(kind):
    from scipy.integrate import quad

    y = 0.3 * np.random.default_rng(1).standard_normal(int(8 * SR))
    d = _mean(kind, y)
    # Power of each bin ~ exponential: E[log P] = log E[P] - γ, so flatness -> exp(-γ).
    assert d["timbre/flatness/mean"] == pytest.approx(np.exp(-np.euler_gamma), abs=0.01)
    # Magnitudes ~ Rayleigh: H = (ln n - (E[r ln r] / E[r] - ln E[r])) / ln n.
    er = np.sqrt(np.pi / 2)
    erl = quad(lambda r: r * np.log(r) * r * np.exp(-r * r / 2), 0, np.inf)[0]
    n = 1025
    assert d["tone/entropy/mean"] == pytest.approx((np.log(n) - (erl / er - np.log(er))) / np.log(n), abs=0.003)
    assert d["timbre/centroid/mean"] == pytest.approx(SR / 4, rel=0.01)
    assert d["timbre/skewness/mean"] == pytest.approx(0.0, abs=0.02)
    assert d["timbre/kurtosis/mean"] == pytest.approx(1.8, abs=0.02)
    assert d["rhythm/pulse_clarity/mean"] < 0.6


@pytest.mark.parametrize("bpm", [90.0, 120.0])
def test_click_train_tempo(kind, bpm):
    y = np.zeros(int(12 * SR))
    click = np.hanning(64) * np.sign(np.sin(np.arange(64)))
    for start in np.arange(0.1, 11.5, 60.0 / bpm):
        i = int(start * SR)
        y[i:i + 64] += 0.8 * click
    d = _mean(kind, y)
    assert d["rhythm/tempo/mean"] == pytest.approx(bpm, rel=0.02)
    assert d["rhythm/pulse_clarity/mean"] > 0.9


def test_major_and_minor_triads_key_mode(kind):
    def triad(midis):
        return sum(0.2 * np.sin(2 * np.pi * 440 * 2 ** ((m - 69) / 12) * _t(6)) for m in midis)

    major = _mean(kind, triad([72, 76, 79]))  # C5 E5 G5
    minor = _mean(kind, triad([72, 75, 79]))  # C5 Eb5 G5
    assert major["tone/key_mode/mean"] > 0 > minor["tone/key_mode/mean"]
    assert major["tone/key_strength/mean"] > 0.7 and minor["tone/key_strength/mean"] > 0.7


def test_silence_gives_finite_features_of_silence(kind):
    ff = kind.compute(np.zeros(3 * SR, np.float32), SR)
    assert np.all(np.isfinite(ff.values))
    d = dict(zip(ff.names, ff.values[0]))
    assert d["rhythm/tempo/mean"] == 0 and d["tone/key_strength/mean"] == 0 and d["dynamics/rms/mean"] == 0
    assert d["timbre/flatness/mean"] == pytest.approx(1.0, abs=1e-3)


def test_clipped_audio_gives_finite_features(kind):
    y = np.clip(4 * np.sin(2 * np.pi * 220 * _t(3)), -1, 1)
    assert np.all(np.isfinite(kind.compute(y.astype(np.float32), SR).values))


def test_audio_shorter_than_a_hop_is_an_error(kind):
    with pytest.raises(FeatureError, match="shorter than one STFT hop"):
        kind.compute(np.zeros(100, np.float32), SR)


def test_wrong_rate_is_an_error(kind):
    with pytest.raises(ParameterError, match="sr=16000 must equal"):
        kind.compute(np.zeros(16000, np.float32), 16000)


def test_config_constraints_are_checked():
    with pytest.raises(ParameterError, match="texture_overlap=1.0"):
        MIRConfig(texture_overlap=1.0)
    with pytest.raises(ParameterError, match="delta_width=4"):
        MIRConfig(delta_width=4)
