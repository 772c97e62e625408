"""Decoding real containers and codecs through PyAV, and the errors bad files get."""

import numpy as np
import pytest

from scorelens.demo._media import write_audio, write_film
from scorelens.exceptions import MediaError
from scorelens.io._audio import file_digest, iter_audio_blocks, load_audio, probe_audio

SR = 48000


def _tone(seconds=3.0, sr=SR, freq=440.0):
    t = np.arange(int(seconds * sr)) / sr
    return (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


@pytest.mark.parametrize("ext,codec,channels", [
    ("mp4", "aac", 6), ("mkv", "ac3", 6), ("mov", "pcm_s16le", 2), ("webm", "libopus", 2),
    ("avi", "libmp3lame", 2), ("mkv", "flac", 1),
])
def test_films_in_many_containers_decode_to_mono_at_the_asked_rate(tmp_path, ext, codec, channels):
    audio = np.repeat(_tone()[:, None], channels, axis=1)
    path = write_film(tmp_path / f"film.{ext}", audio, SR, audio_codec=codec,
                      video_codec="libvpx" if ext == "webm" else "libx264")
    info = probe_audio(path)
    assert info.has_video and info.channels == channels and info.sample_rate == SR
    y = load_audio(path, sample_rate=11025)
    assert y.dtype == np.float32 and y.ndim == 1
    assert abs(y.size / 11025 - 3.0) < 0.1
    # The tone survives: its spectrum peaks at 440 Hz.
    spectrum = np.abs(np.fft.rfft(y[2000:2000 + 8192]))
    assert abs(np.argmax(spectrum) * 11025 / 8192 - 440) < 3


@pytest.mark.parametrize("name", ["track.wav", "film.mkv"])
def test_5_1_downmix_includes_the_centre_and_surrounds_and_drops_the_lfe(tmp_path, name):
    # A different sine in each channel (FFmpeg's 5.1 order: L, R, C, LFE, Ls, Rs), so each
    # channel's share of the mono mix can be read off: the documented downmix is
    # C + (L + R) / sqrt(2) + (Ls + Rs) / 2, the LFE dropped.
    t = np.arange(2 * SR) / SR
    freqs = (330.0, 520.0, 710.0, 60.0, 1130.0, 1370.0)
    amps = (0.10, 0.12, 0.15, 0.20, 0.08, 0.06)
    channels = np.stack([a * np.sin(2 * np.pi * f * t) for f, a in zip(freqs, amps)], axis=1).astype(np.float32)
    if name.endswith(".wav"):
        path = write_audio(tmp_path / name, channels, SR)
    else:
        path = write_film(tmp_path / name, channels, SR, audio_codec="flac")
    assert probe_audio(path).channels == 6
    y = load_audio(path, sample_rate=SR)
    weights = np.array([np.sqrt(0.5), np.sqrt(0.5), 1.0, 0.0, 0.5, 0.5])
    expected = channels.astype(np.float64) @ weights
    assert y.size == expected.size
    # 16-bit PCM/FLAC: quantisation of six channels leaves ~5e-5; a missing centre would leave 0.15.
    np.testing.assert_allclose(y, expected, atol=2e-4)
    # The LFE's 60 Hz is absent from the mix; every other channel is there at its weight.
    spectrum = np.abs(np.fft.rfft(y * np.hanning(y.size))) * 4 / y.size  # a sine of amplitude A peaks at A
    at = {f: spectrum[int(round(f * y.size / SR))] for f in freqs}
    assert at[60.0] < 1e-3
    for f, a, w in zip(freqs, amps, weights):
        if w:
            assert at[f] == pytest.approx(a * w, rel=0.01), f


def _ffmpeg_mono(path):
    """FFmpeg's own downmix of a file's audio to mono float (its aformat filter), at the native rate."""
    import av

    out = []
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        graph = av.filter.Graph()
        nodes = [graph.add_abuffer(template=stream), graph.add("aformat", "sample_fmts=flt:channel_layouts=mono"),
                 graph.add("abuffersink")]
        for a, b in zip(nodes, nodes[1:]):
            a.link_to(b)
        graph.configure()
        for frame in [*container.decode(stream), None]:
            graph.push(frame)
            while True:
                try:
                    out.append(graph.pull().to_ndarray().ravel())
                except (av.error.BlockingIOError, av.error.EOFError):
                    break
    return np.concatenate(out)


@pytest.mark.parametrize("name,codec,layout", [("film.mp4", "aac", "5.1"), ("film.mkv", "ac3", "5.1(side)")])
def test_5_1_films_downmix_to_ffmpegs_own_samples(tmp_path, name, codec, layout):
    # Planar-float 5.1 (what AAC and AC-3 decode to) is mixed in NumPy, not by FFmpeg's filter:
    # the samples must be FFmpeg's, bit for bit, and the mix the documented one.
    import av

    rng = np.random.default_rng(7)
    t = np.arange(3 * SR) / SR
    channels = np.stack([0.1 * np.sin(2 * np.pi * f * t) for f in (330.0, 520.0, 710.0, 60.0, 1130.0, 1370.0)],
                        axis=1) + 0.02 * rng.standard_normal((t.size, 6))
    path = write_film(tmp_path / name, channels.astype(np.float32), SR, audio_codec=codec)
    with av.open(str(path)) as container:
        ctx = container.streams.audio[0].codec_context
        assert (ctx.layout.name, ctx.format.name) == (layout, "fltp")
    y = load_audio(path, sample_rate=SR)
    expected = _ffmpeg_mono(path)
    assert y.size == expected.size
    assert np.array_equal(y, expected)
    assert np.array_equal(np.signbit(y), np.signbit(expected))
    # The same samples at the stamper's rate, in blocks.
    blocks = list(iter_audio_blocks(path, sample_rate=11025, block_s=0.7))
    assert np.array_equal(np.concatenate(blocks), load_audio(path, sample_rate=11025))


@pytest.mark.parametrize("ext,sr", [(e, r) for e in ("wav", "flac", "mp3", "m4a") for r in (22050, 44100, 48000)]
                         + [("ogg", 24000), ("ogg", 48000)])  # Opus encodes 8/12/16/24/48 kHz only
def test_tracks_at_odd_rates_resample_exactly(tmp_path, ext, sr):
    path = write_audio(tmp_path / f"t.{ext}", _tone(2.0, sr), sr)
    y = load_audio(path, sample_rate=16000)
    # The tone keeps its pitch to a few thousandths of a hertz: a rate off by 0.1 %
    # (44.1 kHz taken for 44 kHz would be 0.23 %) would move it by 0.4 Hz or more.
    assert _peak_hz(y, 16000) == pytest.approx(440.0, abs=0.01)
    if ext in ("wav", "flac"):
        # Lossless: exactly 2 s of samples, and the ideal 440 Hz tone sampled at 16 kHz
        # (16-bit quantisation and the resampler's ripple leave ~5e-5; a sample of shift
        # would leave 0.05).
        assert y.size == 32000
        np.testing.assert_allclose(y[800:-800], _tone(2.0, 16000)[800:-800], atol=2e-4)
    else:
        # Lossy codecs: the encoder's priming may stay in (AAC in MP4 keeps ~20-45 ms
        # here; MP3 and Opus carry gapless metadata and come out at 32000), and the level
        # survives within a few per cent.
        assert abs(y.size - 32000) <= 800
        rms = np.sqrt(np.mean(y[2000:-2000] ** 2))
        assert rms == pytest.approx(0.3 / np.sqrt(2), rel=0.08)


def _peak_hz(y, sr):
    """Frequency of a pure tone: the Hann-windowed spectrum's peak, refined by a parabola on its log."""
    seg = y[len(y) // 8: -len(y) // 8]
    n = 1 << 20
    spec = np.abs(np.fft.rfft(seg * np.hanning(len(seg)), n=n))
    k = int(np.argmax(spec))
    a, b, c = np.log(spec[k - 1:k + 2])
    return (k + 0.5 * (a - c) / (a - 2 * b + c)) * sr / n


def test_blocks_are_gapless_and_span_decoding_seeks(tmp_path):
    x = _tone(10.0, 44100)
    path = write_audio(tmp_path / "t.flac", x, 44100)
    blocks = list(iter_audio_blocks(path, sample_rate=11025, block_s=1.5))
    assert all(b.size == round(1.5 * 11025) for b in blocks[:-1])
    whole = np.concatenate(blocks)
    assert whole.size == 110250
    span = load_audio(path, sample_rate=11025, start_s=4.0, end_s=6.5)
    assert span.size == int(2.5 * 11025)
    np.testing.assert_allclose(span, whole[44100:44100 + span.size], atol=2e-3)


def test_missing_empty_and_non_media_files(tmp_path):
    with pytest.raises(MediaError, match=r"nope\.mp4: no such file"):
        probe_audio(tmp_path / "nope.mp4")
    empty = tmp_path / "empty.mp3"
    empty.write_bytes(b"")
    with pytest.raises(MediaError, match=r"empty\.mp3: file is empty \(0 bytes\)"):
        load_audio(empty, sample_rate=11025)
    text = tmp_path / "notes.mp4"
    text.write_text("this is a text file, not a film\n" * 50)
    with pytest.raises(MediaError, match=r"notes\.mp4: not a media file FFmpeg can read"):
        probe_audio(text)
    with pytest.raises(MediaError, match="is a folder"):
        probe_audio(tmp_path)


def test_film_without_audio_stream(tmp_path):
    import av
    path = tmp_path / "silent_movie.mp4"
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=2)
        s.width, s.height, s.pix_fmt = 64, 48, "yuv420p"
        for i in range(4):
            f = av.VideoFrame.from_ndarray(np.zeros((48, 64, 3), np.uint8), format="rgb24")
            f.pts = i
            for p in s.encode(f):
                c.mux(p)
        for p in s.encode(None):
            c.mux(p)
    with pytest.raises(MediaError, match=r"silent_movie\.mp4: has no audio stream \(it holds video\)"):
        load_audio(path, sample_rate=11025)


def test_truncated_file_is_reported(tmp_path):
    path = write_film(tmp_path / "cut.mkv", np.repeat(_tone(20.0)[:, None], 2, axis=1), SR, audio_codec="flac")
    data = path.read_bytes()
    cut = tmp_path / "cut_half.mkv"
    cut.write_bytes(data[: len(data) // 3])
    with pytest.raises(MediaError, match=r"cut_half\.mkv: truncated: decoded"):
        load_audio(cut, sample_rate=11025)


@pytest.mark.parametrize("name,start_s", [("bad.mp4", 0.0), ("bad.mp4", 2.0), ("odd name: 'x', [1].mp4", 0.0)])
def test_corrupt_audio_is_reported_with_the_time_it_was_found(tmp_path, name, start_s):
    t = np.arange(20 * SR) / SR
    audio = np.stack([0.1 * np.sin(2 * np.pi * f * t) for f in (330, 520, 710, 60, 1130, 1370)], axis=1)
    path = write_film(tmp_path / "good.mp4", audio.astype(np.float32), SR, audio_codec="aac")
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle:middle + 3000] = np.random.default_rng(0).integers(0, 256, 3000, dtype=np.uint8).tobytes()
    bad = tmp_path / name
    bad.write_bytes(bytes(data))
    with pytest.raises(MediaError, match=r"corrupt audio data at t=(\d+\.\d+)s") as err:
        load_audio(bad, sample_rate=11025, start_s=start_s)
    assert str(bad) in str(err.value)
    assert 3.0 < float(err.value.args[0].split("t=")[1].split("s")[0]) < 17.0
    # The intact file, whatever its name, decodes whole.
    good = tmp_path / f"good {name}"
    good.write_bytes(path.read_bytes())
    assert abs(load_audio(good, sample_rate=11025).size - 20 * 11025) < 0.05 * 11025


@pytest.mark.parametrize("channels", [1, 2])
def test_truncated_wav_is_reported_not_read_as_a_shorter_track(tmp_path, channels):
    from scorelens.config import StamperConfig
    from scorelens.stamp._fingerprint import fingerprint_file

    whole = write_audio(tmp_path / "whole.wav", np.repeat(_tone(10.0)[:, None], channels, axis=1), SR)
    data = whole.read_bytes()
    # The RIFF header still declares 10 s; FFmpeg alone reads the first 6 s as a 6 s track.
    cut = tmp_path / "cut.wav"
    cut.write_bytes(data[: int(len(data) * 0.6)])
    assert load_audio(whole, sample_rate=16000).size == 160000
    with pytest.raises(MediaError, match=r"cut\.wav: truncated: its header declares 10\.000s of audio "
                                         r"\(\d+ bytes\) but the file holds 6\.000s"):
        load_audio(cut, sample_rate=16000)
    with pytest.raises(MediaError, match=r"cut\.wav: truncated"):
        list(iter_audio_blocks(cut, sample_rate=11025))
    # Indexing it as a soundtrack track fails, naming the file.
    with pytest.raises(MediaError, match=r"cut\.wav: truncated"):
        fingerprint_file(cut, StamperConfig(), query=False)
    # A span inside what the file holds still decodes (features of a cue read spans).
    assert load_audio(cut, sample_rate=16000, start_s=1.0, end_s=3.0).size == 32000


def test_file_digest_tracks_content(tmp_path):
    a = write_audio(tmp_path / "a.wav", _tone(1.0), SR)
    b = tmp_path / "b.wav"
    b.write_bytes(a.read_bytes())
    assert file_digest(a) == file_digest(b)
    b.write_bytes(a.read_bytes()[:-10] + b"\x01" * 10)
    assert file_digest(a) != file_digest(b)
