"""Video decoding through PyAV (FFmpeg): sampling a film's picture at given times, small and fast.

Only what sampling needs is decoded and converted: the decoder may drop non-reference
frames (``skip_nonref``: frames no other frame depends on, typically B-frames), spans far
from any requested time are skipped by seeking, the packets between the last frame a
requested time needs and the next keyframe are not decoded (``skip_to_keyframes``), and only
the frames that are sampled are scaled down (area averaging) and converted to RGB. The frame
sampled for time ``t`` is the one on screen at ``t``: the last decoded frame whose
presentation time is ``<= t`` (so a variable frame rate is handled by the timestamps, not by
counting frames).

Damaged data: a packet the decoder rejects is skipped and counted (a warning names the
file and how many), and an earlier readable frame is sampled instead (the nearest one,
unless the rejected packet is a keyframe the decoding had skipped ahead to); times before
the first readable frame take that frame. A file with
no readable frame at all, whose video stops more than 5 s before the duration its
container declares (truncated), with no video stream, or that is not media raises
:class:`~scorelens.exceptions.MediaError`.
"""

from __future__ import annotations

import logging
import os
import warnings
from collections import deque
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
# Reading packets ahead (to find the next keyframe) stops beyond this many bytes held (seconds
# of even a Blu-ray's video); decoding then goes through, as without reading ahead.
_READ_AHEAD_BYTES = 32 << 20
# Frames that may follow a keyframe in decode order yet be shown before it (an open GOP's
# leading pictures): at most the decoded picture buffer of H.264/HEVC.
_MAX_REORDER = 16


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


def _seconds(timestamp: int, time_base) -> float:
    # float(timestamp * time_base) without building a Fraction (a dozen per packet add up):
    # int / int is correctly rounded, so the value is the same to the last bit.
    return timestamp * time_base.numerator / time_base.denominator


def _frame_time(frame, stream) -> float | None:
    pts = frame.pts if frame.pts is not None else getattr(frame, "dts", None)
    if pts is None:
        return None
    return _seconds(pts, frame.time_base or stream.time_base)


def _to_rgb(frame, width: int) -> np.ndarray:
    w = max(1, min(width, frame.width))
    h = max(1, int(round(frame.height * w / frame.width)))
    kwargs = {}
    if frame.color_range == 2:  # full-range YUV tagged as such (JPEG range)
        kwargs["src_color_range"] = "JPEG"
    small = frame.reformat(width=w, height=h, format="rgb24", interpolation="AREA", **kwargs)
    return small.to_ndarray()


class _ReadAhead:
    """A stream's packets in decode order, read from the container ahead of decoding on demand.

    Demuxing costs next to nothing beside decoding, so packets can be inspected (times,
    keyframe flags) before deciding which to decode. A read error met while reading ahead
    is raised when its turn comes, as if the packets had been read one by one.
    """

    def __init__(self, container, stream):
        self._container, self._stream = container, stream
        self.restart()

    def restart(self) -> None:
        """Read anew from the container's current position (after a seek)."""
        self._demux = self._container.demux(self._stream)
        self._pending: deque = deque()
        self._bytes = 0

    def pop(self):
        """The next packet (StopIteration at the end; the container's errors raised)."""
        if self._pending:
            item = self._pending.popleft()
            if isinstance(item, Exception):
                raise item
            self._bytes -= item.size
            return item
        return next(self._demux)

    def peek(self, i: int):
        """The ``i``-th packet ahead; None at the end, at a read error or beyond the read-ahead limit."""
        while len(self._pending) <= i:
            if self._bytes > _READ_AHEAD_BYTES or (self._pending and isinstance(self._pending[-1], Exception)):
                return None
            try:
                packet = next(self._demux)
            except StopIteration:
                return None
            except av.error.FFmpegError as exc:
                self._pending.append(exc)
                return None
            self._pending.append(packet)
            self._bytes += packet.size
        item = self._pending[i]
        return None if isinstance(item, Exception) or item.size == 0 else item  # size 0: the end

    def drop(self, start: int, stop: int) -> int:
        """Discard packets ``start`` to ``stop - 1`` ahead; returns how many."""
        for _ in range(start, stop):
            self._bytes -= self._pending[start].size
            del self._pending[start]
        return max(0, stop - start)


