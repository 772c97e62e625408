"""Spectral descriptors against closed-form answers on hand-made spectra and synthetic signals."""

import librosa
import numpy as np
import pytest

from scorelens.features._spectral import (
    acf_pitch,
    inharmonicity,
    spectral_brightness,
    spectral_crest,
    spectral_entropy,
    spectral_flatness,
    spectral_moments,
    spectral_roughness,
)

SR, N_FFT = 22050, 2048
FREQS = librosa.fft_frequencies(sr=SR, n_fft=N_FFT)


def _spectrum(y):
    window = np.hanning(N_FFT + 1)[:-1]
    X = librosa.stft(y.astype(np.float32), n_fft=N_FFT, hop_length=512, window=window)
    return np.abs(X) * (2.0 / window.sum())


def test_one_bin_spectrum_has_its_centroid_at_that_bin():
    S = np.zeros((FREQS.size, 3))
    S[100] = 1.0
    centroid, spread, skew, kurt = spectral_moments(S=S, freqs=FREQS)
    np.testing.assert_allclose(centroid, FREQS[100], rtol=1e-6)
    np.testing.assert_allclose(spread, 0.0, atol=1e-2)
    assert np.all(np.isfinite(skew)) and np.all(np.isfinite(kurt))


def test_flat_spectrum_is_a_uniform_distribution():
    S = np.ones((FREQS.size, 2))
    centroid, spread, skew, kurt = spectral_moments(S=S, freqs=FREQS)
    np.testing.assert_allclose(centroid, SR / 4, rtol=1e-6)
    # Discrete uniform on n points: sd = range * sqrt((n^2 - 1) / 12) / (n - 1), kurtosis -> 1.8.
    n = FREQS.size
    np.testing.assert_allclose(spread, (SR / 2) * np.sqrt((n**2 - 1) / 12) / (n - 1), rtol=1e-6)
    np.testing.assert_allclose(skew, 0.0, atol=1e-6)
    np.testing.assert_allclose(kurt, 1.8, atol=1e-2)
    np.testing.assert_allclose(spectral_flatness(P=S**2), 1.0, rtol=1e-6)
    np.testing.assert_allclose(spectral_crest(P=S**2), 1.0, rtol=1e-6)
    np.testing.assert_allclose(spectral_entropy(S=S), 1.0, rtol=1e-6)


def test_two_bin_spectrum_centroid_and_spread():
    S = np.zeros((FREQS.size, 1))
    S[[100, 300]] = [[1.0], [3.0]]
    centroid, spread, skew, _ = spectral_moments(S=S, freqs=FREQS)
    mu = (FREQS[100] + 3 * FREQS[300]) / 4
    np.testing.assert_allclose(centroid, mu, rtol=1e-6)
    np.testing.assert_allclose(spread, np.sqrt((FREQS[100] - mu) ** 2 / 4 + 3 * (FREQS[300] - mu) ** 2 / 4), rtol=1e-5)
    assert skew[0] < 0  # most weight on the high bin: left tail


def test_peaky_spectrum_crest_entropy_flatness():
    S = np.zeros((FREQS.size, 1))
    S[10] = 1.0
    np.testing.assert_allclose(spectral_crest(P=S**2), FREQS.size, rtol=1e-6)
    assert spectral_entropy(S=S)[0] < 1e-6
    assert spectral_flatness(P=S**2)[0] < 1e-6


def test_brightness_is_share_above_cutoff():
    S = np.zeros((FREQS.size, 1))
    lo, hi = np.searchsorted(FREQS, 500), np.searchsorted(FREQS, 3000)
    S[lo], S[hi] = 1.0, 3.0
    np.testing.assert_allclose(spectral_brightness(S=S, freqs=FREQS, cutoff_hz=1500.0), 0.75, rtol=1e-6)


def _critical_bandwidth(f_hz):
    # Zwicker & Terhardt, "Analytical expressions for critical-band rate and critical
    # bandwidth as a function of frequency", JASA 68 (1980): the critical band Plomp & Levelt
    # measure their curve in.
    return 25.0 + 75.0 * (1.0 + 1.4 * (f_hz / 1000.0) ** 2) ** 0.69


