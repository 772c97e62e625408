"""Benchmark: the whole Table 4 sweep on a synthetic corpus of the study's shape.

Corpus: 110 films with the study's genre counts (Table 1: Action 55, Comedy 37, Drama 44,
Horror 11, Romance 13, Science Fiction 36; every film at least one genre), ~40 cues per
film (Poisson), VGGish-like 128-d and MIR-like 140-d cue features with a planted genre
signal in a share of each film's cues (the soft bag assumption).

Sweep: 2 feature kinds x (Simple MI and IMV with kNN, SVM and RF; 6 network poolings)
plus the two baselines, leave-one-out, on ``--threads`` threads.

Because the study's settings (200 epochs, 128 hidden units) take far longer than a
benchmark run should, two reductions are available and stated in the output:

* ``--epochs E``: networks train E epochs; their time is extrapolated to
  ``--target-epochs`` (200) as the measured run plus the missing epochs at the median
  per-epoch time of each training thread (from epoch 2 on: the first epochs also pay
  one-off costs, such as oneDNN compiling a kernel for each new matrix shape).
* ``--sklearn-folds K``: Simple MI / IMV fit K of the 110 folds; their time is
  extrapolated to all folds.

The sequential reference (network folds trained one at a time, ``--threads`` of them
concurrently) is measured on ``--seq-folds`` folds of one network and extrapolated, and
its probabilities are compared bit for bit with the vectorised run's.

Networks run at every hidden size of ``--hidden`` (the study's 64 and 128, as ``evaluate``).
At the end the networks' arithmetic floor is computed per hidden size: their useful
floating-point operations (no padding; each fold trains on every bag but its own) divided
by this CPU's single-thread batched-GEMM rate at the training step's shapes and precision,
times ``--threads``; the measured (or extrapolated) network CPU time per thread is given as
a multiple of it, with the operations the step really computes (padded widths and rows,
held-out bags) as a multiple of the useful ones.

Simple MI / IMV rows and the networks print Table 4's macro precision, recall and F1 when
all their folds ran (networks: after ``--epochs`` epochs).

Usage::

    python benchmarks/bench_table4.py                       # reduced: 5 epochs, 10 sklearn folds
    python benchmarks/bench_table4.py --full --json table4_full.json    # the study's protocol, measured in full
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

STUDY_COUNTS = {"Action": 55, "Comedy": 37, "Drama": 44, "Horror": 11, "Romance": 13, "Science Fiction": 36}


def study_labels(rng: np.random.Generator, n_films: int = 110) -> np.ndarray:
    """A label matrix with the study's column sums (scaled for other corpus sizes) and no film without a genre."""
    counts = np.maximum(1, np.round(np.array(list(STUDY_COUNTS.values())) * n_films / 110).astype(int))
    Y = np.zeros((n_films, len(counts)), dtype=np.int64)
    for k, c in enumerate(counts):
        Y[rng.choice(n_films, size=c, replace=False), k] = 1
    # Move labels from films with several genres to films with none, keeping every column sum.
    while (Y.sum(axis=1) == 0).any():
        empty = int(np.flatnonzero(Y.sum(axis=1) == 0)[0])
        donors = np.flatnonzero(Y.sum(axis=1) > 1)
        donor = int(rng.choice(donors))
        k = int(rng.choice(np.flatnonzero(Y[donor])))
        Y[donor, k], Y[empty, k] = 0, 1
    return Y


def study_corpus(seed: int = 0, n_films: int = 110, mean_cues: float = 40.0):
    """Bags for the two feature kinds, with a genre signal in about a third of the cues."""
    from scorelens.analysis._data import CorpusBags

    rng = np.random.default_rng(seed)
    Y = study_labels(rng, n_films)
    sizes = np.maximum(1, rng.poisson(mean_cues, size=n_films))
    sets = []
    for kind, dim in (("vggish", 128), ("mir", 140)):
        directions = rng.normal(size=(Y.shape[1], dim))
        bags = []
        for y, n in zip(Y, sizes):
            bag = rng.normal(size=(n, dim))
            typical = rng.random(n) < 0.35
            for k in np.flatnonzero(y):
                bag[typical & (rng.random(n) < 0.7)] += 0.6 * directions[k]
            bags.append(bag.astype(np.float32))
        names = [f"{'embedding' if kind == 'vggish' else 'timbre'}/{kind}_{i:03d}/mean" for i in range(dim)]
        sets.append(CorpusBags([f"film{i:03d}" for i in range(n_films)], bags, Y, tuple(STUDY_COUNTS), names,
                               "cue", kind=kind))
    return sets


