"""The MIR kind on synthetic signals with closed-form answers."""

import math

import numpy as np
import pytest

from scorelens.config import MIRConfig
from scorelens.exceptions import FeatureError, ParameterError
from scorelens.features._base import get_kind
from scorelens.features._groups import group_columns
from scorelens.features._mir import PITCH_CLASSES, UNPITCHED_INHARMONICITY, MIRKind, short_time_features

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


def test_a_window_half_silent_keeps_the_tempo_of_its_pulsed_half(kind):
    # 120 BPM clicks for 8 s, then 8 s of silence: windows across the end of the music keep
    # 120 BPM (their silent tempo frames have no pulse and stay out), windows in the silence
    # have none (0 BPM, no spread).
    y = np.zeros(int(16 * SR))
    click = np.hanning(64) * np.sign(np.sin(np.arange(64)))
    for start in np.arange(0.1, 7.9, 0.5):
        i = int(start * SR)
        y[i:i + 64] += 0.8 * click
    ff = kind.compute(y.astype(np.float32), SR)
    d = dict(zip(ff.names, ff.values.T))
    tempo = d["rhythm/tempo/mean"]
    pulsed = tempo > 0
    assert pulsed[0] and not pulsed[-1]
    np.testing.assert_allclose(tempo[pulsed], 120.0, rtol=0.02)
    assert np.all(d["rhythm/tempo/std"][~pulsed] == 0)
    # The window over 6.7-11.7 s is mostly silence: without leaving out its silent frames its
    # tempo would be a fraction of 120.
    straddling = (ff.times - 2.5 > 5.0) & (ff.times - 2.5 < 8.0)
    assert straddling.any() and np.all(pulsed[straddling])


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
    # A 220 Hz sine driven 4x into clipping is close to a square wave: finite features that
    # describe it as such. Its RMS is the clipped samples' own (0.94, against 0.71 for the
    # unclipped sine), it still crosses zero 220 times a second, and clipping adds odd
    # harmonics, which lift the spectral centroid well above the clean sine's 220 Hz.
    y = np.clip(4 * np.sin(2 * np.pi * 220 * _t(3)), -1, 1)
    ff = kind.compute(y.astype(np.float32), SR)
    assert np.all(np.isfinite(ff.values))
    d = dict(zip(ff.names, ff.values.mean(axis=0)))
    assert d["dynamics/rms/mean"] == pytest.approx(np.sqrt(np.mean(y ** 2)), rel=0.02)
    assert d["timbre/zcr/mean"] == pytest.approx(220.0, rel=0.02)
    clean = _mean(kind, np.sin(2 * np.pi * 220 * _t(3)))
    assert d["timbre/centroid/mean"] > 2 * clean["timbre/centroid/mean"]


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


def _band_limited_music(seconds=8.0, seed=0):
    # Harmonic chords below 2.5 kHz and a kick/snare pattern, low-passed at 4 kHz over a
    # white noise floor 80 dB down: the mel bands above 4 kHz hold little more than that
    # floor, as in band-limited recordings, which is where an absolute log floor made the
    # MFCCs depend on the level. (The noise floor keeps float32 rounding, whose level does
    # not follow the gain exactly, out of the empty bands.)
    import scipy.signal

    rng = np.random.default_rng(seed)
    t = _t(seconds)
    y = np.zeros(t.size)
    for k, start in enumerate(np.arange(0.0, seconds, 2.0)):
        seg = (t >= start) & (t < start + 2.0)
        root = 110.0 * 2 ** (rng.integers(0, 12) / 12)
        for ratio in (1.0, 1.26, 1.5):
            for h in range(1, 8):
                if root * ratio * h < 2500:
                    y[seg] += 0.1 / h * np.sin(2 * np.pi * root * ratio * h * t[seg])
    for i, beat in enumerate(np.arange(0.1, seconds - 0.2, 0.5)):
        j = int(beat * SR)
        burst = rng.standard_normal(2000) * np.exp(-np.arange(2000) / 300.0)
        y[j:j + 2000] += (0.6 if i % 2 == 0 else 0.25) * burst
    b, a = scipy.signal.butter(6, 4000, fs=SR)
    y = scipy.signal.lfilter(b, a, y)
    y = 0.5 * y / np.abs(y).max() + 5e-5 * rng.standard_normal(t.size)
    return y.astype(np.float32)


def test_a_gain_change_leaves_every_descriptor_but_rms_unchanged(kind):
    y = _band_limited_music()
    loud = kind.compute(y, SR)
    quiet = kind.compute(y * np.float32(10 ** (-20 / 20)), SR)
    for i, name in enumerate(loud.names):
        if name.startswith("dynamics/rms"):
            np.testing.assert_allclose(quiet.values[:, i], 0.1 * loud.values[:, i], rtol=1e-3)
            continue
        # Relative to the column's own scale (deltas are small numbers) with a float32 margin.
        scale = max(np.abs(loud.values[:, i]).max(), 1e-3)
        np.testing.assert_allclose(quiet.values[:, i], loud.values[:, i], rtol=0, atol=1e-3 * scale,
                                   err_msg=name)