def _two_sine_spectrum(f1, f2, amp=1.0, n_fft=16384):
    # One long Hann frame (1.3 Hz bins) so that tones a few Hz apart are resolved; scaled so a
    # sine of amplitude A peaks at A, as the MIR kind's STFT is.
    t = np.arange(n_fft) / SR
    window = np.hanning(n_fft + 1)[:-1]
    y = amp * (np.sin(2 * np.pi * f1 * t) + np.sin(2 * np.pi * f2 * t + 1.0))
    S = np.abs(np.fft.rfft(y * window))[:, None] * (2.0 / window.sum())
    return S, np.fft.rfftfreq(n_fft, 1.0 / SR)


@pytest.mark.parametrize("f1", [250.0, 500.0, 1000.0])
def test_two_tone_dissonance_peaks_at_a_quarter_of_the_critical_band(f1):
    # Plomp & Levelt (JASA 38, 1965, Fig. 10): the dissonance of two pure tones is greatest
    # when they are about a quarter of a critical bandwidth apart, and has nearly vanished
    # (consonance) at a full critical bandwidth.
    cb = _critical_bandwidth(f1)
    dfs = np.arange(2.0, 1.2 * cb, 1.0)
    curve = []
    for df in dfs:
        S, freqs = _two_sine_spectrum(f1, f1 + df)
        curve.append(spectral_roughness(S=S, freqs=freqs, floor_db=-20.0)[0])
    curve = np.array(curve)
    peak = dfs[np.argmax(curve)] / cb
    assert 0.18 <= peak <= 0.32, peak
    at_one_cb = curve[np.argmin(np.abs(dfs - cb))]
    assert at_one_cb < 0.25 * curve.max()


def _sethares_pair(f1, f2, a1, a2):
    # Sethares' parameterisation of Plomp & Levelt's curve for two pure tones (JASA 94, 1993),
    # with the constants of his published dissmeasure program: d = a1 a2 (exp(-3.51 x) -
    # exp(-5.75 x)), x = 0.24 |f2 - f1| / (0.0207 min(f1, f2) + 18.96). His program also scales
    # by 5 and weighs pairs by min(a1, a2); MIRtoolbox, which the study used, keeps the unit
    # scale and the product a1 a2, as scorelens does.
    x = 0.24 * abs(f2 - f1) / (0.0207 * min(f1, f2) + 18.96)
    return a1 * a2 * (np.exp(-3.51 * x) - np.exp(-5.75 * x))


def _dyad_spectrum(f1, f2, a1, a2, n_fft=16384):
    t = np.arange(n_fft) / SR
    window = np.hanning(n_fft + 1)[:-1]
    y = a1 * np.sin(2 * np.pi * f1 * t) + a2 * np.sin(2 * np.pi * f2 * t + 1.0)
    return np.abs(np.fft.rfft(y * window))[:, None] * (2.0 / window.sum()), np.fft.rfftfreq(n_fft, 1.0 / SR)


@pytest.mark.parametrize("f1,f2,a1,a2", [
    (440.0, 470.0, 1.0, 0.5),    # near the curve's maximum
    (300.0, 360.0, 0.8, 0.4),    # 360 Hz lies half-way between two bins
    (1000.0, 1060.0, 1.0, 0.3),
    (250.0, 265.0, 0.6, 0.6),    # 15 Hz apart: resolved by the long frame
])
def test_roughness_of_a_dyad_is_sethares_value(f1, f2, a1, a2):
    expected = _sethares_pair(f1, f2, a1, a2)
    S, freqs = _dyad_spectrum(f1, f2, a1, a2)
    raw = spectral_roughness(S=S, freqs=freqs, floor_db=-20.0, normalize=False)[0]
    assert raw == pytest.approx(expected, rel=2e-3)
    normalised = spectral_roughness(S=S, freqs=freqs, floor_db=-20.0)[0]
    assert normalised == pytest.approx(expected / (a1**2 + a2**2), rel=2e-3)