def network_flops(sizes: np.ndarray, dim: int, hidden: int, n_labels: int, pooling: str, epochs: int,
                  n_folds: int) -> float:
    """Floating-point operations of training one pooling's leave-one-out networks, without padding.

    Per instance: three embedding layers and the instance heads, forward (2 flops per
    multiply-add) and backward (twice the forward, minus the input gradient of the first
    layer). The bag-level layers are negligible. Each fold trains on every bag but its own.
    """
    per_instance = _per_instance(dim, hidden, hidden, n_labels, pooling)
    instances = (n_folds - 1) / n_folds * sizes.sum()
    return float(per_instance * instances * epochs * n_folds)


def _per_instance(first_in: int, hidden: int, hidden_in: int, n_labels: int, pooling: str) -> float:
    """Flops per instance and epoch: forward (2 per multiply-add), backward twice that less layer 1's input gradient.

    ``first_in`` and ``hidden_in`` are the widths the products read (padded or not).
    """
    head_out = {"attention": 2 * n_labels, "multi_attention": 4 * n_labels,
                "feature_attention": 2 * hidden}.get(pooling, n_labels)
    macs = first_in * hidden + 2 * hidden * hidden_in + head_out * hidden_in
    return 2 * macs * 3 - 2 * first_in * hidden


def computed_flops(sizes: np.ndarray, Y: np.ndarray, dim: int, hidden: int, pooling: str, epochs: int,
                   batch_size: int, seed: int) -> float:
    """Operations the training step actually performs: padded widths and rows, held-out bags included.

    Every fold of the stack computes every bag of a step (a held-out bag only carries a
    zero loss weight), each layer's input is widened by a row of ones (the bias) rounded
    up to 16 (``mil/step.py: aligned``) and a step's instances are padded to
    ``padded_rows``.
    """
    from scorelens.mil._step import aligned, padded_rows
    from scorelens.mil._training import make_plan

    n = len(sizes)
    train = ~np.eye(n, dtype=bool)
    plan = make_plan(train, epochs=1, batch_size=batch_size, seed=seed)
    rows = sum(padded_rows(int(sizes[step].sum())) for step in plan.steps)
    per_instance = _per_instance(aligned(dim), hidden, aligned(hidden), Y.shape[1], pooling)
    return float(per_instance * rows * epochs * n)


def gemm_rate(dtype, rows: int, dim: int, hidden: int, stack: int = 8) -> float:
    """Single-thread throughput (flop/s) of this CPU's batched GEMM at a training step's shapes.

    Feature-major, as the training step multiplies (``mil/step.py``): weights (hidden x dim)
    times activations (dim x rows), ``stack`` models at once (``MODELS_PER_CHUNK``); the
    best of five rounds.
    """
    import torch

    w = torch.randn(stack, hidden, dim).to(dtype)
    x = torch.randn(stack, dim, rows).to(dtype)
    out = torch.empty(stack, hidden, rows, dtype=dtype)
    torch.bmm(w, x, out=out)
    best = float("inf")
    for _ in range(5):
        t = time.perf_counter()
        for _ in range(5):
            torch.bmm(w, x, out=out)
        best = min(best, (time.perf_counter() - t) / 5)
    return 2 * stack * rows * dim * hidden / best


class EpochClock:
    """Per-thread epoch durations of a network run (``on_epoch`` callback of cross_val_network)."""

    def __init__(self):
        import threading

        self.marks: dict = {}
        self.lock = threading.Lock()

    def __call__(self, epoch: int) -> None:
        import threading

        with self.lock:
            self.marks.setdefault(threading.get_ident(), []).append((time.perf_counter(), time.thread_time()))

    def steady_epoch(self) -> tuple[float, float]:
        """(wall, CPU summed over threads) of one epoch once warm: medians from the 2nd epoch on."""
        walls, cpus = [], []
        for marks in self.marks.values():
            t = np.array(marks)
            d = np.diff(t, axis=0)[1:] if len(t) > 2 else np.diff(t, axis=0)
            walls.append(np.median(d[:, 0]))
            cpus.append(np.median(d[:, 1]))
        return float(max(walls)), float(sum(cpus))


