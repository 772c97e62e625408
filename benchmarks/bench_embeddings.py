"""Speed of the VGGish and musicnn kinds on one CPU core: times real time, against a baseline and the floor.

    taskset -c 1 python benchmarks/bench_embeddings.py [--seconds 120] [--rounds 5] [--baseline 854d81c]
                                                       [--audio FILE] [--vggish-dir DIR]

Targets (issue 16, part 5): musicnn >= 100x real time on one core, VGGish within 80 % of
its arithmetic floor, with the same embeddings as the baseline (max abs difference <= 1e-4).

* **Audio**: ``--seconds`` of real music: Wesnoth's soundtrack (Debian's
  ``wesnoth-1.16-music``), one track after the other, or ``--audio FILE``; synthetic audio
  (said so) when neither is there.
* **Baseline**: the kinds of commit ``--baseline`` (``git archive`` of its ``src/`` from
  this repository), run in a worker process on the same core, interleaved with this
  checkout's round by round; the speed-up is the median of the rounds' ratios. Each figure
  is CPU time of the whole ``compute`` call (front end, network, post-processing; the
  machine may be shared, and CPU time does not count waiting for the core); the wall
  clock is printed beside it.
* **Floor**: the multiply-adds a kind performs (counted with
  :class:`torch.utils.flop_counter.FlopCounterMode` while it computes the audio) per second of
  audio, divided by this core's best measured rate: the larger of a 2048x2048 float32 GEMM
  and VGGish's largest convolution (3x3, 512 -> 512 channels), each the median of its runs.
* VGGish runs without ``--vggish-dir`` (or ``SCORELENS_VGGISH_DIR``) on random weights saved in
  torchvggish's format (its speed does not depend on their values), and without PCA and 8-bit
  quantisation in both checkouts: they cost nothing measurable, and the quantisation would
  hide differences below one step. musicnn uses the trained weights of the installed wheel.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

SR = 16000
KINDS = ("vggish", "musicnn")
WESNOTH = "/usr/share/games/wesnoth*/**/music/*.ogg"


# --------------------------------------------------------------------------- what both checkouts run

def make_kinds(vggish_dir: str) -> dict:
    try:
        from scorelens.features import MusicnnKind, VGGishKind
    except ImportError:  # a baseline from before the kinds were re-exported by the package
        from scorelens.features._musicnn import MusicnnKind
        from scorelens.features._vggish import VGGishKind

    return {"vggish": VGGishKind(weights_dir=vggish_dir, postprocess=False, environ={}), "musicnn": MusicnnKind()}


def timed(kind, audio: np.ndarray) -> tuple[float, float, np.ndarray]:
    """CPU and wall seconds of one ``compute``, and its values."""
    start, start_cpu = time.perf_counter(), time.process_time()
    values = kind.compute(audio, SR).values
    return time.process_time() - start_cpu, time.perf_counter() - start, values


def counted_flops(kind, audio: np.ndarray) -> float:
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        kind.compute(audio, SR)
    return float(counter.get_total_flops())


def worker(args: argparse.Namespace) -> None:
    """Serve ``compute`` timings of the checkout on ``sys.path`` (the baseline) over stdin/stdout."""
    torch.set_num_threads(1)
    audio = np.load(args.worker_audio)
    kinds = make_kinds(args.vggish_dir)
    for kind in kinds.values():  # load the weights and warm up, as the checkout under test does
        kind.compute(audio[:5 * SR], SR)
    for line in sys.stdin:
        request = json.loads(line)
        kind = kinds[request["kind"]]
        if request["what"] == "time":
            cpu, wall, values = timed(kind, audio)
            np.save(request["values"], values)
            reply = {"cpu": cpu, "wall": wall}
        else:
            reply = {"flops": counted_flops(kind, audio)}
        print(json.dumps(reply), flush=True)


# --------------------------------------------------------------------------- set-up

def real_music(seconds: float, path: str | None) -> tuple[np.ndarray, str]:
    from scorelens.io import load_audio

    files = [path] if path else sorted(glob.glob(WESNOTH, recursive=True))
    parts, total, names = [], 0, []
    for file in files:
        y = load_audio(file, sample_rate=SR)
        parts.append(y)
        names.append(Path(file).name)
        total += y.size
        if total >= seconds * SR:
            break
    if not parts:
        t = np.arange(int(seconds * SR)) / SR
        noise = 0.05 * np.random.default_rng(0).standard_normal(t.size)
        y = 0.3 * np.sin(2 * np.pi * 220 * t) * (1 + np.sin(2 * np.pi * 0.5 * t)) + noise
        return y.astype(np.float32), "SYNTHETIC audio (no Wesnoth music found: apt-get install wesnoth-1.16-music)"
    audio = np.concatenate(parts)[:int(seconds * SR)].astype(np.float32)
    return audio, f"real music ({', '.join(names)})"


def random_vggish_dir(folder: Path) -> Path:
    from scorelens.features._vggish import VGGish

    torch.manual_seed(0)
    torch.save(VGGish().state_dict(), folder / "vggish-10086976.pth")
    return folder


def baseline_src(ref: str, folder: Path) -> Path:
    """``src/`` of commit ``ref`` of this repository, written into ``folder``."""
    repo = Path(__file__).resolve().parents[1]
    archive = folder / "baseline.tar"
    with open(archive, "wb") as out:
        subprocess.run(["git", "-C", str(repo), "archive", ref, "src"], stdout=out, check=True)
    with tarfile.open(archive) as tar:
        tar.extractall(folder / "baseline", filter="data")
    return folder / "baseline" / "src"


def median_time(fn, repeats: int = 7) -> float:
    fn()
    times = []
    for _ in range(repeats):
        start = time.process_time()
        fn()
        times.append(time.process_time() - start)
    return statistics.median(times)


def core_rate() -> tuple[float, float]:
    """Median float32 Gflop/s of a 2048x2048 GEMM and of VGGish's 3x3 512 -> 512 convolution (batch 32)."""
    a, b = torch.randn(2048, 2048), torch.randn(2048, 2048)
    gemm = 2 * 2048 ** 3 / median_time(lambda: a @ b) / 1e9
    conv = torch.nn.Conv2d(512, 512, 3, padding=1).eval().to(memory_format=torch.channels_last)
    x = torch.randn(32, 512, 12, 8).contiguous(memory_format=torch.channels_last)
    with torch.inference_mode():
        conv_rate = 2 * 32 * 12 * 8 * 512 * 512 * 9 / median_time(lambda: conv(x)) / 1e9
    return gemm, conv_rate


