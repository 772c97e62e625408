"""Writing real media files (audio tracks and films with a video stream) through PyAV.

Used by the demo, the tests and the benchmarks to build films with known content in
real containers and codecs (MP4/AAC + H.264, MKV/AC-3/FLAC/Opus, MP3, WAV, …).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from scorelens.exceptions import ParameterError

__all__ = ["write_audio", "write_film", "AUDIO_CODEC_BY_EXTENSION"]

AUDIO_CODEC_BY_EXTENSION = {
    ".wav": "pcm_s16le", ".flac": "flac", ".mp3": "libmp3lame", ".m4a": "aac", ".aac": "aac",
    ".ogg": "libopus", ".opus": "libopus", ".mka": "flac",
}
_LAYOUTS = {1: "mono", 2: "stereo", 6: "5.1"}
# Sample formats each encoder accepts (planar float for most; s16 for PCM/FLAC).
_ENCODER_FORMAT = {"pcm_s16le": "s16", "flac": "s16", "libmp3lame": "fltp", "aac": "fltp", "libopus": "flt",
                   "ac3": "fltp"}


def _as_channels(audio: np.ndarray) -> np.ndarray:
    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim == 1:
        audio = audio[:, None]
    if audio.ndim != 2 or audio.shape[1] not in _LAYOUTS:
        raise ParameterError(f"audio shape {audio.shape} must be (n,) or (n, channels) with channels in 1, 2, 6")
    return np.clip(audio, -1.0, 1.0)


class _AudioEncoder:
    """Feeds consecutive pieces of audio to an encoder stream, keeping the sample clock."""

    def __init__(self, container, stream, sr: int, channels: int):
        self.container, self.stream, self.sr = container, stream, sr
        self.fmt = _ENCODER_FORMAT.get(stream.codec_context.name, "fltp")
        self.layout = _LAYOUTS[channels]
        self.frame_size = stream.codec_context.frame_size or 1024
        self.pts = 0
        self.carry = np.zeros((0, channels), dtype=np.float32)

    def _frame(self, chunk: np.ndarray):
        if self.fmt == "s16":
            frame = av.AudioFrame.from_ndarray((chunk * 32767).astype(np.int16).reshape(1, -1), format="s16",
                                               layout=self.layout)
        elif self.fmt == "flt":
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(chunk.reshape(1, -1)), format="flt",
                                               layout=self.layout)
        else:
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(chunk.T), format="fltp", layout=self.layout)
        frame.sample_rate = self.sr
        frame.pts = self.pts
        frame.time_base = Fraction(1, self.sr)
        self.pts += chunk.shape[0]
        return frame

    def feed(self, audio: np.ndarray) -> None:
        audio = np.concatenate([self.carry, audio]) if self.carry.size else audio
        n_full = (audio.shape[0] // self.frame_size) * self.frame_size
        for start in range(0, n_full, self.frame_size):
            for packet in self.stream.encode(self._frame(audio[start:start + self.frame_size])):
                self.container.mux(packet)
        self.carry = audio[n_full:]

    def close(self) -> None:
        if self.carry.shape[0]:
            for packet in self.stream.encode(self._frame(self.carry)):
                self.container.mux(packet)
        for packet in self.stream.encode(None):
            self.container.mux(packet)


def _add_audio_stream(container, codec: str, sr: int, channels: int, bitrate: int | None):
    stream = container.add_stream(codec, rate=sr, layout=_LAYOUTS[channels])
    stream.codec_context.format = _ENCODER_FORMAT.get(codec, "fltp")
    if bitrate:
        stream.codec_context.bit_rate = bitrate
    return stream


def write_audio(path: str | os.PathLike, audio: np.ndarray, sr: int, *, codec: str | None = None,
                bitrate: int | None = None) -> Path:
    """Encode ``audio`` to a file whose codec follows its extension.

    Parameters
    ----------
    path : str or path-like
        ``.wav``, ``.flac``, ``.mp3``, ``.m4a``, ``.ogg`` …
    audio : np.ndarray [shape=(n,) or (n, channels)]
        Samples in [-1, 1]; 1, 2 or 6 channels.
    sr : int
        Sample rate (Hz).
    codec : str, optional
        FFmpeg encoder; default from the extension.
    bitrate : int, optional
        Bits per second for lossy codecs.

    Returns
    -------
    Path
    """
    path = Path(path)
    audio = _as_channels(audio)
    codec = codec or AUDIO_CODEC_BY_EXTENSION.get(path.suffix.lower())
    if codec is None:
        raise ParameterError(f"{path}: no default codec for extension {path.suffix!r}; pass codec=")
    fmt = {".m4a": "ipod", ".aac": "adts", ".mka": "matroska", ".opus": "ogg"}.get(path.suffix.lower())
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), mode="w", format=fmt) as container:
        stream = _add_audio_stream(container, codec, sr, audio.shape[1], bitrate)
        encoder = _AudioEncoder(container, stream, sr, audio.shape[1])
        encoder.feed(audio)
        encoder.close()
    return path


def write_film(path: str | os.PathLike, audio: np.ndarray | Iterable[np.ndarray], sr: int, *,
               frame_at: Callable[[float], np.ndarray] | None = None, fps: float = 2.0,
               size: tuple[int, int] = (128, 72), audio_codec: str = "aac", video_codec: str = "libx264",
               audio_bitrate: int | None = 128_000) -> Path:
    """Write a film: a video stream plus one audio stream, in the container the extension names.

    Parameters
    ----------
    path : str or path-like
        ``.mp4``, ``.mkv``, ``.mov``, ``.webm``, ``.avi``.
    audio : np.ndarray [shape=(n,) or (n, channels)], or an iterable of such chunks
        The film's sound (1, 2 or 6 channels). Chunks let a long film be written without
        holding its sound in memory.
    sr : int
        Audio sample rate (Hz).
    frame_at : callable, optional
        ``frame_at(t)`` returns an RGB uint8 image [shape=(height, width, 3)] for time ``t``
        seconds; default a slowly changing grey.
    fps : float
        Video frame rate (low rates keep test files small).
    size : (width, height)
    audio_codec, video_codec : str
        FFmpeg encoders (``aac``, ``ac3``, ``libmp3lame``, ``flac``, ``libopus``, ``pcm_s16le``;
        ``libx264``, ``mpeg4``, ``libvpx``, ``mjpeg``).
    audio_bitrate : int, optional

    Returns
    -------
    Path
    """
    path = Path(path)
    chunks = [audio] if isinstance(audio, np.ndarray) else audio
    width, height = size
    if frame_at is None:
        def frame_at(t: float) -> np.ndarray:
            level = int(96 + 64 * np.sin(2 * np.pi * t / 30.0))
            return np.full((height, width, 3), level, dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    rate = Fraction(fps).limit_denominator(1000)
    with av.open(str(path), mode="w") as container:
        vstream = container.add_stream(video_codec, rate=rate)
        vstream.width, vstream.height = width, height
        vstream.pix_fmt = "yuv420p"
        if video_codec == "libx264":
            vstream.options = {"preset": "ultrafast", "tune": "stillimage"}
        astream = encoder = None
        n_video = 0  # video frames written so far
        n_audio = 0  # audio samples written so far
        for chunk in chunks:
            chunk = _as_channels(chunk)
            if encoder is None:
                astream = _add_audio_stream(container, audio_codec, sr, chunk.shape[1], audio_bitrate)
                encoder = _AudioEncoder(container, astream, sr, chunk.shape[1])
            # Interleave: the video of each second, then that second's audio, as real muxers do.
            for start in range(0, chunk.shape[0], sr):
                piece = chunk[start:start + sr]
                end_t = (n_audio + piece.shape[0]) / sr
                while n_video < int(np.ceil(end_t * float(rate) - 1e-9)):
                    frame = av.VideoFrame.from_ndarray(frame_at(n_video / float(rate)), format="rgb24")
                    frame.pts = n_video
                    frame.time_base = 1 / rate
                    for packet in vstream.encode(frame):
                        container.mux(packet)
                    n_video += 1
                encoder.feed(piece)
                n_audio += piece.shape[0]
        if encoder is None:
            raise ParameterError(f"{path}: no audio given")
        for packet in vstream.encode(None):
            container.mux(packet)
        encoder.close()
    return path
