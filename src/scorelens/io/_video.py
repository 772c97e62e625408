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
from scorelens.io._container import declared_duration, open_media

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


def _configure_decoder(ctx, *, skip_nonref: bool, skip_loop_filter: bool) -> None:
    # Also measured on the benchmark's 1080p B-frame film (benchmarks/bench_visual.py), and not
    # used: skip_frame="BIDIR" (dropping the B-frames used as references too) makes the P-frames
    # that refer to them drift (mean error up to 5/255 within a GOP); flags2 "fast", flags "gray"
    # (not built into FFmpeg's decoders) and thread settings (one core) change nothing; converting
    # the sampled frames is 2 % of the time, so reading luma off the Y plane would not pay.
    if skip_nonref:
        ctx.skip_frame = "NONREF"
    if skip_loop_filter:
        ctx.options = {**ctx.options, "skip_loop_filter": "all"}


class _FrameSampler:
    """One :func:`sample_frames` pass over an open film: where it is in the requested times and the stream.

    ``target`` is the requested time to sample next and ``following`` the one after it (reading
    ahead looks for keyframes up to it); ``prev`` is the last decoded frame, the one on screen
    until the next one is shown. Reading the first times may raise :class:`ParameterError`.
    """

    def __init__(self, path: Path, container, times: Iterator[float], *, width: int, skip_nonref: bool,
                 skip_loop_filter: bool, skip_to_keyframes: bool):
        self.path, self.width, self.skip_to_keyframes = path, width, skip_to_keyframes
        self.container = container
        self.stream = stream = _video_stream(container, path)
        self.ctx = stream.codec_context
        _configure_decoder(self.ctx, skip_nonref=skip_nonref, skip_loop_filter=skip_loop_filter)
        self.end = declared_duration(container, stream)
        self.start_offset = float(stream.start_time * stream.time_base) if stream.start_time is not None else 0.0
        self.time_base = stream.time_base  # (PyAV builds a new Fraction at each access)
        self.packets = _ReadAhead(container, stream)
        self.prev = self.prev_t = None
        self.last_good_t = 0.0  # for the message when the container cannot be read further
        self.bad_packets = self.good_frames = self.decoded_packets = self.skipped_packets = self.drains = 0
        self.sought: list[float] = []
        self.drain_at = None  # the keyframe packet before which the decoder is drained, see _plan_skips
        self._times = times
        self.target = next(self._times, None)
        self.following = self._next_time(self.target) if self.target is not None else None

    def _next_time(self, current: float) -> float | None:
        value = next(self._times, None)
        if value is not None and value < current:
            raise ParameterError(f"times must increase (t={value:.3f}s after t={current:.3f}s)")
        return value

    def _advance(self) -> None:
        """The requested time after ``target`` becomes the one to sample (None: all sampled)."""
        self.target = self.following
        self.following = self._next_time(self.target) if self.target is not None else None

    def _packet_time(self, value: int | None) -> float | None:
        return None if value is None else _seconds(value, self.time_base) - self.start_offset

    def _far_from(self, t: float) -> bool:
        """Whether to seek to ``target`` rather than decode forward from ``t`` (at most once per time)."""
        return self.target - t > _SEEK_GAP_S and self.target not in self.sought

    def _seek(self, t: float) -> None:
        # A seek lands on the keyframe before ``t``, which may be far before it (long GOPs); from
        # there decoding goes forward.
        self.sought.append(t)
        self.container.seek(int((t + self.start_offset) / self.stream.time_base), stream=self.stream,
                            backward=True, any_frame=False)
        self.packets.restart()
        self.prev = self.prev_t = None
        self._plan_skips()

    def _plan_skips(self) -> None:
        """Drop the packets ahead that no sampled frame needs; called when ``target`` changes.

        Decoding every packet up to the next requested time would decode, in each GOP, the
        frames after its last sampled one; with 1 Hz sampling and the 1-2 s keyframe spacing of
        distributed films that is a third of the frames. The packets ahead are read (not
        decoded) up to those that decode at ``following`` (``reach``):

        - a keyframe shown at or before ``target``: the packets before it are dropped and the
          decoder reset, as a seek to it would (the frame on screen at ``target`` is that
          keyframe or a later frame, and nothing from the keyframe on refers back across it;
          an open GOP's leading pictures, which do, are shown before it and so never sampled);
        - else a keyframe shown after ``target``, at or before ``reach``: the packets before it
          after the last one shown at or before ``target`` are dropped (nothing shown at or
          before ``target`` depends on a later packet), and when that keyframe comes the
          decoder is drained (it holds back a few frames to reorder them; waiting for a frame
          past ``target`` to come out would decode a few more reference frames) and reset
          (:meth:`_drain`). Not done when a leading picture of that keyframe could be shown at
          or before ``target``: it would have been the sampled frame.

        Times, not frame counts, decide, so the sampled frames are exactly those decoding every
        packet gives (tests/io/test_video.py compares them).
        """
        self.drain_at = None
        target, packets = self.target, self.packets
        if not self.skip_to_keyframes or target is None:
            return
        # Far ahead, a seek is cheaper than reading every packet up to there.
        reach = target if self.following is None else min(self.following, target + _SEEK_GAP_S)
        last_shown = None  # index of the last packet ahead shown at or before ``target``
        i = 0
        while (packet := packets.peek(i)) is not None:
            pts, dts = self._packet_time(packet.pts), self._packet_time(packet.dts)
            if pts is None:
                return  # cannot place it: decode through
            if packet.is_keyframe and pts <= target:
                if i:
                    self.skipped_packets += packets.drop(0, i)
                    self.ctx.flush_buffers()
                    i, last_shown = 0, None
            elif packet.is_keyframe and pts <= reach:
                if last_shown is None and self.prev is None:
                    return  # nothing shown at ``target`` yet: it takes the first frame that comes
                for k in range(i + 1, i + 1 + _MAX_REORDER):
                    lead = packets.peek(k)
                    if lead is None or lead.pts is None or self._packet_time(lead.pts) <= target:
                        return
                first = 0 if last_shown is None else last_shown + 1
                self.skipped_packets += packets.drop(first, i)
                self.drain_at = packet
                return
            if pts <= target:
                last_shown = i
            # Decode order: no later packet is a keyframe shown at or before ``reach``.
            if (dts if dts is not None else pts) > reach:
                return
            i += 1

    def _decode(self, packet) -> list:
        """The frames that come out of the decoder for ``packet`` (None: all it holds back)."""
        self.decoded_packets += packet is not None
        try:
            return self.ctx.decode(packet)
        except av.error.FFmpegError:
            self.bad_packets += 1
            return []

    def _take(self, frames) -> Iterator[tuple[float, float, np.ndarray]]:
        # Sample the requested times these decoded frames pass (the frame before each is on
        # screen at it); a seek, when the next time is far ahead, ends the batch.
        for frame in frames:
            ft = _frame_time(frame, self.stream)
            if ft is None:
                continue
            ft -= self.start_offset
            self.good_frames += 1
            self.last_good_t = ft
            passed = self.target is not None and ft > self.target
            while self.target is not None and ft > self.target:
                src, src_t = (self.prev, self.prev_t) if self.prev is not None else (frame, ft)
                yield self.target, src_t, _to_rgb(src, self.width)
                self._advance()
            self.prev, self.prev_t = frame, ft
            if self.target is None:
                return
            if self._far_from(ft):
                self._seek(self.target)
                return
            if passed:
                self._plan_skips()

    def _drain(self) -> Iterator[tuple[float, float, np.ndarray]]:
        """At the keyframe :meth:`_plan_skips` chose: the frames the decoder holds back, then a reset."""
        self.drain_at = None
        self.drains += 1
        current = self.target
        yield from self._take(self._decode(None))  # every frame fed comes out
        self.ctx.flush_buffers()  # ready for the keyframe (a drained decoder takes no more packets)
        if self.target == current and self.prev is not None:  # so ``prev`` is the frame on screen at it
            yield self.target, self.prev_t, _to_rgb(self.prev, self.width)
            self._advance()
            if self.target is not None and self._far_from(self.prev_t):
                self._seek(self.target)
            else:
                self._plan_skips()

    def _hold_last_frame(self) -> Iterator[tuple[float, float, np.ndarray]]:
        # The last frame stays on screen to the end of the stream, unless the stream stops well
        # before the end the container declares (a truncated or damaged file): holding the last
        # frame over the missing part would describe pictures that are not there.
        end, prev_t = self.end, self.prev_t
        frame_s = 1.0 / float(self.stream.average_rate) if self.stream.average_rate else 0.5
        if (np.isfinite(end) and self.target is not None and self.target < end
                and prev_t < end - max(_END_TOLERANCE_S, 2 * frame_s)):
            raise MediaError(f"{self.path}: the video stream stops at t={prev_t:.3f}s but the container declares "
                             f"{end:.3f}s (truncated or damaged file)")
        horizon = end if np.isfinite(end) else prev_t + frame_s
        while self.target is not None and self.target < horizon:
            yield self.target, prev_t, _to_rgb(self.prev, self.width)
            self._advance()

    def samples(self) -> Iterator[tuple[float, float, np.ndarray]]:
        """``(t, frame_t, rgb)`` for each requested time from ``target`` on (see :func:`sample_frames`)."""
        if self.target > _SEEK_GAP_S:
            self._seek(self.target)
        else:
            self._plan_skips()
        while self.target is not None:
            if self.drain_at is not None and self.packets.peek(0) is self.drain_at:
                yield from self._drain()
                continue
            try:
                packet = self.packets.pop()
            except StopIteration:
                break
            except av.error.FFmpegError as exc:
                raise MediaError(f"{self.path}: cannot read the container after t={self.last_good_t:.3f}s "
                                 f"({exc.strerror or exc})") from exc
            yield from self._take(self._decode(packet))
        if self.prev is not None:
            yield from self._hold_last_frame()

    def finish(self) -> None:
        """After :meth:`samples`: no readable frame is an error, skipped packets a warning."""
        log.debug("%s: %d video packets decoded, %d skipped before keyframes, %d drains, %d seeks", self.path,
                  self.decoded_packets, self.skipped_packets, self.drains, len(self.sought))
        if self.good_frames == 0:
            raise MediaError(f"{self.path}: no readable video frame ({self.bad_packets} packet(s) rejected by the "
                             f"{self.ctx.name} decoder)")
        if self.bad_packets:
            # stacklevel: past this method and the sample_frames generator, the line iterating it.
            warnings.warn(f"{self.path}: skipped {self.bad_packets} unreadable video packet(s); earlier readable "
                          "frames were sampled instead", VideoWarning, stacklevel=3)


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
        sampler = _FrameSampler(path, container, targets, width=width, skip_nonref=skip_nonref,
                                skip_loop_filter=skip_loop_filter, skip_to_keyframes=skip_to_keyframes)
        if sampler.target is None:
            return  # no times: nothing decoded, nothing to report
        yield from sampler.samples()
        sampler.finish()