def _regression_derivative(c, *, width, order):
    # Savitzky-Golay from its definition: the least-squares polynomial of degree `order` through
    # the `width` frames around each frame, differentiated `order` times there; the first and last
    # frames use the first and last whole window (as interpolating the fit to the edge does).
    half = width // 2
    out = np.empty_like(c)
    for t in range(c.shape[1]):
        lo = min(max(t - half, 0), c.shape[1] - width)
        x = np.arange(lo, lo + width) - t
        fit = np.polyfit(x, c[:, lo:lo + width].T, order)  # (order + 1, n_coefficients), highest power first
        # The order-th derivative at x = 0 of sum_p a_p x^p is order! * a_order.
        out[:, t] = math.factorial(order) * fit[0]
    return out


def test_mfccs_and_deltas_match_their_definitions_coefficient_by_coefficient():
    import librosa

    cfg = MIRConfig()
    y = _band_limited_music(seconds=4.0, seed=3)
    st = short_time_features(y, sr=SR, config=cfg)
    # The mel power spectrogram, built independently with librosa (Hann STFT, centred, zero
    # padded, scaled so a sine of amplitude A peaks at A), in float64.
    window = librosa.filters.get_window("hann", cfg.n_fft)
    S = np.abs(librosa.stft(y.astype(np.float64), n_fft=cfg.n_fft, hop_length=cfg.hop_length, window=window,
                            center=True, pad_mode="constant")) * (2.0 / window.sum())
    mel = librosa.feature.melspectrogram(S=S**2, sr=SR, n_mels=cfg.n_mels)
    # The documented floor: 80 dB below each frame's loudest band.
    log_mel = 10 * np.log10(np.maximum(mel, mel.max(axis=0, keepdims=True) * 10 ** (cfg.mfcc_floor_db / 10)))
    # DCT-II with orthonormal scaling, written out: c_k = w_k sum_n x_n cos(pi k (2n + 1) / 2N).
    n = cfg.n_mels
    k = np.arange(1, cfg.n_mfcc + 1)[:, None]
    dct = np.sqrt(2.0 / n) * np.cos(np.pi * k * (2 * np.arange(n)[None, :] + 1) / (2 * n))
    mfcc = dct @ log_mel  # coefficients 1..n_mfcc (0, the energy, is left out)
    d1 = _regression_derivative(mfcc, width=cfg.delta_width, order=1)
    d2 = _regression_derivative(mfcc, width=cfg.delta_width, order=2)
    cols = {n: st.values[:, i] for i, n in enumerate(st.names)}
    for prefix, ref in (("mfcc/mfcc", mfcc), ("delta_mfcc/delta_mfcc", d1), ("delta2_mfcc/delta2_mfcc", d2)):
        for j in range(cfg.n_mfcc):
            name = f"{prefix}_{j + 1:02d}"
            ours = cols[name]
            assert ours.shape == ref[j].shape, name
            # Each coefficient against its own range: 0.1 % of its largest value here (float32
            # STFT rounding leaves ~2e-4 in every coefficient; a scale shared with coefficient 1,
            # whose values reach 189, would let coefficient 8, within +-8, drift by 5 %).
            np.testing.assert_allclose(ours, ref[j], rtol=0, atol=1e-3 * np.abs(ref[j]).max(), err_msg=name)


def test_drum_pattern_tempo_through_the_kind(kind):
    # 132 BPM: kick on beats 1 and 3 (a strong 66 BPM component), snare on 2 and 4.
    rng = np.random.default_rng(5)
    seconds, beat = 16.0, 60.0 / 132.0
    y = np.zeros(int(seconds * SR))
    for k, start in enumerate(np.arange(0.05, seconds - 0.2, beat)):
        i = int(start * SR)
        if k % 2 == 0:
            hit = np.sin(2 * np.pi * 60 * np.arange(3000) / SR) * np.exp(-np.arange(3000) / 600.0)
            y[i:i + 3000] += 0.9 * hit
        else:
            y[i:i + 3000] += 0.3 * rng.standard_normal(3000) * np.exp(-np.arange(3000) / 400.0)
    st = short_time_features(y.astype(np.float32), sr=SR, config=kind.config)
    tempo = st.rhythm_values[:, 1]
    assert any(abs(np.median(tempo) - m * 132.0) < 0.08 * m * 132.0 for m in (0.5, 1.0, 2.0))
    assert tempo.max() / tempo.min() < 1.1  # one metrical level in every frame
    ff = kind.compute(y.astype(np.float32), SR)
    d = dict(zip(ff.names, ff.values.T))
    assert np.all(d["rhythm/tempo/std"] < 0.05 * d["rhythm/tempo/mean"])


