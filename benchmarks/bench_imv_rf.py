"""IMV random forest: one multi-output forest against the study's binary relevance (6 forests).

Table 4's IMV-RF row (macro precision, recall, F1) with each decomposition on the
synthetic corpus of the study's shape (``bench_table4.study_corpus``: 110 films, the
study's genre counts, ~40 cues per film, 128-d "vggish" and 140-d "mir" cue features),
for several corpus seeds. Each seed draws its own corpus, folds and forests.

"Same within noise" is judged against two yardsticks printed below the rows:

* the forests' own noise: on the first corpus and folds, the multi-output forest is
  refitted with ``--noise-seeds`` other forest seeds; the spread (SD) of its row is what
  a change of seed alone moves it by;
* per seed, a paired t-test across films of per-film F1 (multi-output against binary
  relevance), as Table 4 tests models against the random guess.

Binary relevance costs about six times the CPU time, so the protocol is reduced to
``--cv`` folds (k-fold, not leave-one-out; stated in the output). CPU time counts this
process and its worker processes.

``--speed K``: instead, the cost of the study's form (six binary forests of 100 trees per
leave-one-out fold) grown by scikit-learn and by the compiled builder
(:mod:`scorelens.mil._forest`), on K evenly spaced leave-one-out folds of each kind, the two
interleaved fold by fold in this process (one core), with their out-of-fold probabilities
and predictions compared bit for bit; the CPU time is extrapolated to all folds and both
kinds on ``--jobs`` cores.

``--against SRC``: instead, the compiled builder of another checkout (``SRC`` is its ``src``
folder, e.g. ``git archive <rev> src | tar -x -C /tmp/base``) against this one's, on the same
K folds, interleaved fold by fold in this process, with every forest's probabilities on the
held-out film compared bit for bit. Interleaving keeps the ratio fair on a shared machine,
whose speed drifts by more than the difference between two versions of the builder.

Usage::

    nice -n 10 python benchmarks/bench_imv_rf.py                    # 5-fold, seeds 0,1,2, both kinds
    nice -n 10 python benchmarks/bench_imv_rf.py --cv 10 --seeds 0 --kinds vggish
    taskset -c 1 python benchmarks/bench_imv_rf.py --speed 4        # scikit-learn vs compiled forests
    taskset -c 1 python benchmarks/bench_imv_rf.py --speed 8 --against /tmp/base/src   # two builders
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def row(Y, pred, taxonomy) -> dict:
    from scorelens.analysis._metrics import genre_scores

    return genre_scores(Y, pred, taxonomy)["macro"]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cv", type=int, default=5, help="k of k-fold cross-validation")
    parser.add_argument("--seeds", default="0,1,2", help="corpus (and fold, forest) seeds")
    parser.add_argument("--kinds", default="vggish,mir")
    parser.add_argument("--noise-seeds", type=int, default=4,
                        help="extra forest seeds of the multi-output forest on the first corpus")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--films", type=int, default=110)
    parser.add_argument("--speed", type=int, default=0, metavar="K",
                        help="time K leave-one-out folds of binary-relevance IMV-RF, scikit-learn vs compiled")
    parser.add_argument("--speed-kfold", action="store_true",
                        help="with --speed: all --cv folds instead, and Table 4's IMV-RF row of both")
    parser.add_argument("--against", metavar="SRC",
                        help="with --speed: another checkout's src folder, whose compiled builder is timed "
                             "against this one's instead of scikit-learn")
    parser.add_argument("--json", help="write the figures here")
    args = parser.parse_args(argv)
    if args.against and not (Path(args.against) / "scorelens" / "mil" / "_forest_kernels.py").is_file():
        parser.error(f"--against {args.against}: not a checkout's src folder (no scorelens/mil/_forest_kernels.py)")
    if args.against and not args.speed:
        parser.error("--against needs --speed K (the folds to time)")
    if args.speed and args.against:
        return against(args)
    if args.speed:
        return speed(args)

    sys.path.insert(0, str(HERE))
    from bench_sklearn_mil import tree_cpu
    from bench_table4 import study_corpus

    from scorelens.analysis._evaluation import cross_val_estimator, make_folds
    from scorelens.analysis._metrics import paired_test
    from scorelens.config import ModelConfig
    from scorelens.mil import InstanceMajorityVote

    seeds = [int(s) for s in args.seeds.split(",")]
    kinds = args.kinds.split(",")
    print(f"IMV-RF, multi-output vs binary relevance: {args.films} films, {args.cv}-fold CV "
          f"(the study: leave-one-out), seeds {seeds}, kinds {kinds}, {args.jobs} jobs")
    print(f"{'seed':>4s} {'kind':7s} {'forest':8s} {'prec':>6s} {'recall':>6s} {'f1':>6s} {'cpu s':>7s}")
    results, noise = [], []
    for seed in seeds:
        sets = {fs.kind: fs for fs in study_corpus(seed, args.films) if fs.kind in kinds}
        folds = make_folds(args.films, ModelConfig(seed=seed, cv=f"kfold:{args.cv}"))
        for kind, fs in sets.items():
            preds = {}
            for name, multi in (("multi", True), ("binary", False)):
                c0, w0 = tree_cpu(), time.perf_counter()
                _, pred = cross_val_estimator(InstanceMajorityVote("rf", multi_output=multi), fs.bags, fs.Y, folds,
                                              seed=seed, n_jobs=args.jobs)
                cpu, wall = tree_cpu() - c0, time.perf_counter() - w0
                preds[name] = pred
                r = row(fs.Y, pred, fs.taxonomy)
                results.append({"seed": seed, "kind": kind, "forest": name, **r, "cpu_s": cpu, "wall_s": wall})
                print(f"{seed:4d} {kind:7s} {name:8s} {r['precision']:6.3f} {r['recall']:6.3f} {r['f1']:6.3f} "
                      f"{cpu:7.1f}", flush=True)
            t = paired_test(fs.Y, preds["multi"], preds["binary"], metric="f1")
            agree = float((preds["multi"] == preds["binary"]).mean())
            results.append({"seed": seed, "kind": kind, "forest": "paired", "t": t["t"], "p": t["p"],
                            "agreement": agree})
            print(f"{seed:4d} {kind:7s} paired t-test of per-film F1: t = {t['t']:.2f}, p = {t['p']:.3f}; "
                  f"film-genre decisions equal in {agree:.1%}", flush=True)
            if seed == seeds[0]:
                for extra in range(1, args.noise_seeds + 1):
                    _, pred = cross_val_estimator(InstanceMajorityVote("rf", multi_output=True), fs.bags, fs.Y,
                                                  folds, seed=seed + 1000 * extra, n_jobs=args.jobs)
                    noise.append({"kind": kind, "forest_seed": seed + 1000 * extra, **row(fs.Y, pred, fs.taxonomy)})
    print()
    for kind in kinds:
        base = [r for r in results if r["kind"] == kind and r["seed"] == seeds[0] and r["forest"] == "multi"]
        spread = [n for n in noise if n["kind"] == kind] + base
        if len(spread) > 1:
            sd = {m: float(np.std([s[m] for s in spread], ddof=1)) for m in ("precision", "recall", "f1")}
            print(f"{kind}: forest-seed noise of the multi-output row (seed {seeds[0]}, {len(spread)} forest seeds): "
                  f"SD precision {sd['precision']:.3f}, recall {sd['recall']:.3f}, f1 {sd['f1']:.3f}")
        diffs = {m: [next(r for r in results if r["seed"] == s and r["kind"] == kind and r["forest"] == "multi")[m]
                     - next(r for r in results if r["seed"] == s and r["kind"] == kind and r["forest"] == "binary")[m]
                     for s in seeds] for m in ("precision", "recall", "f1")}
        print(f"{kind}: multi - binary over seeds: " + ", ".join(
            f"{m} {np.mean(v):+.3f} (per seed {', '.join(f'{x:+.3f}' for x in v)})" for m, v in diffs.items()))
    cpu = {name: sum(r["cpu_s"] for r in results if r["forest"] == name) for name in ("multi", "binary")}
    print(f"CPU time, all seeds and kinds: multi-output {cpu['multi']:.0f} s, binary relevance {cpu['binary']:.0f} s "
          f"(ratio {cpu['binary'] / cpu['multi']:.1f}x); machine shared with other jobs")
    if args.json:
        Path(args.json).write_text(json.dumps({"args": vars(args), "results": results, "noise": noise}, indent=2))
    return 0


def speed(args) -> int:
    """scikit-learn's and the compiled forests on the same folds: CPU time and identity."""
    sys.path.insert(0, str(HERE))
    from bench_table4 import study_corpus
    from sklearn.ensemble import RandomForestClassifier

    from scorelens.analysis._evaluation import make_folds
    from scorelens.config import ModelConfig
    from scorelens.mil import InstanceMajorityVote
    from scorelens.mil import _forest as forest
    from scorelens.mil._crossval import cross_val_estimator

    seed = int(args.seeds.split(",")[0])
    kinds = args.kinds.split(",")
    sets = {fs.kind: fs for fs in study_corpus(seed, args.films) if fs.kind in kinds}
    if args.speed_kfold:
        folds = make_folds(args.films, ModelConfig(seed=seed, cv=f"kfold:{args.cv}"))
        chosen = np.arange(len(folds))
    else:
        folds = make_folds(args.films, ModelConfig(seed=seed))
        chosen = np.linspace(0, args.films - 1, args.speed).round().astype(int)
    # Load (or compile) the builder and run its self-check before timing.
    forest.fit_binary_forests(RandomForestClassifier(n_estimators=1, random_state=0),
                              np.random.default_rng(0).normal(size=(20, 3)), np.arange(20)[:, None] % 2)
    protocol = f"{args.cv}-fold" if args.speed_kfold else "leave-one-out"
    print(f"IMV-RF (six binary forests of 100 trees per fold), {len(chosen)} of {len(folds)} {protocol} folds "
          f"per kind, corpus seed {seed}, one process; load average {os.getloadavg()[0]:.1f} on "
          f"{os.cpu_count()} cores (shared machine)")
    cpu = {"sklearn": 0.0, "compiled": 0.0}
    same = True
    rows, table = [], []
    for kind, fs in sets.items():
        oof = {name: [np.zeros(fs.Y.shape), np.zeros(fs.Y.shape, dtype=np.int64)] for name in cpu}
        for f in chosen:
            out = {}
            for name, enabled in (("sklearn", False), ("compiled", True)):
                forest.ENABLED = enabled
                c0 = time.process_time()
                out[name] = cross_val_estimator(InstanceMajorityVote("rf"), fs.bags, fs.Y, [folds[f]], seed=seed,
                                                n_jobs=1)
                cpu[name] += time.process_time() - c0
                rows.append({"kind": kind, "fold": int(f), "forests": name, "cpu_s": time.process_time() - c0})
            forest.ENABLED = True
            test = folds[f]
            for name in cpu:
                oof[name][0][test], oof[name][1][test] = out[name][0][test], out[name][1][test]
            equal = all(np.array_equal(out["sklearn"][i][test], out["compiled"][i][test]) for i in (0, 1))
            same &= equal
            print(f"  {kind:7s} fold {f:3d}: scikit-learn {rows[-2]['cpu_s']:6.2f} s, compiled "
                  f"{rows[-1]['cpu_s']:6.2f} s CPU; probabilities and predictions identical: {equal}", flush=True)
        if args.speed_kfold:
            for name in cpu:
                r = row(fs.Y, oof[name][1], fs.taxonomy)
                table.append({"kind": kind, "forests": name, **r})
                print(f"  {kind:7s} Table 4 IMV-RF row, {protocol}, forests by {name:8s}: precision "
                      f"{r['precision']:.4f} recall {r['recall']:.4f} F1 {r['f1']:.4f}")
    n_folds = len(chosen) * len(sets)
    n_all = len(folds) if args.speed_kfold else args.films
    ratio = cpu["sklearn"] / cpu["compiled"]
    total = {k: v / n_folds * n_all * 2 / args.jobs for k, v in cpu.items()}
    print(f"CPU per fold: scikit-learn {cpu['sklearn'] / n_folds:.2f} s, compiled {cpu['compiled'] / n_folds:.2f} s: "
          f"{ratio:.2f}x; identical on every fold: {same}")
    print(f"extrapolated to {n_all} {protocol} folds x 2 kinds on {args.jobs} idle cores: "
          f"scikit-learn {total['sklearn'] / 60:.1f} min, compiled {total['compiled'] / 60:.1f} min")
    if args.json:
        Path(args.json).write_text(json.dumps({"args": vars(args), "rows": rows, "table4": table, "ratio": ratio,
                                               "identical": same,
                                               "extrapolated_min": {k: v / 60 for k, v in total.items()}}, indent=2))
    return 0 if same else 1


