"""Speed of the visual features (brightness and contrast at 1 Hz) on a 1080p H.264 film, one core.

Writes a 1920x1080 H.264 film with :func:`scorelens.demo._media.write_film` (x264 preset
``ultrafast``: no B-frames) and, with ``--bframes``, a second one encoded the way films are
distributed (preset ``fast``: CABAC, B-frames, deblocking), then times
:func:`scorelens.features._visual.visual_frames` on each, with the decoder allowed to drop
non-reference frames and to skip deblocking (the defaults) and decoding exactly, and prints
how much the values differ. Both leave undecoded the frames no sample needs (after the last
one a sample needs, up to the next keyframe: :func:`scorelens.io._video.sample_frames`), which
changes no value.

Usage::

    python benchmarks/bench_visual.py [--seconds 60] [--fps 24] [--bframes] [--keep DIR]

Pinned to one core (so FFmpeg's automatic decoder threading uses one thread). The speed is
film seconds per process CPU second (not inflated by other load on the machine), best of
``--repeat`` runs, median beside it; wall times are printed too. Keep the films
(``--keep benchmarks/out/visual``, gitignored) to skip encoding them again (minutes).
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from fractions import Fraction  # noqa: E402
from pathlib import Path  # noqa: E402

import av  # noqa: E402
import numpy as np  # noqa: E402

from scorelens.config import VisualConfig  # noqa: E402
from scorelens.demo._media import write_film  # noqa: E402
from scorelens.features._visual import visual_frames  # noqa: E402

W, H = 1920, 1080


def _pictures(seed: int = 0):
    """Film-like pictures: smooth backgrounds panning slowly, a cut every 5 s, moving shapes, light grain.

    Random-noise pictures would cost the decoder 10x what films do (their bitrate is
    enormous); these encode at the bitrate of distributed 1080p films (a few Mbit/s).
    """
    from scipy.ndimage import zoom

    rng = np.random.default_rng(seed)
    scenes = []
    for _ in range(6):
        small = rng.random((9, 16, 3)) * rng.uniform(60, 220)
        scenes.append(np.clip(zoom(small, (H * 1.25 / 9, W * 1.25 / 16, 1), order=3), 0, 255).astype(np.float32))
    grain = rng.normal(0, 2.0, (H, W, 1)).astype(np.float32)

    def frame_at(t: float) -> np.ndarray:
        scene = scenes[int(t // 5) % len(scenes)]
        dx, dy = int(20 * (t % 5)), int(8 * (t % 5))
        img = scene[dy:dy + H, dx:dx + W].copy()
        for k in range(3):  # shapes crossing the screen
            x = int((t * (150 + 60 * k) + 400 * k) % (W - 200))
            y = int(200 + 250 * k + 80 * np.sin(t + k))
            img[y:y + 160, x:x + 200] = 40 + 90 * k
        img += np.roll(grain, int(t * 24) % 7, axis=1)
        return np.clip(img, 0, 255).astype(np.uint8)
    return frame_at


def write_distribution_film(path: Path, seconds: float, fps: int) -> Path:
    """H.264 as films are distributed: preset fast (CABAC, 3 B-frames, deblocking), keyframe every 2 s."""
    frame_at = _pictures(1)
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=fps)
        s.width, s.height, s.pix_fmt = W, H, "yuv420p"
        s.options = {"preset": "fast", "bf": "3", "g": str(2 * fps)}
        for i in range(int(seconds * fps)):
            f = av.VideoFrame.from_ndarray(frame_at(i / fps), format="rgb24")
            f.pts, f.time_base = i, Fraction(1, fps)
            for p in s.encode(f):
                c.mux(p)
        for p in s.encode(None):
            c.mux(p)
    return path


def timed(path: Path, config: VisualConfig, repeat: int) -> tuple[dict, int]:
    """Best and median process CPU time and wall time (s) of ``repeat`` runs, and the frame count."""
    cpu, wall = [], []
    n = 0
    for _ in range(repeat):
        c, w = time.process_time(), time.perf_counter()
        n = len(visual_frames(path, config=config))
        cpu.append(time.process_time() - c)
        wall.append(time.perf_counter() - w)
    return {"cpu": (min(cpu), float(np.median(cpu))), "wall": (min(wall), float(np.median(wall)))}, n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="film length (s)")
    parser.add_argument("--fps", type=int, default=24, help="film frame rate")
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement (best and median shown)")
    parser.add_argument("--bframes", action="store_true", help="also a distribution-style encode with B-frames")
    parser.add_argument("--keep", type=Path, help="folder to keep (and reuse) the generated films; default: "
                        "a temporary folder, deleted at the end")
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    folder = args.keep or Path(tempfile.mkdtemp(prefix="bench_visual_"))
    folder.mkdir(parents=True, exist_ok=True)
    films = {}
    plain = folder / f"film_{W}x{H}_{args.seconds:.0f}s_ultrafast.mp4"
    if not plain.exists():
        write_film(plain, np.zeros(int(args.seconds * 8000), np.float32), 8000, frame_at=_pictures(0),
                   fps=args.fps, size=(W, H), video_codec="libx264")
    films["H.264 ultrafast (write_film)"] = plain
    if args.bframes:
        dist = folder / f"film_{W}x{H}_{args.seconds:.0f}s_fast_bframes.mp4"
        if not dist.exists():
            write_distribution_film(dist, args.seconds, args.fps)
        films["H.264 fast, B-frames"] = dist
    print(f"visual features (brightness, contrast at 1 Hz), {W}x{H} {args.fps} fps, {args.seconds:.0f} s, one core")
    settings = {"defaults (skip non-ref frames and deblocking)": VisualConfig(),
                "exact decoding (non-ref frames, deblocked)": VisualConfig(skip_nonref=False, skip_loop_filter=False)}
    for label, path in films.items():
        results = {}
        for name, config in settings.items():
            times, n = timed(path, config, args.repeat)
            results[name] = visual_frames(path, config=config)
            (cpu, cpu_med), (wall, wall_med) = times["cpu"], times["wall"]
            print(f"  {label:28s} {name:46s} {args.seconds / cpu:6.1f}x real time "
                  f"(median {args.seconds / cpu_med:.1f}x; cpu {cpu:.2f}/{cpu_med:.2f}s, "
                  f"wall {wall:.2f}/{wall_med:.2f}s best/median, {n} frames)")
        fast, exact = results.values()
        print(f"  {'':28s} max difference: brightness {np.abs(fast.brightness - exact.brightness).max():.4f}, "
              f"contrast {np.abs(fast.contrast - exact.contrast).max():.4f}")
    if args.keep is None:
        for path in films.values():
            path.unlink()
        folder.rmdir()


if __name__ == "__main__":
    main()
