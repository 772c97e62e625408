"""Benchmark: the study's permutation feature importance (Fig 3) on a corpus of the study's shape.

Corpus: ``bench_table4.study_corpus``'s MIR-like kind (110 films, the study's genre
counts, ~40 cues per film, 140 features), its columns spread over the study's eight
groups (MFCCs, ΔMFCCs, ΔΔMFCCs 26 each, Dynamics 8, Pitch 10, Rhythm 12, Timbre 20,
Tone 12). Model: the study's, average pooling with 64 hidden units, leave-one-out, 200
epochs; 100 permutation runs of each group.

Reports the wall time of the two phases: training the 110 fold models (once), and
predicting every fold's held-out film in the 800 permuted corpora; and the permutation
phase's cost per permuted corpus.

Usage::

    python benchmarks/bench_importance.py                 # the study's settings
    python benchmarks/bench_importance.py --epochs 20     # quicker look
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

GROUP_SIZES = {"mfcc": 26, "delta_mfcc": 26, "delta2_mfcc": 26, "dynamics": 8, "pitch": 10, "rhythm": 12,
               "timbre": 20, "tone": 12}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=200)
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--model", default="network:average")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    args = parser.parse_args()

    import torch
    from bench_table4 import study_corpus

    from scorelens.analysis import _importance as imp
    from scorelens.analysis._data import CorpusBags
    from scorelens.config import ModelConfig

    torch.set_num_threads(args.threads)
    _, mir = study_corpus(args.seed)
    names = [f"{g}/{g}_{i:02d}/mean" for g, n in GROUP_SIZES.items() for i in range(n)]
    assert len(names) == mir.bags[0].shape[1]
    corpus = CorpusBags(mir.film_ids, mir.bags, mir.Y, mir.taxonomy, names, "cue", kind="mir")
    config = ModelConfig(seed=args.seed, hidden=args.hidden, epochs=args.epochs)
    phases: dict[str, float] = {}
    fit = imp.cross_validate
    t_fit = {}

    def timed_fit(*a, **k):
        t = time.perf_counter()
        out = fit(*a, **k)
        t_fit["s"] = time.perf_counter() - t
        return out

    imp.cross_validate = timed_fit
    t0 = time.perf_counter()
    result = imp.group_importance(corpus, args.model, config, runs=args.runs, n_jobs=args.threads)
    total = time.perf_counter() - t0
    phases["fold models"] = t_fit["s"]
    phases["permutations"] = total - t_fit["s"]
    n_variants = args.runs * len(GROUP_SIZES)
    print(f"PFI benchmark: {len(corpus.bags)} films, {sum(len(b) for b in corpus.bags)} cues, "
          f"{len(names)} features in {len(GROUP_SIZES)} groups; {args.model}, hidden {args.hidden}, "
          f"{args.epochs} epochs, leave-one-out, {args.runs} runs, {args.threads} threads")
    for name, s in phases.items():
        print(f"  {name:<14} {s:8.1f} s")
    print(f"  {'total':<14} {total:8.1f} s")
    print(f"  permutation phase: {1000 * phases['permutations'] / n_variants:.1f} ms per permuted corpus "
          f"({n_variants} corpora x {len(corpus.bags)} held-out films); "
          f"{phases['permutations'] / phases['fold models']:.2f} x the training")
    print(f"  macro F1 {result.f1_orig[-1]:.3f}")
    print(result.to_markdown())


if __name__ == "__main__":
    main()
