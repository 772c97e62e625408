import numpy as np

from scorelens.config import StamperConfig
from scorelens.demo import _synth as synth
from scorelens.stamp._peaks import find_peaks


def test_sine_peaks_sit_at_its_bin():
    cfg = StamperConfig()
    sr = cfg.sample_rate
    t = np.arange(5 * sr) / sr
    freq = 1000.0
    peaks = find_peaks(0.5 * np.sin(2 * np.pi * freq * t), cfg, peaks_per_second=20)
    expected_bin = round(freq * cfg.n_fft / sr)
    assert len(peaks) > 0
    assert np.all(np.abs(peaks.bins - expected_bin) <= 1)


def test_streaming_does_not_depend_on_block_size():
    cfg = StamperConfig()
    x = synth.synth_track("comedy", duration_s=50, sr=cfg.sample_rate, seed=3)
    whole = find_peaks(x, cfg, peaks_per_second=30)
    blocks = [x[i:i + 7777] for i in range(0, x.size, 7777)]
    streamed = find_peaks(blocks, cfg, peaks_per_second=30)
    np.testing.assert_array_equal(whole.frames, streamed.frames)
    np.testing.assert_array_equal(whole.bins, streamed.bins)
    assert whole.n_frames == streamed.n_frames == 1 + x.size // cfg.hop_length


def test_density_is_capped_and_silence_has_no_peaks():
    cfg = StamperConfig()
    x = synth.synth_track("action", duration_s=20, sr=cfg.sample_rate, seed=1)
    peaks = find_peaks(x, cfg, peaks_per_second=10)
    per_unit = round(10 * 43 * cfg.frame_seconds)
    assert np.bincount(peaks.frames // 43).max() <= per_unit
    silent = find_peaks(np.zeros(cfg.sample_rate * 10, dtype=np.float32), cfg, peaks_per_second=30)
    assert len(silent) == 0


def test_sliding_max_equals_scipy_maximum_filter():
    from scipy import ndimage

    from scorelens.stamp._peaks import _sliding_max

    x = np.random.default_rng(0).standard_normal((300, 77)).astype(np.float32)
    for rt, rf in [(5, 6), (6, 8), (1, 1), (0, 3)]:
        expected = ndimage.maximum_filter(x, size=(2 * rt + 1, 2 * rf + 1), mode="nearest")
        np.testing.assert_array_equal(_sliding_max(_sliding_max(x, rf, 1), rt, 0), expected)
