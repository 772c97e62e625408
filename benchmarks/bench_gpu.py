"""The Table 4 sweep on a GPU: one prepared check for a lent GPU machine (issue 16, part 3).

Run on a machine with a CUDA GPU, as one command (it fits one 10-minute device call)::

    python benchmarks/bench_gpu.py --cpu-reference benchmarks/reference/table4_full_cpu.json --json $OUT/gpu.json

1. **Same code path, same answers**: leave-one-out on a small synthetic corpus, every
   pooling, trained on ``cuda`` and on ``cpu`` from the same seeds and folds in float32;
   the largest difference of the out-of-fold probabilities (a tolerance, not bits: the
   GPU's GEMMs sum in another order).
2. **The whole sweep**: :func:`scorelens.analysis._evaluation.evaluate` -- the code the
   ``evaluate`` stage runs -- on the study-shaped corpus of ``bench_table4.py`` (110 films,
   two feature kinds, the study's settings: leave-one-out, six poolings at 64 and 128 hidden
   units, 200 epochs, Simple MI and IMV with kNN, SVM and the per-genre random forest, the
   baselines) with ``model.device="cuda"``. The scikit-learn models run on the CPU cores
   (``--jobs`` worker processes) *beside* the networks on the GPU (``evaluate``'s overlap);
   printed: the wall time of the sweep, each run's seconds, and, with ``--cpu-reference``
   (the ``--json`` of ``bench_table4.py --full`` on a CPU), Table 4's macro P/R/F1 from both
   devices side by side.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np


def same_answers(device: str, epochs: int) -> dict:
    """Largest |p_gpu - p_cpu| of the out-of-fold probabilities, per pooling (float32, small corpus)."""
    from scorelens.config import ModelConfig
    from scorelens.mil._training import cross_val_network

    rng = np.random.default_rng(0)
    Y = (rng.random((24, 3)) < 0.4).astype(np.int64)
    Y[Y.sum(axis=1) == 0, 0] = 1
    bags = [(rng.normal(size=(int(rng.integers(2, 12)), 10)) + y @ rng.normal(size=(3, 10))).astype(np.float32)
            for y in Y]
    folds = [np.array([i]) for i in range(len(bags))]
    out = {}
    for pooling in ModelConfig().poolings:
        p = {dev: cross_val_network(bags, Y, folds, pooling=pooling, hidden=16, epochs=epochs, seed=1,
                                    precision="float32", device=dev).proba for dev in ("cpu", device)}
        out[pooling] = float(np.abs(p["cpu"] - p[device]).max())
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--precision", default="bfloat16", choices=["float32", "bfloat16"])
    ap.add_argument("--epochs", type=int, default=200)
    ap.add_argument("--jobs", type=int, default=os.cpu_count(), help="CPU workers of the scikit-learn models")
    ap.add_argument("--films", type=int, default=110)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--check-epochs", type=int, default=20)
    ap.add_argument("--cpu-reference", help="bench_table4.py --full --json output of a CPU run")
    ap.add_argument("--json")
    args = ap.parse_args(argv)

    import torch

    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print("error: PyTorch sees no CUDA GPU on this machine", file=sys.stderr)
        return 2
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from bench_table4 import study_corpus

    from scorelens.analysis._evaluation import evaluate
    from scorelens.config import ModelConfig

    name = torch.cuda.get_device_name() if args.device.startswith("cuda") else "cpu"
    print(f"device {args.device} ({name}); torch {torch.__version__}; {os.cpu_count()} CPU cores, "
          f"{args.jobs} scikit-learn workers")
    t = time.perf_counter()
    diffs = same_answers(args.device, args.check_epochs)
    print(f"same answers (float32, {args.check_epochs} epochs, 24 films LOO): largest |p_{args.device} - p_cpu| "
          + ", ".join(f"{k} {v:.1e}" for k, v in diffs.items()) + f"  ({time.perf_counter() - t:.0f} s)", flush=True)

    sets = study_corpus(args.seed, args.films)
    config = ModelConfig(seed=args.seed, epochs=args.epochs, precision=args.precision, device=args.device)
    if args.device.startswith("cuda"):
        torch.cuda.synchronize()
    t = time.perf_counter()
    ev = evaluate(sets, config, n_jobs=args.jobs)
    wall = time.perf_counter() - t
    reference = {}
    if args.cpu_reference:
        with open(args.cpu_reference) as fh:
            for s in json.load(fh)["scores"]:
                reference[(s["features"], s["model"])] = s
    rows = []
    print(f"\nwhole sweep on {args.device}: {wall:.0f} s wall ({wall / 60:.1f} min); precision {args.precision}")
    print(f"{'features':8s} {'model':26s} {'hidden':>6s} {'seconds':>8s}   P     R     F1   | CPU P     R     F1")
    for r in ev.runs:
        macro = r.scores["macro"]
        key = r.key if r.hidden is None else f"{r.key}:{r.hidden}"
        ref = reference.get((r.features, key))
        rows.append({"features": r.features, "model": key, "seconds": r.seconds, **macro,
                     "cpu": ref and {m: ref[m] for m in ("precision", "recall", "f1")}})
        cpu = f"| {ref['precision']:.3f} {ref['recall']:.3f} {ref['f1']:.3f}" if ref else ""
        print(f"{r.features:8s} {r.key:26s} {r.hidden or '':>6} {r.seconds:8.1f}  {macro['precision']:.3f} "
              f"{macro['recall']:.3f} {macro['f1']:.3f} {cpu}")
    networks = sum(r.seconds for r in ev.runs if r.family == "network")
    cpu_side = sum(r.seconds for r in ev.runs if r.family != "network")
    print(f"networks {networks:.0f} s on {args.device}, scikit-learn models {cpu_side:.0f} s on the CPU "
          "cores beside them")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"args": vars(args), "device_name": name, "same_answers": diffs, "wall_s": wall,
                       "run_info": ev.run_info, "rows": rows}, fh, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