def test_frames_without_pitch_do_not_count_as_harmonic(kind):
    # 0-2.5 s: white noise (a pitch is found in most frames; inharmonicity about 0.5);
    # 2.5-10.5 s: a 50 Hz sine, below the 75 Hz pitch floor, so no frame has a pitch.
    rng = np.random.default_rng(2)
    noise = 0.3 * rng.standard_normal(int(2.5 * SR))
    hum = 0.5 * np.sin(2 * np.pi * 50.0 * _t(8.0))
    y = np.concatenate([noise, hum]).astype(np.float32)
    st = short_time_features(y, sr=SR, config=kind.config)
    inh = st.values[:, st.names.index("tone/inharmonicity")]
    in_hum = (st.times > 2.7) & (st.times < 10.3)
    assert np.all(np.isnan(inh[in_hum]))
    ff = kind.compute(y, SR)
    d = dict(zip(ff.names, ff.values.T))
    assert np.all(np.isfinite(ff.values))
    # Window 1 (0-5 s) mixes noise and hum: only the noise frames count (a 0 for each hum
    # frame would pull the mean to about 0.25).
    noise_frames = inh[(st.times < 2.3) & np.isfinite(inh)]
    assert d["tone/inharmonicity/mean"][0] == pytest.approx(noise_frames.mean(), abs=0.02)
    assert d["tone/inharmonicity/mean"][0] > 0.4
    # The last window (5.5-10.5 s) has no pitched frame: the documented value, no spread.
    assert d["tone/inharmonicity/mean"][-1] == UNPITCHED_INHARMONICITY
    assert d["tone/inharmonicity/std"][-1] == 0.0


def test_mirtoolbox_preset_uses_mirtoolbox_frames():
    cfg = MIRConfig.preset("mirtoolbox")
    assert (cfg.n_fft, cfg.hop_length) == (1102, 551)  # 50 ms, half overlap, at 22050 Hz
    assert (cfg.tempo_frame_s, cfg.tempo_hop_s, cfg.key_frame_s) == (3.0, 0.3, 1.0)
    assert MIRConfig.preset("mirtoolbox", sample_rate=44100).n_fft == 2205
    k = get_kind("mir", preset="mirtoolbox")
    assert k.config == cfg and k.column_names() == MIRKind().column_names()
    ff = k.compute(_band_limited_music(seconds=6.0), SR)
    assert np.all(np.isfinite(ff.values))
    assert MIRConfig.preset("scorelens") == MIRConfig()
    with pytest.raises(ParameterError, match="unknown MIR preset 'matlab'"):
        MIRConfig.preset("matlab")


def test_roughness_of_a_dyad_through_the_kind_is_sethares_value():
    # 1000 and 1060 Hz (5.6 bins of the kind's 2048-point frames apart), amplitudes 0.4 and 0.2:
    # Sethares' a1 a2 (exp(-3.51 x) - exp(-5.75 x)), x = 0.24 df / (0.0207 f_min + 18.96)
    # (JASA 94, 1993, with his published constants), raw and over the peaks' energy.
    f1, f2, a1, a2 = 1000.0, 1060.0, 0.4, 0.2
    x = 0.24 * (f2 - f1) / (0.0207 * f1 + 18.96)
    pair = a1 * a2 * (np.exp(-3.51 * x) - np.exp(-5.75 * x))
    y = (a1 * np.sin(2 * np.pi * f1 * _t(6)) + a2 * np.sin(2 * np.pi * f2 * _t(6) + 0.5)).astype(np.float32)
    for method, expected in (("normalized", pair / (a1**2 + a2**2)), ("mirtoolbox", pair)):
        ff = MIRKind(roughness_method=method).compute(y, SR)
        r = ff.values[:, ff.names.index("timbre/roughness/mean")]
        np.testing.assert_allclose(r, expected, rtol=0.01, err_msg=method)


def test_raw_mirtoolbox_roughness_is_kept_behind_a_setting():
    y = _band_limited_music(seconds=5.0)
    cols = {}
    for method in ("normalized", "mirtoolbox"):
        k = MIRKind(roughness_method=method)
        quiet = k.compute(y * np.float32(0.1), SR)
        loud = k.compute(y, SR)
        i = loud.names.index("timbre/roughness/mean")
        cols[method] = (loud.values[:, i], quiet.values[:, i])
    np.testing.assert_allclose(cols["normalized"][1], cols["normalized"][0], rtol=1e-3)
    np.testing.assert_allclose(cols["mirtoolbox"][1], 0.01 * cols["mirtoolbox"][0], rtol=1e-3)
    with pytest.raises(ParameterError, match="roughness_method='sethares'"):
        MIRConfig(roughness_method="sethares")
