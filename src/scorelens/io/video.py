"""Video decoding through PyAV (FFmpeg): sampling a film's picture at given times, small and fast.

Only what sampling needs is decoded and converted: the decoder may drop non-reference
frames (``skip_nonref``: frames no other frame depends on, typically B-frames), spans far
from any requested time are skipped by seeking, and only the frames that are sampled are
scaled down (area averaging) and converted to RGB. The frame sampled for time ``t`` is the
one on screen at ``t``: the last decoded frame whose presentation time is ``<= t`` (so a
variable frame rate is handled by the timestamps, not by counting frames).

Damaged data: a packet the decoder rejects is skipped and counted (a warning names the
file and how many); times before the first readable frame take that frame. A file with
no readable frame at all, whose video stops more than 5 s before the duration its
container declares (truncated), with no video stream, or that is not media raises
:class:`~scorelens.exceptions.MediaError`.
"""

from __future__ import annotations

import logging
import math
import os
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from scorelens.exceptions import MediaError, ParameterError
from scorelens.io.container import declared_duration, open_media

__all__ = ["VideoInfo", "probe_video", "sample_frames", "VideoWarning"]

log = logging.getLogger(__name__)

# Seek instead of decoding through a gap between requested times longer than this (s):
# decoding forward is faster than a seek (which restarts at a keyframe) for short gaps.
_SEEK_GAP_S = 20.0
# A video stream may end this much before the container's declared duration (audio a little
# longer than the picture) before the file counts as truncated.
_END_TOLERANCE_S = 5.0


class VideoWarning(UserWarning):
    """Recoverable damage in a video stream (unreadable packets skipped)."""


@dataclass(frozen=True)
class VideoInfo:
    """What a file's first video stream is, as read from its container.

    Attributes
    ----------
    path : Path
    duration_s : float
        Declared duration of the video stream (or the container); NaN when unknown.
    width, height : int
        Coded picture size (pixels).
    fps : float
        Average frame rate; NaN when unknown (a variable-rate stream may declare none).
    codec : str
    container : str
    n_frames : int
        Declared frame count (0 when the container does not say).
    """

    path: Path
    duration_s: float
    width: int
    height: int
    fps: float
    codec: str
    container: str
    n_frames: int


def _video_stream(container, path: Path):
    streams = [s for s in container.streams.video
               if not (s.disposition & av.stream.Disposition.attached_pic)] if container.streams.video else []
    if not streams:
        kinds = ", ".join(sorted({s.type for s in container.streams})) or "no streams"
        extra = " (only cover art)" if container.streams.video else ""
        raise MediaError(f"{path}: has no video stream{extra} (it holds {kinds})")
    return streams[0]


def probe_video(path: str | os.PathLike) -> VideoInfo:
    """Read a file's video properties without decoding.

    Raises
    ------
    MediaError
        Missing, empty or non-media file; no video stream.
    """
    path = Path(path)
    with open_media(path) as container:
        stream = _video_stream(container, path)
        rate = stream.average_rate or stream.guessed_rate
        return VideoInfo(path=path, duration_s=declared_duration(container, stream),
                         width=int(stream.codec_context.width or 0), height=int(stream.codec_context.height or 0),
                         fps=float(rate) if rate else float("nan"), codec=stream.codec_context.name,
                         container=container.format.name, n_frames=int(stream.frames or 0))


def _frame_time(frame, stream) -> float | None:
    pts = frame.pts if frame.pts is not None else getattr(frame, "dts", None)
    if pts is None:
        return None
    tb = frame.time_base or stream.time_base
    return float(pts * tb)


def _to_rgb(frame, width: int) -> np.ndarray:
    w = max(1, min(width, frame.width))
    h = max(1, int(round(frame.height * w / frame.width)))
    kwargs = {}
    if frame.color_range == 2:  # full-range YUV tagged as such (JPEG range)
        kwargs["src_color_range"] = "JPEG"
    small = frame.reformat(width=w, height=h, format="rgb24", interpolation="AREA", **kwargs)
    return small.to_ndarray()


