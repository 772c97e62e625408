"""Speed of the VGGish and musicnn feature kinds on one CPU core, in times real time.

    python benchmarks/bench_embeddings.py [--seconds 120] [--repeats 3] [--vggish-dir DIR]

Targets (issue 3): VGGish >= 30x real time, musicnn >= 20x real time, with
``torch.set_num_threads(1)``. Without ``--vggish-dir`` (or ``SCORELENS_VGGISH_DIR``)
VGGish runs with random weights saved in torchvggish's format: its speed does not depend
on the weights' values. musicnn uses the trained weights of the installed wheel. Each
figure is the best of ``--repeats`` runs (the machine may be shared), and covers the
whole ``compute`` call: front end, network, post-processing.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch


def synthetic_audio(seconds: float, sr: int = 16000) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    rng = np.random.default_rng(0)
    y = 0.3 * np.sin(2 * np.pi * 220 * t) * (1 + np.sin(2 * np.pi * 0.5 * t)) + 0.05 * rng.standard_normal(t.size)
    return y.astype(np.float32)


def best_time(fn, repeats: int) -> tuple[float, float]:
    """Best wall-clock and best CPU (process) time of ``repeats`` calls.

    On a shared machine the wall clock also counts time spent waiting for the core; the
    process time counts only the time this process ran on it.
    """
    wall, cpu = [], []
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return min(wall), min(cpu)


def random_vggish_dir(folder: Path) -> Path:
    from scorelens.features._vggish import VGGish

    torch.manual_seed(0)
    torch.save(VGGish().state_dict(), folder / "vggish-10086976.pth")
    q, _ = np.linalg.qr(np.random.default_rng(0).standard_normal((128, 128)))
    np.savez(folder / "vggish_pca_params.npz", pca_eigen_vectors=q, pca_means=np.zeros((128, 1)))
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=120.0, help="length of the synthetic audio")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--vggish-dir", default=os.environ.get("SCORELENS_VGGISH_DIR"))
    args = parser.parse_args()

    torch.set_num_threads(1)
    from scorelens.features._musicnn import MusicnnKind
    from scorelens.features._vggish import VGGishKind

    audio = synthetic_audio(args.seconds)
    print(f"{args.seconds:.0f} s of audio, torch {torch.__version__}, {torch.get_num_threads()} thread(s)")
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.vggish_dir or random_vggish_dir(Path(tmp))
        vggish = VGGishKind(weights_dir=folder)
        vggish.compute(audio[:32000], 16000)  # warm-up
        wall, cpu = best_time(lambda: vggish.compute(audio, 16000), args.repeats)
        print(f"vggish : {args.seconds / wall:6.1f}x real time wall clock, {args.seconds / cpu:6.1f}x CPU time "
              f"(weights: {'given' if args.vggish_dir else 'random, torchvggish format'}; target >= 30x)")
    musicnn = MusicnnKind()
    musicnn.compute(audio[:48000], 16000)  # warm-up
    wall, cpu = best_time(lambda: musicnn.compute(audio, 16000), args.repeats)
    print(f"musicnn: {args.seconds / wall:6.1f}x real time wall clock, {args.seconds / cpu:6.1f}x CPU time "
          "(1 frame/s, 3 s patches; target >= 20x)")


if __name__ == "__main__":
    main()
