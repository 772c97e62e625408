"""Sampling frames from real encoded films: times, sizes, variable frame rate, damage, bad files."""

from fractions import Fraction

import av
import numpy as np
import pytest

from scorelens.demo.media import write_audio, write_film
from scorelens.exceptions import MediaError
from scorelens.io.video import VideoWarning, probe_video, sample_frames


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