def sample_frames(path: str | os.PathLike, times: Iterable[float], *, width: int = 160,
                  skip_nonref: bool = True,
                  skip_loop_filter: bool = False) -> Iterator[tuple[float, float, np.ndarray]]:
    """The picture on screen at each of the given times, scaled down, as RGB.

    Parameters
    ----------
    path : str or path-like
        A film (any container and codec FFmpeg reads).
    times : iterable of float
        Increasing times (s). Times past the end of the stream yield nothing.
    width : int
        Output width (pixels); the height keeps the picture's aspect ratio. Pictures
        narrower than ``width`` are not enlarged.
    skip_nonref : bool
        Let the decoder drop non-reference frames (faster; the sampled frame may be a
        frame or two from the exact time).
    skip_loop_filter : bool
        Let the decoder skip its in-loop deblocking filter (faster; block edges left in
        the pictures, which scaling down averages away).

    Yields
    ------
    t : float
        The requested time.
    frame_t : float
        Presentation time of the frame sampled.
    rgb : np.ndarray [shape=(height, width, 3), dtype=uint8]

    Raises
    ------
    MediaError
        Not media, no video stream, or not a single readable frame.
    """
    path = Path(path)
    if width < 1:
        raise ParameterError(f"width={width} must be >= 1")
    targets = iter(times)
    with open_media(path) as container:
        stream = _video_stream(container, path)
        ctx = stream.codec_context
        if skip_nonref:
            ctx.skip_frame = "NONREF"
        if skip_loop_filter:
            ctx.options = {**ctx.options, "skip_loop_filter": "all"}
        end = declared_duration(container, stream)
        start_offset = float(stream.start_time * stream.time_base) if stream.start_time is not None else 0.0
        target = next(targets, None)
        prev = prev_t = None
        last_good_t = 0.0
        bad_packets = good_frames = 0
        previous_target = -math.inf

        def next_target(current: float) -> float | None:
            nonlocal previous_target
            previous_target = current
            value = next(targets, None)
            if value is not None and value < current:
                raise ParameterError(f"times must increase (t={value:.3f}s after t={current:.3f}s)")
            return value

        sought: list[float] = []

        def seek_to(t: float) -> None:
            # At most one seek per requested time: a seek lands on the keyframe before ``t``,
            # which may be far before it (long GOPs); from there decoding goes forward.
            sought.append(t)
            container.seek(int((t + start_offset) / stream.time_base), stream=stream, backward=True, any_frame=False)

        if target is None:
            return
        if target > _SEEK_GAP_S:
            seek_to(target)
        demux = container.demux(stream)
        while target is not None:
            try:
                packet = next(demux)
            except StopIteration:
                break
            except av.error.FFmpegError as exc:
                raise MediaError(f"{path}: cannot read the container after t={last_good_t:.3f}s "
                                 f"({exc.strerror or exc})") from exc
            try:
                frames = packet.decode()
            except av.error.FFmpegError:
                bad_packets += 1
                continue
            for frame in frames:
                ft = _frame_time(frame, stream)
                if ft is None:
                    continue
                ft -= start_offset
                good_frames += 1
                last_good_t = ft
                while target is not None and ft > target:
                    src, src_t = (prev, prev_t) if prev is not None else (frame, ft)
                    yield target, src_t, _to_rgb(src, width)
                    target = next_target(target)
                prev, prev_t = frame, ft
                if target is None:
                    break
                if target - ft > _SEEK_GAP_S and target not in sought:
                    seek_to(target)
                    demux = container.demux(stream)
                    prev = prev_t = None
                    break
        if prev is not None:
            # The last frame stays on screen to the end of the stream, unless the stream stops
            # well before the end the container declares (a truncated or damaged file): holding
            # the last frame over the missing part would describe pictures that are not there.
            frame_s = 1.0 / float(stream.average_rate) if stream.average_rate else 0.5
            if np.isfinite(end) and target is not None and target < end and prev_t < end - max(_END_TOLERANCE_S,
                                                                                               2 * frame_s):
                raise MediaError(f"{path}: the video stream stops at t={prev_t:.3f}s but the container declares "
                                 f"{end:.3f}s (truncated or damaged file)")
            horizon = end if np.isfinite(end) else prev_t + frame_s
            while target is not None and target < horizon:
                yield target, prev_t, _to_rgb(prev, width)
                target = next_target(target)
        if good_frames == 0:
            raise MediaError(f"{path}: no readable video frame ({bad_packets} packet(s) rejected by the "
                             f"{ctx.name} decoder)")
        if bad_packets:
            warnings.warn(f"{path}: skipped {bad_packets} unreadable video packet(s); the nearest earlier "
                          "readable frames were sampled instead", VideoWarning, stacklevel=2)
