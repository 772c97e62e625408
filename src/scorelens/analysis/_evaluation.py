"""Cross-validated genre prediction: the study's Table 4, reproducible from a seed.

Every model of Table 4 is cross-validated over films, leave-one-out by default ("a
model is trained for each of the 110 films in the corpus using the other 109"), with
every fitted step (scaler, model) inside the fold. Networks train their folds side by
side (:func:`scorelens.mil._training.cross_val_network`); the other models are cloned
and fitted fold by fold, in parallel worker processes (:func:`cross_val_estimator`).

Simple MI and IMV are run with every base classifier and Table 4 shows the best one by
macro F1, as the study does; all of them stay in the JSON report. Likewise each network
is run with every hidden size of ``ModelConfig.hidden_sizes`` (the study's 64 and 128)
and its row shows the better, with the size it had.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import numpy as np

from scorelens.analysis._data import CorpusBags
from scorelens.analysis._metrics import genre_scores, paired_test
from scorelens.analysis._results import Evaluation, ModelRun
from scorelens.analysis._runcache import RunCache, _run_digest, inputs_digest
from scorelens.analysis._table4_text import format_p, format_score
from scorelens.config import ModelConfig
from scorelens.exceptions import ParameterError
from scorelens.mil._crossval import FoldMap, cross_val_estimator, cross_validate, fit_and_predict, make_folds  # noqa: F401
from scorelens.mil._models import display_name, normalise_key
from scorelens.mil._network import auto_precision, resolve_device, resolve_precision
from scorelens.mil._training import fold_stacks
from scorelens.mil._validation import check_bag_labels, check_bags

__all__ = ["ModelRun", "Evaluation", "RunCache", "make_folds", "cross_val_estimator", "fit_and_predict", "evaluate",

           "evaluation_keys", "format_score", "format_p", "inputs_digest", "no_progress"]

log = logging.getLogger(__name__)

#: ``progress(description, total)`` returns ``advance(n)``; lets the CLI draw bars.
Progress = Callable[[str, int], Callable[[int], None]]


def no_progress(description: str, total: int) -> Callable[[int], None]:
    """A :data:`Progress` that draws nothing.

    Parameters
    ----------
    description : str
    total : int

    Returns
    -------
    callable
        ``advance(n=1)``, which does nothing.
    """
    return lambda n=1: None


def evaluation_keys(config: ModelConfig, models: Sequence[str] | None = None) -> list[str]:
    """The model keys an evaluation runs: all of Table 4's, or the ones named (families allowed).

    Parameters
    ----------
    config : ModelConfig
        Its base classifiers and poolings make Table 4's keys.
    models : sequence of str, optional
        Keys or families (``simple_mi``, ``imv``, ``network``, ``baselines``).

    Returns
    -------
    list of str
        Canonical keys without repeats; ``random`` always included, first.

    Raises
    ------
    ParameterError
        An unknown key.
    """
    every = (["random", "plurality"] + [f"simple_mi:{b}" for b in config.base_classifiers]
             + [f"imv:{b}" for b in config.base_classifiers] + [f"network:{p}" for p in config.poolings])
    if not models:
        return every
    keys = []
    for m in models:
        m = m.strip().lower()
        if m in ("simple_mi", "imv", "network", "baselines"):
            prefix = {"baselines": ("random", "plurality")}.get(m, (m + ":",))
            keys += [k for k in every if k.startswith(prefix)]
        else:
            keys.append(normalise_key(m))
    if "random" not in keys:
        keys.insert(0, "random")  # every model is tested against it
    return list(dict.fromkeys(keys))


def _intersect(feature_sets: Sequence[CorpusBags]) -> tuple[list[str], list[str]]:
    common = set(feature_sets[0].film_ids)
    for fs in feature_sets[1:]:
        common &= set(fs.film_ids)
    order = [f for f in feature_sets[0].film_ids if f in common]
    dropped = sorted({f for fs in feature_sets for f in fs.film_ids} - common)
    missing = sorted(set().union(*[fs.missing for fs in feature_sets]) | set(dropped))
    return order, missing


def evaluate(feature_sets: Sequence[CorpusBags], config: ModelConfig | None = None, *,
             models: Sequence[str] | None = None, vectorise: bool = True, n_jobs: int | None = None,
             progress: Progress | None = None, cache: RunCache | None = None,
             fold_map: FoldMap | None = None, n_chunks: int = 1, overlap: bool | None = None) -> Evaluation:
    """Cross-validate Table 4's models on one or more feature kinds.

    Parameters
    ----------
    feature_sets : sequence of CorpusBags
        One per feature kind, from the same corpus; films missing from any kind are left
        out of all (so that every row is computed on the same films and folds).
    config : ModelConfig
    models : sequence of str, optional
        Model keys or families (``simple_mi``, ``imv``, ``network``, ``baselines``); the
        random baseline always runs, since every model is tested against it.
    vectorise : bool
        Train network folds side by side (same numbers, faster).
    n_jobs : int, optional
        Worker processes for the folds of Simple MI and IMV, threads for the network
        stacks (default: PyTorch's thread count, normally the number of cores).
    progress : callable, optional
        ``progress(description, total) -> advance``.
    cache : RunCache, optional
        Saves each run as it finishes and loads the runs an earlier, interrupted call
        finished with the same inputs and settings (same numbers, not recomputed).
    fold_map : callable, optional
        Sends each network's folds, in ``n_chunks`` chunks, to other workers
        (``fold_map(fn, items)``, e.g. a Dask cluster's); same numbers. Simple MI and IMV
        folds follow joblib's active backend (``joblib.parallel_config(backend="dask")``).
    n_chunks : int
        Chunks of folds per network with ``fold_map`` (one per worker).
    overlap : bool, optional
        Run the scikit-learn models (on the CPU cores) at the same time as the networks
        (on ``config.device``) instead of one after the other. Default: where the networks
        run on a GPU (and no ``fold_map``). The numbers are the same either way.

    Returns
    -------
    Evaluation

    Raises
    ------
    ParameterError
        No feature sets, differing taxonomies or repeated kinds, labels that do not
        fit the films, bad bags, or more folds than films.
    """
    config = config or ModelConfig()
    # Record the arithmetic actually used ("auto" depends on the CPU), and why.
    if config.precision == "auto":
        choice = auto_precision()
        run_info = {"precision": choice.precision, "precision_reason": "auto: " + choice.reason,
                    "gemm_gflops_per_core": choice.gflops}
    else:
        run_info = {"precision": config.precision, "precision_reason": "set explicitly"}
    device = resolve_device(config.device)
    run_info["device"] = str(device)
    seen = "sees a CUDA GPU" if device.type == "cuda" else "sees no CUDA GPU"
    run_info["device_reason"] = f"auto: PyTorch {seen}" if config.device == "auto" else "set explicitly"
    config = replace(config, precision=resolve_precision(config.precision), device=str(device))
    progress = progress or no_progress
    if n_jobs is None:
        import torch

        n_jobs = torch.get_num_threads()
    # On a GPU the folds of a network train as one stack (threads would only queue on it).
    network_jobs = n_jobs if device.type == "cpu" else 1
    if not feature_sets:
        raise ParameterError("no feature sets to evaluate")
    taxonomy = tuple(feature_sets[0].taxonomy)
    for fs in feature_sets:
        if tuple(fs.taxonomy) != taxonomy:
            raise ParameterError(f"feature set {fs.kind!r} has taxonomy {fs.taxonomy}, expected {taxonomy}")
    kinds = [fs.kind or f"features{i}" for i, fs in enumerate(feature_sets)]
    if len(set(kinds)) != len(kinds):
        raise ParameterError(f"feature kinds must be distinct, got {kinds}")
    film_ids, missing = _intersect(feature_sets)
    sets = [fs.subset(film_ids) for fs in feature_sets]
    Y, _ = check_bag_labels(sets[0].Y, len(film_ids), n_labels=len(taxonomy))
    folds = make_folds(len(film_ids), config)
    keys = evaluation_keys(config, models)
    runs: list[ModelRun] = []

    def run_sklearn(kind: str, key: str, bags, jobs: int) -> ModelRun:
        t0 = time.perf_counter()
        advance = progress(f"{kind} · {display_name(key)}", len(folds))
        res = cross_validate(key, bags, Y, folds, config, n_jobs=jobs, advance=advance)
        return ModelRun(kind, key, res.proba, res.pred, seconds=time.perf_counter() - t0)

    def run_network(kind: str, key: str, bags, hidden: int) -> ModelRun:
        t0 = time.perf_counter()
        if fold_map is not None:
            advance = progress(f"{kind} · {display_name(key)} · {hidden} units (folds)", len(folds))
            on_epoch = None
        else:
            n_stacks = len(fold_stacks(len(folds), vectorise=vectorise, n_jobs=network_jobs))
            advance = progress(f"{kind} · {display_name(key)} · {hidden} units (stack-epochs)",
                               n_stacks * config.epochs)
            on_epoch = lambda _: advance(1)  # noqa: E731
        res = cross_validate(key, bags, Y, folds, replace(config, hidden=hidden), n_jobs=network_jobs,
                             vectorise=vectorise,
                             on_epoch=on_epoch, advance=advance if fold_map is not None else None,
                             fold_map=fold_map, n_chunks=n_chunks)
        return ModelRun(kind, key, res.proba, res.pred, seconds=time.perf_counter() - t0, weights=res.weights,
                        hidden=hidden)

    def run(kind: str, key: str, bags, jobs: int, hidden: int | None = None) -> ModelRun:
        digest = _run_digest(config, key, film_ids, Y, bags, folds, hidden) if cache is not None else ""
        if cache is not None:
            done = cache.load(kind, key, digest, hidden)
            if done is not None:
                log.info("%s · %s: finished earlier with the same inputs and settings; loaded", kind, key)
                progress(f"{kind} · {display_name(key)} (saved)", 1)(1)
                return done
        if key.startswith("network:"):
            result = run_network(kind, key, bags, hidden)
        else:
            result = run_sklearn(kind, key, bags, jobs)
        if cache is not None:
            cache.save(result, digest)
        return result

    # The baselines ignore the features; any kind's bags do (they only count labels). They
    # take microseconds per fold: in this process, without worker processes.
    base_bags = [np.zeros((1, 1), np.float32)] * len(film_ids)
    for key in ("random", "plurality"):
        if key in keys:
            runs.append(run("none", key, base_bags, 1))
    # Table 4's rows in their order: (kind, key, bags, hidden) for each run still to do.
    todo = []
    for kind, fs in zip(kinds, sets):
        bags = check_bags(fs.bags, name=f"{kind} bags")
        for key in keys:
            if key.startswith("network:"):
                todo.extend((kind, key, bags, hidden) for hidden in config.hidden_sizes)
            elif key not in ("random", "plurality"):
                todo.append((kind, key, bags, None))
    if overlap is None:
        overlap = device.type == "cuda" and fold_map is None
    if overlap:
        # The networks run on the GPU from this thread while the scikit-learn models
        # (Simple MI, IMV) keep the CPU cores busy from another; each run is the same
        # computation either way, so the numbers do not change, only the wall time.
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="scorelens-sklearn") as cpu_side:
            pending = {i: cpu_side.submit(run, kind, key, bags, n_jobs)
                       for i, (kind, key, bags, hidden) in enumerate(todo) if hidden is None}
            done = {i: run(kind, key, bags, network_jobs, hidden)
                    for i, (kind, key, bags, hidden) in enumerate(todo) if hidden is not None}
            done.update({i: future.result() for i, future in pending.items()})
        runs.extend(done[i] for i in range(len(todo)))
    else:
        runs.extend(run(kind, key, bags, n_jobs if hidden is None else network_jobs, hidden)
                    for kind, key, bags, hidden in todo)
    random_run = next(r for r in runs if r.key == "random")
    for r in runs:
        r.scores = genre_scores(Y, r.pred, taxonomy)
        if r is not random_run:
            r.tests = {m: paired_test(Y, r.pred, random_run.pred, metric=m) for m in ("precision", "f1")}
    return Evaluation(film_ids, taxonomy, Y, config, runs, missing, kinds,
                      {k: fs.instance_keys for k, fs in zip(kinds, sets)}, run_info)


