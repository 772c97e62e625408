"""Sampling frames from real encoded films: times, sizes, variable frame rate, damage, bad files."""

import logging
import re
from fractions import Fraction

import av
import numpy as np
import pytest

from scorelens.demo._media import write_audio, write_film
from scorelens.exceptions import MediaError
from scorelens.io._video import VideoWarning, probe_video, sample_frames


def write_video(path, frames, size, *, codec="mjpeg", pix_fmt="yuvj420p", tb=1000):
    """A video-only file whose frames (time_s, rgb) are shown at exactly the given times."""
    with av.open(str(path), "w") as c:
        s = c.add_stream(codec, rate=tb)
        s.width, s.height = size
        s.pix_fmt = pix_fmt
        s.time_base = Fraction(1, tb)
        for t, img in frames:
            f = av.VideoFrame.from_ndarray(img, format="rgb24")
            f.pts = int(round(t * tb))
            f.time_base = Fraction(1, tb)
            for p in s.encode(f):
                c.mux(p)
        for p in s.encode(None):
            c.mux(p)
    return path


def _level_film(path, seconds=6.0, fps=4.0):
    def frame_at(t):
        return np.full((72, 128, 3), int(10 + 20 * int(t)) % 250, np.uint8)  # level changes each second
    return write_film(path, np.zeros(int(seconds * 8000), np.float32), 8000, frame_at=frame_at, fps=fps)


def test_probe_reads_size_rate_and_duration(tmp_path):
    info = probe_video(_level_film(tmp_path / "f.mp4"))
    assert (info.width, info.height, info.codec) == (128, 72, "h264")
    assert info.fps == pytest.approx(4.0)
    assert info.duration_s == pytest.approx(6.0, abs=0.3)


@pytest.mark.parametrize("ext", ["mp4", "mkv"])
def test_samples_the_frame_on_screen_at_each_time(tmp_path, ext):
    path = _level_film(tmp_path / f"f.{ext}")
    out = list(sample_frames(path, np.arange(6) + 0.5, width=64))
    assert [t for t, _, _ in out] == list(np.arange(6) + 0.5)
    np.testing.assert_allclose([ft for _, ft, _ in out], np.arange(6) + 0.5)
    assert out[0][2].shape == (36, 64, 3) and out[0][2].dtype == np.uint8
    levels = [img.mean() for _, _, img in out]
    np.testing.assert_allclose(levels, 10 + 20 * np.arange(6), atol=3)


def test_variable_frame_rate_uses_timestamps(tmp_path):
    times = [0.0, 0.3, 1.7, 1.8, 3.9]
    frames = [(t, np.full((48, 64, 3), 40 * i + 10, np.uint8)) for i, t in enumerate(times)]
    path = write_video(tmp_path / "vfr.mkv", frames, (64, 48))
    out = list(sample_frames(path, [0.5, 1.5, 2.5, 3.5]))
    assert [ft for _, ft, _ in out] == pytest.approx([0.3, 0.3, 1.8, 1.8])


def test_odd_resolution_is_scaled_keeping_aspect(tmp_path):
    frames = [(i * 0.5, np.full((55, 99, 3), 200, np.uint8)) for i in range(6)]
    path = write_video(tmp_path / "odd.mkv", frames, (99, 55), codec="ffv1", pix_fmt="yuv444p")
    (_, _, img), = sample_frames(path, [1.2], width=40)
    assert img.shape == (22, 40, 3)
    np.testing.assert_allclose(img.mean(), 200, atol=2)
    (_, _, small), = sample_frames(path, [1.2], width=1000)  # never enlarged
    assert small.shape == (55, 99, 3)


def _bframe_film(path, x264_params, seconds=10, fps=24):
    """H.264 as films are distributed (B-frames, a keyframe every second or so and at cuts); every frame differs."""
    rng = np.random.default_rng(0)
    scene = rng.integers(0, 256, (64, 96, 3), dtype=np.uint8)
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=fps)
        s.width, s.height, s.pix_fmt = 96, 64, "yuv420p"
        s.options = {"preset": "fast", "x264-params": x264_params}
        for i in range(seconds * fps):
            if i % 31 == 0:  # a cut
                scene = rng.integers(0, 256, (64, 96, 3), dtype=np.uint8)
            img = np.roll(scene, 2 * i, axis=1)
            img[:8] = (7 * i) % 256  # a band whose level changes every frame
            f = av.VideoFrame.from_ndarray(img, format="rgb24")
            f.pts, f.time_base = i, Fraction(1, fps)
            for p in s.encode(f):
                c.mux(p)
        for p in s.encode(None):
            c.mux(p)
    return path


def _decode_counts(text):
    m = re.search(r"(\d+) video packets decoded, (\d+) skipped before keyframes, (\d+) drains", text)
    return tuple(int(g) for g in m.groups())


