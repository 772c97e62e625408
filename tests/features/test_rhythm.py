"""Tempo and pulse clarity of synthetic onset curves with known periods."""

import numpy as np
import pytest

from scorelens.features._rhythm import onset_strength, span_tempo, tempo_frames

FPS = 22050 / 512


def _pulses(bpm, seconds=10.0):
    n = int(seconds * FPS)
    onset = np.zeros(n)
    onset[np.round(np.arange(0.1, seconds, 60.0 / bpm) * FPS).astype(int)] = 1.0
    return onset


@pytest.mark.parametrize("bpm", [72.0, 120.0, 150.0])
def test_pulse_train_gives_its_tempo_and_a_clear_pulse(bpm):
    times, tempo, clarity = tempo_frames(onset=_pulses(bpm), fps=FPS)
    assert times[0] == pytest.approx((round(3.0 * FPS) - 1) / 2 / FPS)
    # Onsets fall on a 23 ms frame grid: the period is known to about half a frame.
    np.testing.assert_allclose(np.median(tempo), bpm, rtol=0.03)
    assert np.median(clarity) > 0.8


def test_120_bpm_is_not_reported_at_half_tempo():
    _, tempo, _ = tempo_frames(onset=_pulses(120.0), fps=FPS)
    assert np.all(np.abs(tempo - 120.0) < 6.0)


def test_random_onsets_have_low_clarity():
    rng = np.random.default_rng(3)
    _, _, clarity = tempo_frames(onset=rng.random(int(20 * FPS)), fps=FPS)
    assert np.median(clarity) < 0.5


def test_no_onsets_means_no_pulse():
    _, tempo, clarity = tempo_frames(onset=np.zeros(200), fps=FPS)
    assert np.all(tempo == 0) and np.all(clarity == 0)


@pytest.mark.parametrize("bpm", [100.0, 120.0, 150.0])
def test_curve_shorter_than_a_frame_makes_one_frame(bpm):
    # 1.5 s (64 onset frames) against 3-s frames: one frame, centred on the curve, whose
    # tempo is the pulses' (3 or 4 of them, at the known period) and clearly periodic.
    onset = _pulses(bpm, seconds=1.5)
    times, tempo, clarity = tempo_frames(onset=onset, fps=FPS)
    assert times.shape == tempo.shape == clarity.shape == (1,)
    assert times[0] == pytest.approx((onset.size - 1) / 2 / FPS)
    np.testing.assert_allclose(tempo, bpm, rtol=0.03)
    assert clarity[0] > 0.8


def test_onset_strength_is_positive_flux():
    log_S = np.array([[0.0, 1.0, 0.5, 2.0], [0.0, 3.0, 3.0, 0.0]])
    np.testing.assert_allclose(onset_strength(log_S=log_S), [0.0, 2.0, 0.0, 0.75])


def _octave_ok(est, ref, tol=0.08):
    return any(abs(est - m * ref) <= tol * m * ref for m in (0.5, 1.0, 2.0))


def _drum_onsets(bpm, seconds=20.0, seed=0):
    # Kick on beats 1 and 3 (strong: a half-tempo component), snare on 2 and 4, hi-hat on
    # every eighth note (weak), with a little timing jitter and noise, as onset strengths.
    rng = np.random.default_rng(seed)
    n = int(seconds * FPS)
    onset = 0.05 * rng.random(n)
    beat = 60.0 / bpm
    for k, t in enumerate(np.arange(0.2, seconds - 0.1, beat / 2)):
        i = int(round((t + rng.normal(0, 0.004)) * FPS))
        if k % 4 == 0:
            onset[i] += 3.0  # kick
        elif k % 4 == 2:
            onset[i] += 1.2  # snare
        else:
            onset[i] += 0.4  # hi-hat
    return onset


@pytest.mark.parametrize("bpm", [84.0, 128.0, 170.0])
def test_drum_pattern_tempo_is_right_and_keeps_one_octave(bpm):
    _, tempo, _ = tempo_frames(onset=_drum_onsets(bpm), fps=FPS)
    assert _octave_ok(np.median(tempo), bpm)
    # Every frame on the same metrical level: no frame flips to twice or half the others.
    assert tempo.max() / tempo.min() < 1.1


def test_tempo_respects_its_bounds():
    # A 210 BPM pulse lies above the 200 BPM maximum: its period (12.3 frames) is shorter than
    # the shortest lag allowed (12.9 frames); the tempo must not exceed 200, and must be one
    # of the train's slower metrical levels (210 / k: 105, 70, ...), the same in every frame.
    _, tempo, _ = tempo_frames(onset=_pulses(210.0, seconds=12.0), fps=FPS, min_bpm=40.0, max_bpm=200.0)
    assert np.all((tempo >= 40.0) & (tempo <= 200.0))
    k = np.round(210.0 / np.median(tempo))
    assert k >= 2 and np.all(np.abs(tempo - 210.0 / k) < 0.05 * 210.0 / k)
    # With half of it excluded too, the nearest allowed period is the bound itself.
    _, tempo, _ = tempo_frames(onset=_pulses(205.0, seconds=12.0), fps=FPS, min_bpm=110.0, max_bpm=200.0)
    assert np.all((tempo >= 110.0) & (tempo <= 200.0))
    _, tempo, _ = tempo_frames(onset=_drum_onsets(128.0), fps=FPS, min_bpm=50.0, max_bpm=100.0)
    assert np.all((tempo >= 50.0) & (tempo <= 100.0))
    assert np.all(np.abs(tempo - 64.0) < 4.0)


@pytest.mark.parametrize("bpm", [84.0, 128.0, 170.0])
def test_span_tempo_matches_librosa_tempo_on_the_same_onset_curve(bpm):
    import librosa

    onset = _drum_onsets(bpm, seconds=30.0, seed=int(bpm))
    ours = span_tempo(onset=onset, fps=FPS, min_bpm=40.0, max_bpm=200.0)
    # librosa's tempogram at every frame (ours every second): the same estimate, to within
    # the width of one lag (~1.5 % at these tempi).
    ref = librosa.feature.tempo(onset_envelope=onset, sr=22050, hop_length=512, max_tempo=200.0)[0]
    assert ours == pytest.approx(ref, rel=0.03)