class Clock:
    """Wall time and this process's CPU time (all threads) of a block.

    On a machine shared with other jobs the wall time stretches with the load, while
    CPU time divided by the threads used estimates the wall time on idle cores (the
    training kernels run single-threaded, so no spinning threads inflate it).
    """

    def __enter__(self):
        self.w0, self.c0 = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc):
        self.wall = time.perf_counter() - self.w0
        self.cpu = time.process_time() - self.c0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--full", action="store_true",
                        help="the study's protocol measured in full: all epochs, all folds, no reference runs")
    parser.add_argument("--epochs", type=int, default=5, help="network epochs actually run")
    parser.add_argument("--target-epochs", type=int, default=200, help="epochs network times are scaled to")
    parser.add_argument("--hidden", default="64,128", help="hidden sizes of the networks (the study: 64,128)")
    parser.add_argument("--precision", default="auto", choices=["auto", "float32", "bfloat16"],
                        help="network arithmetic (auto: bfloat16 only where native and measured faster)")
    parser.add_argument("--sklearn-folds", type=int, default=10,
                        help="folds actually fitted for Simple MI / IMV (0: skip them)")
    parser.add_argument("--kinds", default="vggish,mir")
    parser.add_argument("--poolings", default="", help="network poolings (default: all six; 'none' skips them)")
    parser.add_argument("--seq-folds", type=int, default=4, help="folds of the sequential reference (0: skip it)")
    parser.add_argument("--seq-pooling", default="attention")
    parser.add_argument("--films", type=int, default=110)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", help="write the figures here")
    args = parser.parse_args(argv)
    if args.full:
        args.epochs = args.target_epochs
        args.sklearn_folds = args.films
        args.seq_folds = 0

    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    import torch

    torch.set_num_threads(args.threads)
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from bench_sklearn_mil import tree_cpu

    from scorelens.analysis._evaluation import cross_val_estimator, make_folds
    from scorelens.analysis._metrics import genre_scores
    from scorelens.config import ModelConfig
    from scorelens.mil._models import display_name, make_model
    from scorelens.mil._network import auto_precision, resolve_precision
    from scorelens.mil._step import aligned
    from scorelens.mil._training import cross_val_network

    reason = auto_precision().reason if args.precision == "auto" else "set explicitly"
    args.precision = resolve_precision(args.precision)
    hidden_sizes = [int(h) for h in args.hidden.split(",")]
    config = ModelConfig(seed=args.seed, epochs=args.epochs, precision=args.precision)
    poolings = [] if args.poolings == "none" else (args.poolings.split(",") if args.poolings else config.poolings)
    sets = [fs for fs in study_corpus(args.seed, args.films) if fs.kind in args.kinds.split(",")]
    n = args.films
    folds = make_folds(n, config)
    Y = sets[0].Y
    k_sk = min(args.sklearn_folds, n)
    sk_folds = np.linspace(0, n - 1, max(k_sk, 1)).round().astype(int)
    print(f"corpus: {n} films, label counts {Y.sum(axis=0).tolist()}, "
          f"{np.mean([len(b) for b in sets[0].bags]):.1f} cues/film; threads={args.threads}; kinds "
          f"{[fs.kind for fs in sets]}")
    print(f"networks: {args.epochs} epochs run" + ("" if args.epochs == args.target_epochs else
                                                  f", times extrapolated to {args.target_epochs} epochs") +
          f"; hidden sizes {hidden_sizes}, precision={args.precision} ({reason})")
    print(f"Simple MI / IMV: {k_sk} of {n} folds fitted" + (f", times scaled x{n / k_sk:g}" if k_sk else " (skipped)"))
    rows, scores = [], {}
    t_all = time.perf_counter()

    def score(kind, key, pred):
        macro = genre_scores(Y, pred, sets[0].taxonomy)["macro"]
        scores[(kind, key)] = macro
        return f"P {macro['precision']:.3f} R {macro['recall']:.3f} F1 {macro['f1']:.3f}"

    for key in ("random", "plurality"):
        with Clock() as c:
            _, pred = cross_val_estimator(make_model(key), sets[0].bags, Y, folds, seed=args.seed)
        rows.append(("none", key, c.wall, c.wall, c.cpu, c.cpu))
        print(f"  {'none':7s} {display_name(key):18s} {score('none', key, pred)}")
    vec_results = {}
    for fs in sets:
        for key in [f"{f}:{b}" for f in ("simple_mi", "imv") for b in config.base_classifiers if k_sk]:
            c0 = tree_cpu()
            with Clock() as c:
                _, pred = cross_val_estimator(make_model(key), fs.bags, Y, [folds[i] for i in sk_folds],
                                              seed=args.seed, n_jobs=args.threads)
            cpu = tree_cpu() - c0
            rows.append((fs.kind, key, c.wall, c.wall * n / k_sk, cpu, cpu * n / k_sk))
            table = f"  {score(fs.kind, key, pred)}" if k_sk == n else ""
            print(f"  {fs.kind:7s} {display_name(key):18s} wall {c.wall:7.1f} s  cpu {cpu:7.1f} s measured  -> "
                  f"all folds: wall {c.wall * n / k_sk:7.0f} s  cpu {cpu * n / k_sk:7.0f} s{table}", flush=True)
        for hidden in hidden_sizes:
            for pooling in poolings:
                epochs = EpochClock()
                with Clock() as c:
                    res = cross_val_network(fs.bags, Y, folds, pooling=pooling, hidden=hidden, epochs=args.epochs,
                                            seed=args.seed, n_jobs=args.threads, precision=args.precision,
                                            on_epoch=epochs)
                vec_results[(fs.kind, pooling, hidden)] = res.proba
                e_wall, e_cpu = epochs.steady_epoch()
                more = args.target_epochs - args.epochs
                wall_x, cpu_x = c.wall + more * e_wall, c.cpu + more * e_cpu
                rows.append((fs.kind, f"network:{pooling}", c.wall, wall_x, c.cpu, cpu_x, hidden))
                pred = (res.proba >= config.threshold).astype(np.int64)
                print(f"  {fs.kind:7s} {display_name(pooling):14s} {hidden:3d}  wall {c.wall:7.1f} s  cpu "
                      f"{c.cpu:7.1f} s measured (epoch {e_wall:.2f} s wall, {e_cpu:.2f} s cpu) -> "
                      f"{args.target_epochs} epochs: wall {wall_x:7.0f} s  cpu {cpu_x:7.0f} s  "
                      f"{score(fs.kind, f'network:{pooling}:{hidden}', pred)}", flush=True)
    wall = time.perf_counter() - t_all
    extrapolated_total = sum(r[3] for r in rows)
    cpu_total = sum(r[5] for r in rows)
    print()
    print(f"measured wall time of this run: {wall:.1f} s")
    print(f"load average (1 min) at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    what = "measured" if args.full else f"extrapolated to {args.target_epochs} epochs and all folds"
    print(f"whole sweep {what}: wall {extrapolated_total:.0f} s ({extrapolated_total / 60:.1f} min) on this "
          f"machine as loaded; CPU {cpu_total:.0f} s, i.e. about {cpu_total / args.threads / 60:.1f} min on "
          f"{args.threads} idle cores (networks {sum(r[5] for r in rows if 'network' in r[1]) / args.threads:.0f} s, "
          f"Simple MI/IMV {sum(r[5] for r in rows if r[1].startswith(('simple', 'imv'))) / args.threads:.0f} s)")
    reference = {}
    if args.seq_folds and poolings:
        if args.seq_pooling not in poolings:
            args.seq_pooling = poolings[0]
        reference = sequential_reference(args, sets[0], Y, folds, rows, vec_results, hidden_sizes[-1])
    # How far the networks are from what their arithmetic alone needs on this CPU, per hidden size.
    dtype = torch.bfloat16 if args.precision == "bfloat16" else torch.float32
    with_threads = torch.get_num_threads()
    torch.set_num_threads(1)
    floors = []
    for hidden in hidden_sizes:
        useful = computed = floor = 0.0
        for fs in sets:
            sizes = np.array([len(b) for b in fs.bags])
            dim = fs.bags[0].shape[1]
            rate = gemm_rate(dtype, 640, aligned(dim), hidden)
            for p in poolings:
                f_useful = network_flops(sizes, dim, hidden, Y.shape[1], p, args.target_epochs, n)
                useful += f_useful
                computed += computed_flops(sizes, Y, dim, hidden, p, args.target_epochs, config.batch_size, args.seed)
                floor += f_useful / (rate * args.threads)
        measured = sum(r[5] for r in rows if "network" in r[1] and r[6] == hidden) / args.threads
        floors.append({"hidden": hidden, "useful_tflop": useful / 1e12, "computed_tflop": computed / 1e12,
                       "floor_s": floor, "measured_s": measured, "ratio": measured / floor if floor else float("nan")})
        if poolings:
            print(f"networks, {hidden} units: {useful / 1e12:.0f} Tflop at {args.target_epochs} epochs (the step "
                  f"computes {computed / useful:.2f}x that: padded widths and rows, held-out bags); at this CPU's "
                  f"{args.precision} batched GEMM rate ({rate / 1e9:.0f} Gflop/s per core at the MIR shape) the "
                  f"arithmetic alone needs {floor / 60:.1f} min on {args.threads} cores; {what}: "
                  f"{measured / 60:.1f} min of CPU per core = {measured / floor:.2f}x the floor")
    torch.set_num_threads(with_threads)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"args": vars(args), "precision_reason": reason, "wall_s": wall, "floors": floors,
                       "extrapolated_total_s": extrapolated_total,
                       "extrapolated_total_cpu_s": cpu_total, "loadavg": os.getloadavg(),
                       "rows": [{"features": r[0], "model": r[1], "hidden": r[6] if len(r) > 6 else None,
                                 "measured_s": r[2], "extrapolated_s": r[3],
                                 "measured_cpu_s": r[4], "extrapolated_cpu_s": r[5]} for r in rows],
                       "scores": [{"features": k[0], "model": k[1], **v} for k, v in scores.items()],
                       **reference}, fh, indent=2)
    return 0