def _load_module(path: Path, name: str):
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def against(args) -> int:
    """Another checkout's compiled forests against this one's on the same folds: CPU time and identity."""
    sys.path.insert(0, str(HERE))
    from bench_table4 import study_corpus
    from sklearn.ensemble import RandomForestClassifier

    from scorelens.analysis._evaluation import make_folds
    from scorelens.config import ModelConfig
    from scorelens.mil import _forest as forest

    src = Path(args.against) / "scorelens" / "mil"
    baseline = _load_module(src / "_forest.py", "baseline_forest")
    baseline._GROW = _load_module(src / "_forest_kernels.py", "baseline_forest_kernels").grow
    builders = {"baseline": baseline, "this": forest}
    seed = int(args.seeds.split(",")[0])
    kinds = args.kinds.split(",")
    sets = {fs.kind: fs for fs in study_corpus(seed, args.films) if fs.kind in kinds}
    folds = make_folds(args.films, ModelConfig(seed=seed))
    chosen = np.linspace(0, args.films - 1, args.speed).round().astype(int)
    template = RandomForestClassifier(n_estimators=100, random_state=seed)
    warm = np.random.default_rng(0).normal(size=(300, 5)).astype(np.float32)
    for module in builders.values():       # compile (or load) both builders and run their self-checks
        module.fit_binary_forests(template, warm, (warm[:, :2] > 0).astype(np.int64))
    print(f"IMV-RF's six binary forests of 100 trees, {len(chosen)} of {len(folds)} leave-one-out folds per kind, "
          f"corpus seed {seed}, one process, the two builders interleaved fold by fold; load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; baseline: {args.against}")
    cpu = {name: 0.0 for name in builders}
    same = True
    rows = []
    for kind, fs in sets.items():
        for f in chosen:
            test = set(int(b) for b in folds[f])
            train = [b for b in range(len(fs.bags)) if b not in test]
            X = np.concatenate([fs.bags[b] for b in train])
            Y = np.concatenate([np.repeat(fs.Y[b][None], len(fs.bags[b]), axis=0) for b in train])
            held_out = np.concatenate([fs.bags[b] for b in sorted(test)])
            proba = {}
            for name, module in builders.items():
                c0 = time.process_time()
                fitted = module.fit_binary_forests(template, X, Y)
                spent = time.process_time() - c0
                cpu[name] += spent
                rows.append({"kind": kind, "fold": int(f), "builder": name, "cpu_s": spent})
                proba[name] = np.stack([m.predict_proba(held_out)[:, 1] for m in fitted])
            equal = np.array_equal(proba["baseline"], proba["this"])
            same &= equal
            print(f"  {kind:7s} fold {f:3d}: baseline {rows[-2]['cpu_s']:6.2f} s, this {rows[-1]['cpu_s']:6.2f} s CPU "
                  f"({rows[-2]['cpu_s'] / rows[-1]['cpu_s']:.2f}x); held-out probabilities identical: {equal}",
                  flush=True)
    n_folds = len(chosen) * len(sets)
    ratio = cpu["baseline"] / cpu["this"]
    per_fold = {name: [r["cpu_s"] for r in rows if r["builder"] == name] for name in builders}
    pair = np.array(per_fold["baseline"]) / np.array(per_fold["this"])
    total = {k: v / n_folds * args.films * len(sets) / args.jobs for k, v in cpu.items()}
    print(f"CPU per fold: baseline {cpu['baseline'] / n_folds:.2f} s, this {cpu['this'] / n_folds:.2f} s: "
          f"{ratio:.2f}x (per-fold ratios: median {np.median(pair):.2f}, range {pair.min():.2f}-{pair.max():.2f}); "
          f"identical on every fold: {same}")
    print(f"extrapolated to {args.films} leave-one-out folds x {len(sets)} kinds on {args.jobs} idle cores: "
          f"baseline {total['baseline'] / 60:.1f} min, this {total['this'] / 60:.1f} min (forest fitting only)")
    if args.json:
        Path(args.json).write_text(json.dumps({"args": vars(args), "rows": rows, "ratio": ratio, "identical": same,
                                               "extrapolated_min": {k: v / 60 for k, v in total.items()}}, indent=2))
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