@pytest.mark.parametrize("ext, params", [("mp4", "keyint=18:bframes=3"),  # closed GOPs, B-pyramid
                                         ("mkv", "keyint=30:open-gop=1:bframes=3")])  # open GOPs, guessed dts
def test_skipping_to_keyframes_samples_the_frames_full_decoding_does(tmp_path, caplog, ext, params):
    path = _bframe_film(tmp_path / f"b.{ext}", params)
    with av.open(str(path)) as c:  # times on an open GOP's leading pictures (shown before their keyframe)
        packets = [(float(p.pts * p.time_base), p.is_keyframe) for p in c.demux(c.streams.video[0]) if p.size]
    leading = [(max(lead) + t) / 2 for i, (t, key) in enumerate(packets)
               if key and (lead := [u for u, _ in packets[i + 1:i + 17] if u < t])]
    assert bool(leading) == ("open-gop" in params)
    times = np.sort(np.r_[np.arange(10) + 0.5, np.random.default_rng(1).uniform(0, 10, 12), leading])
    for skip_nonref in (True, False):
        full = list(sample_frames(path, times, skip_nonref=skip_nonref, skip_to_keyframes=False))
        caplog.clear()
        with caplog.at_level(logging.DEBUG, logger="scorelens.io._video"):
            fast = list(sample_frames(path, times, skip_nonref=skip_nonref))
        decoded, skipped, drains = _decode_counts(caplog.text)
        assert skipped > 0 and drains > 0  # both ways of skipping were taken
        assert [ft for _, ft, _ in fast] == [ft for _, ft, _ in full]
        for (_, _, a), (_, _, b) in zip(fast, full, strict=True):
            np.testing.assert_array_equal(a, b)


def test_intra_only_film_decodes_about_one_frame_per_time(tmp_path, caplog):
    frames = [(i * 0.1, np.full((48, 64, 3), (5 * i) % 256, np.uint8)) for i in range(100)]
    path = write_video(tmp_path / "mj.mkv", frames, (64, 48))  # MJPEG: every frame a keyframe
    with caplog.at_level(logging.DEBUG, logger="scorelens.io._video"):
        out = list(sample_frames(path, np.arange(10) + 0.55))
    assert [ft for _, ft, _ in out] == pytest.approx(np.arange(10) + 0.5)
    decoded, _, _ = _decode_counts(caplog.text)
    assert decoded <= 2 * len(out)  # not the 100 frames


def test_far_apart_times_seek(tmp_path):
    path = _level_film(tmp_path / "long.mkv", seconds=60.0, fps=1.0)
    out = list(sample_frames(path, [0.5, 45.5, 55.5]))
    assert [ft for _, ft, _ in out] == pytest.approx([0.0, 45.0, 55.0])


def test_unreadable_packet_is_skipped_with_a_warning(tmp_path):
    frames = [(i * 0.5, np.full((48, 64, 3), 20 * i, np.uint8)) for i in range(10)]
    path = write_video(tmp_path / "mj.mkv", frames, (64, 48))
    data = bytearray(path.read_bytes())
    starts = [i for i in range(len(data) - 1) if data[i] == 0xFF and data[i + 1] == 0xD8]  # JPEG SOI
    assert len(starts) == 10
    data[starts[3]:starts[4] - 40] = bytes(starts[4] - 40 - starts[3])  # wipe frame 3 (t=1.5 s)
    path.write_bytes(bytes(data))
    with pytest.warns(VideoWarning, match="skipped 1 unreadable video packet"):
        out = list(sample_frames(path, [0.5, 1.7, 2.5]))
    assert [ft for _, ft, _ in out] == pytest.approx([0.5, 1.0, 2.5])


def test_truncated_film_is_an_error(tmp_path):
    path = _level_film(tmp_path / "t.mkv", seconds=20.0, fps=2.0)
    data = path.read_bytes()
    cut = tmp_path / "cut.mkv"
    cut.write_bytes(data[: len(data) // 3])
    with pytest.raises(MediaError, match="cut.mkv: the video stream stops at t=.*truncated"):
        list(sample_frames(cut, np.arange(20) + 0.5))


def test_no_video_stream_empty_and_non_media_files(tmp_path):
    audio = write_audio(tmp_path / "a.wav", np.zeros(8000), 8000)
    with pytest.raises(MediaError, match="a.wav: has no video stream"):
        probe_video(audio)
    empty = tmp_path / "e.mp4"
    empty.write_bytes(b"")
    with pytest.raises(MediaError, match="empty"):
        list(sample_frames(empty, [0.5]))
    text = tmp_path / "t.mp4"
    text.write_text("not a film at all " * 100)
    with pytest.raises(MediaError, match="not a media file"):
        list(sample_frames(text, [0.5]))
    with pytest.raises(MediaError, match="no such file"):
        probe_video(tmp_path / "missing.mkv")
