"""Brightness (eq. 1) and contrast (eq. 2) on hand-made pictures and on encoded films."""

from fractions import Fraction

import av
import numpy as np
import pandas as pd
import pytest

from scorelens.config import VisualConfig
from scorelens.demo._media import write_audio, write_film
from scorelens.exceptions import MediaError, ParameterError
from scorelens.features._visual import brightness, contrast, cue_summaries, visual_frames
from scorelens.stages._visual import VisualSource, compute_visual
from scorelens.workspace import Workspace


def extract_visual(ws, sources, **kwargs):
    """The visual stage with the study's settings."""
    return compute_visual(ws, VisualConfig(), sources, **kwargs)


def _img(h=40, w=60, level=0):
    return np.full((h, w, 3), level, np.uint8)


def test_brightness_is_bt709_luma_in_0_1():
    assert brightness(_img(level=0)) == 0.0
    assert brightness(_img(level=255)) == pytest.approx(1.0)
    assert brightness(_img(level=128)) == pytest.approx(128 / 255)
    red = _img()
    red[..., 0] = 255
    assert brightness(red) == pytest.approx(0.2126)
    green = _img()
    green[..., 1] = 255
    assert brightness(green) == pytest.approx(0.7152)


def test_contrast_closed_forms():
    assert contrast(_img(level=90)) == 0.0  # uniform: no bright/dark split
    half = _img()
    half[:, 30:] = 255
    assert contrast(half) == pytest.approx(1.0)  # (1 - 0) * (1 - |0.5 - 0.5|)
    spot = _img()
    spot[:4] = 255  # 10 % white on black
    assert contrast(spot) == pytest.approx(1.0 * (1 - abs(0.1 - 0.9)))
    greys = _img(level=64)
    greys[:, 30:] = 192
    assert contrast(greys) == pytest.approx((192 - 64) / 255)


def _film(path, seconds=8):
    def frame_at(t):
        img = np.zeros((72, 128, 3), np.uint8)
        if t < 3:
            img[:] = 128
        elif t < 6:
            img[:, :64] = 255
        else:
            img[..., 0] = 255
        return img
    return write_film(path, np.zeros(seconds * 8000, np.float32), 8000, frame_at=frame_at, fps=4)


@pytest.fixture(scope="module")
def film(tmp_path_factory):
    return _film(tmp_path_factory.mktemp("vis") / "film.mp4")


def test_film_frames_at_1hz(film):
    df = visual_frames(film)
    np.testing.assert_allclose(df["time_s"], np.arange(8) + 0.5)
    np.testing.assert_allclose(df["brightness"], [128 / 255] * 3 + [0.5] * 3 + [0.2126] * 2, atol=0.02)
    np.testing.assert_allclose(df["contrast"], [0] * 3 + [1] * 3 + [0] * 2, atol=0.05)
    assert df["brightness"].dtype == np.float32
    part = visual_frames(film, start_s=2.2, end_s=5.0)
    np.testing.assert_allclose(part["time_s"], [2.5, 3.5, 4.5])


def test_bframe_film_frames_at_1hz(tmp_path):
    # Encoded as distributed films are (B-frames, a keyframe about every second): the decoder
    # skips what no grid frame needs, yet each grid time gets the frame on screen (within the
    # frame or two non-reference frames skipped allow), so each second's level is read.
    path, fps = tmp_path / "b.mp4", 24
    levels = 20 + 23 * np.arange(10)
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=fps)
        s.width, s.height, s.pix_fmt = 128, 72, "yuv420p"
        s.options = {"preset": "fast", "x264-params": "keyint=30:bframes=3"}
        for i in range(10 * fps):
            img = np.full((72, 128, 3), levels[i // fps], np.uint8)
            img[:, (3 * i) % 120:(3 * i) % 120 + 8] = 255  # motion, so frames differ
            f = av.VideoFrame.from_ndarray(img, format="rgb24")
            f.pts, f.time_base = i, Fraction(1, fps)
            for p in s.encode(f):
                c.mux(p)
        for p in s.encode(None):
            c.mux(p)
    df = visual_frames(path)
    np.testing.assert_allclose(df["time_s"], np.arange(10) + 0.5)
    assert (df["time_s"] - df["frame_time_s"]).between(0, 2.01 / fps).all()
    np.testing.assert_allclose(df["brightness"], (levels * 120 + 255 * 8) / 128 / 255, atol=0.02)


def test_cue_medians_and_short_cues():
    frames = pd.DataFrame({"time_s": np.arange(10) + 0.5, "brightness": np.arange(10) / 10.0,
                           "contrast": np.full(10, 0.3)})
    cues = pd.DataFrame({"film_id": ["f", "f"], "cue_id": [0, 1], "start_s": [2.0, 7.1], "end_s": [6.0, 7.4]})
    out = cue_summaries(frames, cues)
    assert list(out["n_frames"]) == [4, 1]
    np.testing.assert_allclose(out["brightness"], [np.median([0.2, 0.3, 0.4, 0.5]), 0.7], rtol=1e-6)


def test_extract_visual_caches_and_keeps_going(tmp_path, film):
    ws = Workspace(tmp_path / "ws")
    cues = ws.layout.cue_table("f")
    cues.parent.mkdir(parents=True)
    pd.DataFrame({"film_id": ["f"], "cue_id": [0], "track_id": ["0" * 16], "track_path": ["x"], "start_s": [3.0],
                  "end_s": [6.0], "track_offset_s": [0.0]}).to_parquet(cues)
    audio_only = write_audio(tmp_path / "a.m4a", np.zeros(8000), 8000)
    sources = [VisualSource("bad", audio_only), VisualSource("f", film, cues)]
    with pytest.raises(MediaError, match="a.m4a: has no video stream"):
        extract_visual(ws, sources)
    report = extract_visual(ws, sources, keep_going=True)
    assert list(report.failures) == ["bad"] and report.films == ["f"]
    summary = pd.read_parquet(report.cues_path)
    assert summary.loc[0, "contrast"] == pytest.approx(1.0, abs=0.05)
    assert summary.loc[0, "n_frames"] == 3
    again = extract_visual(ws, sources[1:])
    assert again.cached == ["f"]


def test_visual_config_is_checked():
    with pytest.raises(ParameterError, match="width=4"):
        VisualConfig(width=4)


def test_cue_beyond_the_video_gets_no_summary():
    frames = pd.DataFrame({"time_s": [0.5, 1.5], "brightness": [0.1, 0.2], "contrast": [0.0, 0.0]})
    cues = pd.DataFrame({"film_id": ["f"], "cue_id": [3], "start_s": [10.0], "end_s": [10.5]})
    with pytest.warns(UserWarning, match="cue 3 .*no video frame within 1 s"):
        assert len(cue_summaries(frames, cues)) == 0