def sample_frames(path: str | os.PathLike, times: Iterable[float], *, width: int = 160,
                  skip_nonref: bool = True, skip_loop_filter: bool = False,
                  skip_to_keyframes: bool = True) -> Iterator[tuple[float, float, np.ndarray]]:
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
    skip_to_keyframes : bool
        Leave undecoded the packets that no sampled frame needs: those after the last frame
        shown at or before a requested time up to a keyframe shown at or before the next
        one (found by reading packets ahead, without decoding them). The sampled frames and
        their pictures are the same as without it, for closed GOPs and open ones alike.

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
        # Also measured on the benchmark's 1080p B-frame film (benchmarks/bench_visual.py), and not
        # used: skip_frame="BIDIR" (dropping the B-frames used as references too) makes the P-frames
        # that refer to them drift (mean error up to 5/255 within a GOP); flags2 "fast", flags "gray"
        # (not built into FFmpeg's decoders) and thread settings (one core) change nothing; converting
        # the sampled frames (below) is 2 % of the time, so reading luma off the Y plane would not pay.
        if skip_nonref:
            ctx.skip_frame = "NONREF"
        if skip_loop_filter:
            ctx.options = {**ctx.options, "skip_loop_filter": "all"}
        end = declared_duration(container, stream)
        start_offset = float(stream.start_time * stream.time_base) if stream.start_time is not None else 0.0
        packets = _ReadAhead(container, stream)
        prev = prev_t = None
        last_good_t = 0.0
        bad_packets = good_frames = decoded_packets = skipped_packets = drains = 0
        sought: list[float] = []
        drain_at = None  # the keyframe packet before which the decoder is drained, see read_ahead

        def following_target(current: float) -> float | None:
            value = next(targets, None)
            if value is not None and value < current:
                raise ParameterError(f"times must increase (t={value:.3f}s after t={current:.3f}s)")
            return value

        # The requested time and the one after it (reading ahead looks for keyframes up to it).
        target = next(targets, None)
        if target is None:
            return
        following = following_target(target)

        def next_target() -> None:
            nonlocal target, following
            target = following
            following = following_target(target) if target is not None else None

        time_base = stream.time_base  # (PyAV builds a new Fraction at each access)

        def packet_time(value: int | None) -> float | None:
            return None if value is None else _seconds(value, time_base) - start_offset

        def seek_to(t: float) -> None:
            # At most one seek per requested time: a seek lands on the keyframe before ``t``,
            # which may be far before it (long GOPs); from there decoding goes forward.
            nonlocal prev, prev_t
            sought.append(t)
            container.seek(int((t + start_offset) / stream.time_base), stream=stream, backward=True, any_frame=False)
            packets.restart()
            prev = prev_t = None
            read_ahead()

        def read_ahead() -> None:
            # Called when ``target`` changes. Decoding every packet up to the next requested time
            # would decode, in each GOP, the frames after its last sampled one; with 1 Hz sampling
            # and the 1-2 s keyframe spacing of distributed films that is a third of the frames.
            # The packets ahead are read (not decoded) up to those that decode at ``following``
            # (``reach``):
            # - a keyframe shown at or before ``target``: the packets before it are dropped and
            #   the decoder reset, as a seek to it would (the frame on screen at ``target`` is that
            #   keyframe or a later frame, and nothing from the keyframe on refers back across it;
            #   an open GOP's leading pictures, which do, are shown before it and so never sampled);
            # - else a keyframe shown after ``target``, at or before ``reach``: the packets
            #   before it after the last one shown at or before ``target`` are dropped (nothing
            #   shown at or before ``target`` depends on a later packet), and when that keyframe
            #   comes the decoder is drained (it holds back a few frames to reorder them; waiting
            #   for a frame past ``target`` to come out would decode a few more reference frames)
            #   and reset. Not done when a leading picture of that keyframe could be shown at or
            #   before ``target``: it would have been the sampled frame.
            # Times, not frame counts, decide, so the sampled frames are exactly those decoding
            # every packet gives (tests/io/test_video.py compares them).
            nonlocal drain_at, skipped_packets
            drain_at = None
            if not skip_to_keyframes or target is None:
                return
            # Far ahead, a seek is cheaper than reading every packet up to there.
            reach = target if following is None else min(following, target + _SEEK_GAP_S)
            last_shown = None  # index of the last packet ahead shown at or before ``target``
            i = 0
            while (packet := packets.peek(i)) is not None:
                pts, dts = packet_time(packet.pts), packet_time(packet.dts)
                if pts is None:
                    return  # cannot place it: decode through
                if packet.is_keyframe and pts <= target:
                    if i:
                        skipped_packets += packets.drop(0, i)
                        ctx.flush_buffers()
                        i, last_shown = 0, None
                elif packet.is_keyframe and pts <= reach:
                    if last_shown is None and prev is None:
                        return  # nothing shown at ``target`` yet: it takes the first frame that comes
                    for k in range(i + 1, i + 1 + _MAX_REORDER):
                        lead = packets.peek(k)
                        if lead is None or lead.pts is None or packet_time(lead.pts) <= target:
                            return
                    first = 0 if last_shown is None else last_shown + 1
                    skipped_packets += packets.drop(first, i)
                    drain_at = packet
                    return
                if pts <= target:
                    last_shown = i
                # Decode order: no later packet is a keyframe shown at or before ``reach``.
                if (dts if dts is not None else pts) > reach:
                    return
                i += 1

        def take(frames) -> Iterator[tuple[float, float, np.ndarray]]:
            # Sample the requested times these decoded frames pass (the frame before each is on
            # screen at it); a seek, when the next time is far ahead, ends the batch.
            nonlocal prev, prev_t, good_frames, last_good_t
            for frame in frames:
                ft = _frame_time(frame, stream)
                if ft is None:
                    continue
                ft -= start_offset
                good_frames += 1
                last_good_t = ft
                passed = target is not None and ft > target
                while target is not None and ft > target:
                    src, src_t = (prev, prev_t) if prev is not None else (frame, ft)
                    yield target, src_t, _to_rgb(src, width)
                    next_target()
                prev, prev_t = frame, ft
                if target is None:
                    return
                if target - ft > _SEEK_GAP_S and target not in sought:
                    seek_to(target)
                    return
                if passed:
                    read_ahead()

        def decode(packet) -> list:
            nonlocal bad_packets, decoded_packets
            decoded_packets += packet is not None
            try:
                return ctx.decode(packet)
            except av.error.FFmpegError:
                bad_packets += 1
                return []

        if target > _SEEK_GAP_S:
            seek_to(target)
        else:
            read_ahead()
        while target is not None:
            if drain_at is not None and packets.peek(0) is drain_at:
                drain_at = None
                drains += 1
                current = target
                yield from take(decode(None))  # every frame fed comes out
                ctx.flush_buffers()  # ready for the keyframe (a drained decoder takes no more packets)
                if target == current and prev is not None:  # so ``prev`` is the frame on screen at it
                    yield target, prev_t, _to_rgb(prev, width)
                    next_target()
                    if target is not None and target - prev_t > _SEEK_GAP_S and target not in sought:
                        seek_to(target)
                    else:
                        read_ahead()
                continue
            try:
                packet = packets.pop()
            except StopIteration:
                break
            except av.error.FFmpegError as exc:
                raise MediaError(f"{path}: cannot read the container after t={last_good_t:.3f}s "
                                 f"({exc.strerror or exc})") from exc
            yield from take(decode(packet))
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
                next_target()
        log.debug("%s: %d video packets decoded, %d skipped before keyframes, %d drains, %d seeks", path,
                  decoded_packets, skipped_packets, drains, len(sought))
        if good_frames == 0:
            raise MediaError(f"{path}: no readable video frame ({bad_packets} packet(s) rejected by the "
                             f"{ctx.name} decoder)")
        if bad_packets:
            warnings.warn(f"{path}: skipped {bad_packets} unreadable video packet(s); earlier readable "
                          "frames were sampled instead", VideoWarning, stacklevel=2)