# --------------------------------------------------------------------------- main

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=120.0, help="length of the audio")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds (medians are reported)")
    parser.add_argument("--baseline", default="854d81c", help="git ref to compare with, or 'none'")
    parser.add_argument("--audio", help="a music file instead of Wesnoth's soundtrack")
    parser.add_argument("--vggish-dir", default=os.environ.get("SCORELENS_VGGISH_DIR"))
    parser.add_argument("--worker-audio", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker_audio:
        worker(args)
        return

    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        audio, source = real_music(args.seconds, args.audio)
        seconds = audio.size / SR
        np.save(tmp / "audio.npy", audio)
        given = args.vggish_dir is not None
        args.vggish_dir = str(args.vggish_dir or random_vggish_dir(tmp))
        affinity = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else "?"
        print(f"{seconds:.0f} s of {source}")
        print(f"torch {torch.__version__}, {torch.get_num_threads()} thread, CPU affinity {affinity}; "
              f"VGGish weights {'given' if given else 'random (torchvggish format)'}; "
              f"medians of {args.rounds} interleaved rounds (the machine may be shared)")

        base = None
        if args.baseline != "none":
            src = baseline_src(args.baseline, tmp)
            env = {**os.environ, "PYTHONPATH": str(src)}
            command = [sys.executable, str(Path(__file__).resolve()), "--worker-audio", str(tmp / "audio.npy"),
                       "--vggish-dir", args.vggish_dir]
            base = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)

        def ask(request: dict) -> dict:
            base.stdin.write(json.dumps(request) + "\n")
            base.stdin.flush()
            return json.loads(base.stdout.readline())

        kinds = make_kinds(args.vggish_dir)
        for kind in kinds.values():
            kind.compute(audio[:5 * SR], SR)
        runs = {name: {"cpu": [], "wall": [], "base_cpu": [], "base_wall": []} for name in KINDS}
        values, base_values = {}, {}
        for _ in range(args.rounds):
            for name in KINDS:
                cpu, wall, values[name] = timed(kinds[name], audio)
                runs[name]["cpu"].append(cpu)
                runs[name]["wall"].append(wall)
                if base is not None:
                    reply = ask({"kind": name, "what": "time", "values": str(tmp / f"{name}.npy")})
                    runs[name]["base_cpu"].append(reply["cpu"])
                    runs[name]["base_wall"].append(reply["wall"])
                    base_values[name] = np.load(tmp / f"{name}.npy")
        flops = {name: counted_flops(kinds[name], audio) / seconds for name in KINDS}
        base_flops = {name: ask({"kind": name, "what": "flops"})["flops"] / seconds for name in KINDS} if base else {}
        if base is not None:
            base.stdin.close()
            base.wait()

        gemm, conv = core_rate()
        rate = max(gemm, conv)
        print(f"this core's rate: {gemm:.0f} Gflop/s (GEMM 2048), {conv:.0f} Gflop/s (VGGish's 3x3 512->512 "
              f"convolution) -> floor at {rate:.0f} Gflop/s")
        targets = {"vggish": "target: within 80 % of the floor", "musicnn": "target >= 100x"}
        for name in KINDS:
            run = runs[name]
            speed = seconds / statistics.median(run["cpu"])
            floor = rate * 1e9 / flops[name]
            wall = seconds / statistics.median(run["wall"])
            gemm_floor = gemm * 1e9 / flops[name]
            print(f"{name:8s}: {speed:6.1f}x real time (CPU time; wall clock {wall:.1f}x); "
                  f"{flops[name] / 1e9:.2f} Gflop per second of audio -> floor {floor:.0f}x, "
                  f"{100 * speed / floor:.0f} % of it ({targets[name]}); at the GEMM's rate "
                  f"{gemm_floor:.0f}x, {100 * speed / gemm_floor:.0f} %")
            if base is not None:
                ratio = statistics.median(b / c for b, c in zip(run["base_cpu"], run["cpu"]))
                base_speed = seconds / statistics.median(run["base_cpu"])
                diff = np.abs(values[name] - base_values[name]).max()
                print(f"{'':10s}baseline {args.baseline}: {base_speed:.1f}x, {base_flops[name] / 1e9:.2f} Gflop per "
                      f"second of audio; this checkout {ratio:.2f}x as fast (median of round ratios); "
                      f"max |difference| {diff:.2g} (target <= 1e-4)")


if __name__ == "__main__":
    main()
