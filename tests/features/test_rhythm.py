"""Tempo and pulse clarity of synthetic onset curves with known periods."""

import numpy as np
import pytest

from scorelens.features.rhythm import onset_strength, tempo_frames

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


def test_curve_shorter_than_a_frame_makes_one_frame():
    times, tempo, clarity = tempo_frames(onset=_pulses(120.0, seconds=1.5), fps=FPS)
    assert times.shape == tempo.shape == clarity.shape == (1,)


def test_onset_strength_is_positive_flux():
    log_S = np.array([[0.0, 1.0, 0.5, 2.0], [0.0, 3.0, 3.0, 0.0]])
    np.testing.assert_allclose(onset_strength(log_S=log_S), [0.0, 2.0, 0.0, 0.75])