def sequential_reference(args, fs, Y, folds, rows, vec_results, hidden) -> dict:
    """Folds trained one at a time (and a naive loop) against the vectorised run, on a few folds."""
    from scorelens.mil import MILClassifier
    from scorelens.mil._training import cross_val_network

    n = len(fs.bags)
    subset = list(np.linspace(0, n - 1, min(args.seq_folds, n)).round().astype(int))
    with Clock() as c_seq:
        seq = cross_val_network(fs.bags, Y, folds, pooling=args.seq_pooling, hidden=hidden, epochs=args.epochs,
                                seed=args.seed, n_jobs=args.threads, vectorise=False, only=subset,
                                precision=args.precision)
    vec = vec_results[(fs.kind, args.seq_pooling, hidden)]
    identical = bool(np.array_equal(seq.proba[subset], vec[subset]))
    vec_row = next(r for r in rows if r[0] == fs.kind and r[1] == f"network:{args.seq_pooling}" and r[6] == hidden)
    t_vec, cpu_vec = vec_row[2], vec_row[4]
    t_seq_all, cpu_seq_all = c_seq.wall * n / len(subset), c_seq.cpu * n / len(subset)
    # What a user would write without the fold machinery: a fresh estimator per fold, fitted
    # with PyTorch's own multi-threading (its own batch order, so not the same numbers).
    with Clock() as c_naive:
        for f in subset:
            train = np.setdiff1d(np.arange(n), folds[f])
            clf = MILClassifier(args.seq_pooling, hidden=hidden, epochs=args.epochs, random_state=args.seed,
                                precision=args.precision)
            clf.fit([fs.bags[i] for i in train], Y[train]).predict_proba([fs.bags[i] for i in folds[f]])
    t_naive_all = c_naive.wall * n / len(subset)
    print(f"sequential reference ({args.seq_pooling}, {fs.kind}, {hidden} units, one fold per stack, "
          f"{args.threads} at a time): {len(subset)} folds in {c_seq.wall:.1f} s wall / {c_seq.cpu:.1f} s CPU -> "
          f"{n} folds (extrapolated): wall {t_seq_all:.1f} s, CPU {cpu_seq_all:.1f} s; vectorised wall {t_vec:.1f} s, "
          f"CPU {cpu_vec:.1f} s: speed ratio {t_seq_all / t_vec:.2f}x wall, {cpu_seq_all / cpu_vec:.2f}x CPU")
    print(f"vectorised == sequential, bit for bit, on folds {subset}: {identical}")
    print(f"naive loop (MILClassifier.fit per fold, {args.threads} intra-op threads): wall {t_naive_all:.1f} s "
          f"for {n} folds (extrapolated from {len(subset)}): speed ratio {t_naive_all / t_vec:.2f}x wall")
    return {"sequential": {"folds": [int(f) for f in subset], "extrapolated_s": t_seq_all, "vectorised_s": t_vec,
                           "extrapolated_cpu_s": cpu_seq_all, "vectorised_cpu_s": cpu_vec,
                           "ratio": t_seq_all / t_vec, "identical": identical},
            "naive_loop": {"extrapolated_s": t_naive_all, "ratio": t_naive_all / t_vec}}


if __name__ == "__main__":
    sys.exit(main())