def test_normalised_roughness_ignores_level_and_raw_roughness_is_quadratic_in_it():
    S, freqs = _two_sine_spectrum(440.0, 470.0)
    loud, quiet = (spectral_roughness(S=S * g, freqs=freqs, floor_db=-20.0)[0] for g in (1.0, 0.1))
    assert loud > 0
    np.testing.assert_allclose(quiet, loud, rtol=1e-5)
    raw_loud, raw_quiet = (spectral_roughness(S=S * g, freqs=freqs, floor_db=-20.0, normalize=False)[0]
                           for g in (1.0, 0.1))
    np.testing.assert_allclose(raw_quiet, 0.01 * raw_loud, rtol=1e-4)
    # Two equal partials: the normalised value is the raw one over the energy 1 + 1 (within
    # the leakage of each tone into the other's peak).
    np.testing.assert_allclose(loud, raw_loud / 2, rtol=0.02)


def test_roughness_of_a_sine_and_of_silence_is_zero():
    t = np.arange(SR) / SR
    assert np.all(spectral_roughness(S=_spectrum(np.sin(2 * np.pi * 440 * t)), freqs=FREQS) == 0)
    assert np.all(spectral_roughness(S=np.zeros((FREQS.size, 4)), freqs=FREQS) == 0)


def test_roughness_semitone_rougher_than_fifth():
    t = np.arange(SR) / SR
    semitone = np.sin(2 * np.pi * 440 * t) + np.sin(2 * np.pi * 440 * 2 ** (1 / 12) * t)
    fifth = np.sin(2 * np.pi * 440 * t) + np.sin(2 * np.pi * 660 * t)
    r_semi = np.median(spectral_roughness(S=_spectrum(semitone), freqs=FREQS))
    r_fifth = np.median(spectral_roughness(S=_spectrum(fifth), freqs=FREQS))
    assert r_semi > 10 * r_fifth


def test_acf_pitch_and_inharmonicity_of_a_harmonic_tone():
    t = np.arange(SR) / SR
    y = sum(np.sin(2 * np.pi * 220 * h * t) / h for h in range(1, 6))
    S = _spectrum(y)
    f0 = acf_pitch(P=S**2, sr=SR, n_fft=N_FFT)
    np.testing.assert_allclose(np.median(f0), 220.0, rtol=0.02)
    assert np.median(inharmonicity(P=S**2, freqs=FREQS, f0=f0)) < 0.05


def test_inharmonicity_of_white_noise_is_about_half(rng):
    S = _spectrum(rng.standard_normal(SR))
    f0 = acf_pitch(P=S**2, sr=SR, n_fft=N_FFT)
    value = np.median(inharmonicity(P=S**2, freqs=FREQS, f0=f0))
    assert 0.4 < value < 0.6


def test_silence_gives_finite_values_everywhere():
    S = np.zeros((FREQS.size, 5))
    outs = [*spectral_moments(S=S, freqs=FREQS), spectral_flatness(P=S), spectral_crest(P=S),
            spectral_entropy(S=S), spectral_brightness(S=S, freqs=FREQS), spectral_roughness(S=S, freqs=FREQS)]
    f0 = acf_pitch(P=S, sr=SR, n_fft=N_FFT)
    outs.append(f0)
    assert all(np.all(np.isfinite(o)) for o in outs)
    assert np.all(f0 == 0)
    # No pitch: inharmonicity is undefined, not 0 (the value of a perfectly harmonic tone).
    assert np.all(np.isnan(inharmonicity(P=S, freqs=FREQS, f0=f0)))


def test_pitch_stays_within_its_bounds():
    # A 2450 Hz tone lies above the 2400 Hz maximum: its period (9.0 samples) is shorter than
    # the shortest lag allowed (22050 / 2400 = 9.19 samples), so no f0 may exceed 2400 Hz.
    t = np.arange(SR) / SR
    for f in (2450.0, 2390.0, 76.0, 70.0):
        y = np.sin(2 * np.pi * f * t) + 0.5 * np.sin(2 * np.pi * 2 * f * t)
        f0 = acf_pitch(P=_spectrum(y) ** 2, sr=SR, n_fft=N_FFT, fmin=75.0, fmax=2400.0)
        voiced = f0[f0 > 0]
        assert np.all((voiced >= 75.0) & (voiced <= 2400.0)), (f, voiced.min(), voiced.max())


@pytest.fixture
def rng():
    return np.random.default_rng(20210628)
