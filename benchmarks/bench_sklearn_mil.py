"""CPU time of the scikit-learn part of the Table 4 sweep (Simple MI and IMV), before and after.

Fits a few leave-one-out folds of each Simple MI / IMV model on the synthetic corpus of
the study's shape (``bench_table4.study_corpus``: 110 films, ~40 cues per film, 128-d
"vggish" and 140-d "mir" cue features), measures CPU time and extrapolates it to the
sweep: 110 folds x 2 feature kinds, divided by ``--jobs`` cores.

CPU time, not wall time, because other benchmarks may share the machine. It counts this
process, its reaped children and its live descendants (joblib's loky workers, read from
``/proc``), so process-based and thread-based folds are measured alike. The one-off
start-up of the worker processes is reported on its own line.

"Before" is the code at ``--baseline`` (a git revision, default: the commit preceding
this work), exported with ``git archive`` and run in a subprocess with the same corpus,
folds and seed; its out-of-fold probabilities and predictions are compared with the
current code's. Other jobs on the machine inflate CPU time too (shared caches and
memory bandwidth); ``--rounds R`` alternates before and after R times and keeps each
model's least CPU time.

Usage::

    python benchmarks/bench_sklearn_mil.py                      # 4 folds per model (110 for the cheap ones)
    python benchmarks/bench_sklearn_mil.py --folds 6 --rounds 3           # steadier on a shared machine
    python benchmarks/bench_sklearn_mil.py --folds 10 --no-baseline
    python benchmarks/bench_sklearn_mil.py --models imv:rf,imv:rf:binary --folds 2 --no-baseline

``imv:rf:binary`` is IMV with one binary forest per genre (the study's binary relevance,
``InstanceMajorityVote("rf", multi_output=False)``, now the default); it exists in the
current code only. ``imv:rf`` here is the multi-output forest (``multi_output=True``), the
baseline revision's default, so that before and after compare the same model.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
MODELS = ("simple_mi:knn", "simple_mi:svm", "simple_mi:rf", "imv:knn", "imv:svm", "imv:rf")
#: The commit before the CPU work on Simple MI / IMV (threads, float32 shared kernel).
BASELINE = "d2d55bf"
#: Models that take milliseconds per fold: fitted on ``--cheap-folds`` folds, since a
#: few folds would mostly time the start of each parallel call.
CHEAP = ("simple_mi:knn", "simple_mi:svm", "imv:knn")


def tree_cpu() -> float:
    """CPU seconds (user + system) of this process, its reaped children and its live descendants."""
    total = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        ru = resource.getrusage(who)
        total += ru.ru_utime + ru.ru_stime
    tick = os.sysconf("SC_CLK_TCK")
    parent, cpu = {}, {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as fh:
                stat = fh.read()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        pid = int(name)
        parent[pid] = int(fields[1])
        # utime, stime, and cutime, cstime (their own reaped children)
        cpu[pid] = sum(int(x) for x in fields[11:15]) / tick
    me = os.getpid()
    for pid, seconds in cpu.items():
        p = parent.get(pid)
        while p is not None and p > 1 and p != me:
            p = parent.get(p)
        if p == me and pid != me:
            total += seconds
    return total


def make_estimator(key: str):
    from scorelens.mil._models import make_model

    if key in ("imv:rf", "imv:rf:binary"):
        from scorelens.mil import InstanceMajorityVote

        # imv:rf stays the multi-output forest the baseline revision grew by default (binary
        # relevance became the default later), so that before and after compare like with like.
        return InstanceMajorityVote("rf", multi_output=key == "imv:rf")
    return make_model(key)


def n_folds(args, key: str) -> int:
    return min(args.cheap_folds if key in CHEAP else args.folds, args.films)


def measure(args) -> dict:
    """Fit ``args.folds`` folds of each model on each kind; CPU and wall seconds, and the predictions."""
    sys.path.insert(0, str(HERE))
    from bench_table4 import study_corpus

    from scorelens.analysis._evaluation import cross_val_estimator, make_folds
    from scorelens.config import ModelConfig

    sets = [fs for fs in study_corpus(args.seed, args.films) if fs.kind in args.kinds]
    n = args.films
    Y = sets[0].Y
    folds = make_folds(n, ModelConfig(seed=args.seed))
    out = {"rows": [], "arrays": {}}
    # Start the worker pool (if the code uses one) outside the timed models: a one-off of the
    # session. Two folds of kNN Simple MI load the package in each worker.
    c0, w0 = tree_cpu(), time.perf_counter()
    cross_val_estimator(make_estimator("simple_mi:knn"), sets[0].bags, Y, folds[:2 * args.jobs], seed=args.seed,
                        n_jobs=args.jobs)
    out["startup"] = {"cpu": tree_cpu() - c0, "wall": time.perf_counter() - w0}
    for fs in sets:
        for key in args.models:
            picked = np.linspace(0, n - 1, n_folds(args, key)).round().astype(int)
            est = make_estimator(key)
            c0, w0 = tree_cpu(), time.perf_counter()
            proba, pred = cross_val_estimator(est, fs.bags, Y, [folds[i] for i in picked], seed=args.seed,
                                              n_jobs=args.jobs)
            cpu, wall = tree_cpu() - c0, time.perf_counter() - w0
            out["rows"].append({"kind": fs.kind, "model": key, "cpu": cpu, "wall": wall, "folds": len(picked)})
            out["arrays"][f"{fs.kind}|{key}|proba"] = proba[picked].tolist()
            out["arrays"][f"{fs.kind}|{key}|pred"] = pred[picked].tolist()
            print(f"    {fs.kind:7s} {key:15s} {len(picked)} folds: cpu {cpu:7.2f} s  wall {wall:6.2f} s", flush=True)
    return out


def run_baseline(args) -> dict | None:
    """The same measurement with the package as it was at ``args.baseline``, in a subprocess."""
    with tempfile.TemporaryDirectory(prefix="bench_sklearn_mil_") as tmp:
        archive = subprocess.run(["git", "-C", str(REPO), "archive", args.baseline, "src/scorelens"],
                                 check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", tmp], input=archive, check=True)
        out_json = Path(tmp) / "baseline.json"
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(Path(tmp) / "src"), os.environ.get("PYTHONPATH", "")]))
        cmd = [sys.executable, __file__, "--measure-only", str(out_json), "--folds", str(args.folds),
               "--cheap-folds", str(args.cheap_folds),
               "--jobs", str(args.jobs), "--films", str(args.films), "--seed", str(args.seed),
               "--kinds", ",".join(args.kinds), "--models", ",".join(m for m in args.models if m in MODELS)]
        subprocess.run(cmd, check=True, env=env)
        return json.loads(out_json.read_text())


def measure_in_subprocess(args) -> dict:
    """:func:`measure` in a fresh process (later rounds: each round starts its workers anew)."""
    with tempfile.TemporaryDirectory(prefix="bench_sklearn_mil_") as tmp:
        out_json = Path(tmp) / "after.json"
        cmd = [sys.executable, __file__, "--measure-only", str(out_json), "--folds", str(args.folds),
               "--cheap-folds", str(args.cheap_folds), "--jobs", str(args.jobs), "--films", str(args.films),
               "--seed", str(args.seed), "--kinds", ",".join(args.kinds), "--models", ",".join(args.models)]
        subprocess.run(cmd, check=True)
        return json.loads(out_json.read_text())


def best_of(runs: list[dict]) -> dict:
    """Each model's least CPU time over the rounds (other jobs on the machine only ever add to it)."""
    best = dict(runs[0], rows=[])
    for i, row in enumerate(runs[0]["rows"]):
        best["rows"].append(min((run["rows"][i] for run in runs), key=lambda r: r["cpu"]))
    best["startup"] = min((run["startup"] for run in runs), key=lambda s: s["cpu"])
    return best


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--folds", type=int, default=4, help="leave-one-out folds fitted per model and kind")
    parser.add_argument("--jobs", type=int, default=2, help="parallel workers, and the cores the sweep is scaled to")
    parser.add_argument("--cheap-folds", type=int, default=110, help="folds of " + ", ".join(CHEAP))
    parser.add_argument("--films", type=int, default=110)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--kinds", default="vggish,mir")
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--baseline", default=BASELINE, help="git revision of the 'before' code")
    parser.add_argument("--no-baseline", action="store_true", help="measure the current code only")
    parser.add_argument("--rounds", type=int, default=1,
                        help="alternate before/after this many times and keep each model's least CPU time")
    parser.add_argument("--json", help="write the figures here")
    parser.add_argument("--measure-only", metavar="JSON", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.kinds = args.kinds.split(",")
    args.models = args.models.split(",")
    import scorelens

    if args.measure_only:
        print(f"  scorelens from {Path(scorelens.__file__).parent}", flush=True)
        Path(args.measure_only).write_text(json.dumps(measure(args)))
        return 0

    print(f"{min(args.folds, args.films)} of {args.films} leave-one-out folds per model and kind "
          f"({min(args.cheap_folds, args.films)} for {', '.join(CHEAP)}), {args.jobs} jobs; CPU extrapolated to the "
          f"sweep (all folds, 2 kinds) and divided by {args.jobs} cores")
    befores, afters = [], []
    for r in range(args.rounds):
        if not args.no_baseline:
            print(f"before ({args.baseline}), round {r + 1} of {args.rounds}:", flush=True)
            befores.append(run_baseline(args))
        print(f"after (working tree), round {r + 1} of {args.rounds}:", flush=True)
        afters.append(measure(args) if r == 0 else measure_in_subprocess(args))
    before = best_of(befores) if befores else None
    after = best_of(afters)

    def sweep(rows, model, what="cpu"):
        per_core = args.jobs if what == "cpu" else 1
        return sum(r[what] * args.films / r["folds"] for r in rows if r["model"] == model) \
            * 2 / len(args.kinds) / per_core

    print()
    print(f"{'':15s} {'sweep CPU / ' + str(args.jobs) + ' cores (s)':>26s}  {'sweep wall (s), as loaded':>27s}")
    print(f"{'model':15s} {'before':>9s} {'after':>9s} {'ratio':>6s}  {'before':>9s} {'after':>9s} {'ratio':>6s}"
          f"   same numbers on the fitted folds")
    summary = []
    for model in args.models:
        b = sweep(before["rows"], model) if before and model in MODELS else float("nan")
        a = sweep(after["rows"], model)
        same = []
        if before and model in MODELS:
            for kind in args.kinds:
                pa = np.array(after["arrays"][f"{kind}|{model}|proba"])
                pb = np.array(before["arrays"][f"{kind}|{model}|proba"])
                ya = np.array(after["arrays"][f"{kind}|{model}|pred"])
                yb = np.array(before["arrays"][f"{kind}|{model}|pred"])
                if np.array_equal(pa, pb) and np.array_equal(ya, yb):
                    same.append(f"{kind}: identical")
                else:
                    same.append(f"{kind}: {int((ya != yb).sum())} predictions differ, "
                                f"max |proba diff| {np.abs(pa - pb).max():.3g}")
        bw = sweep(before["rows"], model, "wall") if before and model in MODELS else float("nan")
        aw = sweep(after["rows"], model, "wall")
        summary.append({"model": model, "before_s": b, "after_s": a, "before_wall_s": bw, "after_wall_s": aw,
                        "same": same})
        print(f"{model:15s} {b:9.0f} {a:9.0f} {b / a:6.2f}  {bw:9.0f} {aw:9.0f} {bw / aw:6.2f}   {'; '.join(same)}")
    t = {k: sum(s[k] for s in summary if s["model"] in MODELS)
         for k in ("before_s", "after_s", "before_wall_s", "after_wall_s")}
    print(f"{'total':15s} {t['before_s']:9.0f} {t['after_s']:9.0f} {t['before_s'] / t['after_s']:6.2f}  "
          f"{t['before_wall_s']:9.0f} {t['after_wall_s']:9.0f} {t['before_wall_s'] / t['after_wall_s']:6.2f}   "
          f"(CPU / {args.jobs}: {t['before_s'] / 60:.1f} -> {t['after_s'] / 60:.1f} min)")
    st = after["startup"]
    print(f"worker start-up (once per session, not in the total): cpu {st['cpu']:.1f} s, wall {st['wall']:.1f} s"
          + (f"; before: cpu {before['startup']['cpu']:.1f} s" if before else ""))
    print(f"load average (1 min) at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    if args.json:
        Path(args.json).write_text(json.dumps({"args": vars(args), "summary": summary, "before": before and
                                               {k: before[k] for k in ("rows", "startup")},
                                               "after": {k: after[k] for k in ("rows", "startup")}},
                                              indent=2, default=float))
    return 0


if __name__ == "__main__":
    sys.exit(main())
