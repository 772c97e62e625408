"""Cross-validated genre prediction: the study's Table 4, reproducible from a seed.

Every model of Table 4 is cross-validated over films, leave-one-out by default ("a
model is trained for each of the 110 films in the corpus using the other 109"), with
every fitted step (scaler, model) inside the fold. Networks train their folds side by
side (:func:`scorelens.mil.training.cross_val_network`); the other models are cloned
and fitted fold by fold, in parallel worker processes (:func:`cross_val_estimator`).

Simple MI and IMV are run with every base classifier and Table 4 shows the best one by
macro F1, as the study does; all of them stay in the JSON report. Likewise each network
is run with every hidden size of ``ModelConfig.hidden_sizes`` (the study's 64 and 128)
and its row shows the better, with the size it had.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from scorelens._version import __version__
from scorelens.analysis.data import CorpusBags
from scorelens.analysis.metrics import genre_scores, paired_test
from scorelens.config import ModelConfig
from scorelens.exceptions import ParameterError
from scorelens.mil.crossval import FoldMap, cross_val_estimator, cross_validate, fit_and_predict, make_folds  # noqa: F401
from scorelens.mil.models import display_name, normalise_key
from scorelens.mil.network import auto_precision, resolve_precision
from scorelens.mil.training import fold_stacks
from scorelens.mil.validation import check_bag_labels, check_bags

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


@dataclass
class ModelRun:
    """One model's cross-validated results on one feature kind.

    Attributes
    ----------
    features : str
        Feature kind, or ``"none"`` for the baselines.
    key : str
        Model key (:mod:`scorelens.mil.models`).
    proba, pred : np.ndarray [shape=(n_films, n_genres)]
    scores : dict
        :func:`scorelens.analysis.metrics.genre_scores`.
    tests : dict
        Paired t-tests against the random baseline, by metric.
    seconds : float
    weights : list of np.ndarray or None
        Networks: each film's instance weights ``(n_instances_i, n_genres)``.
    hidden : int or None
        Networks: units per embedding layer; None for the other models.
    """

    features: str
    key: str
    proba: np.ndarray
    pred: np.ndarray
    scores: dict = field(default_factory=dict)
    tests: dict = field(default_factory=dict)
    seconds: float = 0.0
    weights: list | None = None
    hidden: int | None = None

    @property
    def name(self) -> str:
        return display_name(self.key)

    @property
    def family(self) -> str:
        return self.key.split(":")[0]


@dataclass
class Evaluation:
    """All runs of one evaluation, plus what is needed to report them."""

    film_ids: list
    taxonomy: tuple
    Y: np.ndarray
    config: ModelConfig
    runs: list
    missing: list = field(default_factory=list)
    kinds: list = field(default_factory=list)
    instance_keys: dict = field(default_factory=dict)
    run_info: dict = field(default_factory=dict)
    """How the run was made where the settings leave it to the machine: the networks' precision
    and why (``precision="auto"`` decides by the CPU, :func:`scorelens.mil.network.choose_precision`)."""

    def table4(self) -> list[dict]:
        """Table 4's rows: baselines, then per feature kind the best Simple MI, the best IMV and each network.

        Returns
        -------
        list of dict
            ``features, model, key, hidden, precision, recall, f1, p_precision`` per row;
            ``hidden`` is the units of the network's better hidden size (None for the other
            models).
        """
        rows = []

        def row(run: ModelRun) -> dict:
            return {"features": "None" if run.features == "none" else run.features, "model": run.name,
                    "key": run.key, "hidden": run.hidden, "precision": run.scores["macro"]["precision"],
                    "recall": run.scores["macro"]["recall"], "f1": run.scores["macro"]["f1"],
                    "p_precision": run.tests.get("precision", {}).get("p", float("nan"))}

        for run in self.runs:
            if run.features == "none":
                rows.append(row(run))
        for kind in self.kinds:
            mine = [r for r in self.runs if r.features == kind]
            for family in ("simple_mi", "imv"):
                candidates = [r for r in mine if r.family == family]
                if candidates:
                    rows.append(row(_best(candidates)))
            rows.extend(row(r) for r in self.shown_networks(kind))
        return rows

    def shown_networks(self, kind: str) -> list[ModelRun]:
        """The network runs Table 4 shows for a feature kind: per pooling, the better hidden size.

        Parameters
        ----------
        kind : str
            Feature kind.

        Returns
        -------
        list of ModelRun
            One per pooling, in the order evaluated; of the runs with several hidden sizes, the
            one with the best macro F1 (a tie goes to the size evaluated first).
        """
        by_key: dict[str, list[ModelRun]] = {}
        for r in self.runs:
            if r.features == kind and r.family == "network":
                by_key.setdefault(r.key, []).append(r)
        return [_best(candidates) for candidates in by_key.values()]

    def _exported(self) -> list[ModelRun]:
        """Runs whose predictions and weights are written: all but the networks' unshown hidden sizes."""
        shown = {id(r) for kind in self.kinds for r in self.shown_networks(kind)}
        return [r for r in self.runs if r.family != "network" or id(r) in shown]

    def to_markdown(self) -> str:
        """Table 4 as a Markdown table, with a caption stating the protocol.

        Returns
        -------
        str
        """
        cv = "leave-one-out" if self.config.cv == "loo" else self.config.cv
        sizes = self.config.hidden_sizes
        hidden = ("" if not any(r.family == "network" for r in self.runs)
                  else f" Hidden: the networks' units per embedding layer ({sizes[0]})." if len(sizes) == 1
                  else f" Hidden: the networks' units per embedding layer, the better of "
                       f"{', '.join(map(str, sizes[:-1]))} and {sizes[-1]} by macro F1.")
        lines = [f"Table 4 (scorelens {__version__}): {len(self.film_ids)} films, {cv} cross-validation, "
                 f"{self.config.level}-level instances, seed {self.config.seed}. "
                 "p: paired t-test across films of per-film precision against the random guess." + hidden,
                 "",
                 "| Features | Model | Hidden | Precision | Recall | F1-Score | p (vs random) |",
                 "|---|---|---:|---:|---:|---:|---:|"]
        for r in self.table4():
            p = "" if r["key"] == "random" else format_p(r["p_precision"])
            hidden = "" if r["hidden"] is None else str(r["hidden"])
            lines.append(f"| {r['features']} | {r['model']} | {hidden} | {format_score(r['precision'])} | "
                         f"{format_score(r['recall'])} | {format_score(r['f1'])} | {p} |")
        if self.missing:
            lines += ["", f"Films without cues, left out: {', '.join(self.missing)}."]
        return "\n".join(lines) + "\n"

    def to_frame(self) -> pd.DataFrame:
        """Table 4 as a DataFrame (the CSV's content); ``hidden`` is an integer column, empty for non-networks.

        Returns
        -------
        pd.DataFrame
            :meth:`table4`'s rows.
        """
        df = pd.DataFrame(self.table4())
        df["hidden"] = df["hidden"].astype("Int64")
        return df

    def to_json(self) -> dict:
        """Everything: settings, films, Table 4, and every run with per-genre scores and tests.

        Returns
        -------
        dict
            JSON-compatible (NaN aside).
        """
        return {
            "scorelens": __version__,
            "settings": asdict(self.config),
            "run_info": self.run_info,
            "taxonomy": list(self.taxonomy),
            "films": list(self.film_ids),
            "films_without_cues": list(self.missing),
            "table4": self.table4(),
            "runs": [{"features": r.features, "key": r.key, "model": r.name, "hidden": r.hidden,
                      "seconds": round(r.seconds, 3), "macro": r.scores["macro"], "genres": r.scores["genres"],
                      "tests": r.tests}
                     for r in self.runs],
        }

    def predictions(self) -> pd.DataFrame:
        """Per-film, per-genre probabilities of every run (long format), for later plots.

        A network evaluated with several hidden sizes contributes the size Table 4 shows,
        so that each (features, model) pair names one run.

        Returns
        -------
        pd.DataFrame
            ``film_id, features, model, genre, probability, predicted, true``.
        """
        frames = []
        n, g = len(self.film_ids), len(self.taxonomy)
        for r in self._exported():
            frames.append(pd.DataFrame({
                "film_id": np.repeat(self.film_ids, g), "features": r.features, "model": r.key,
                "genre": np.tile(self.taxonomy, n), "probability": r.proba.reshape(-1).astype(np.float64),
                "predicted": r.pred.reshape(-1).astype(np.int8), "true": self.Y.reshape(-1).astype(np.int8)}))
        return pd.concat(frames, ignore_index=True)

    def instance_weights(self) -> pd.DataFrame:
        """Each network's weight of every instance of every film (which cues drove a prediction).

        Networks evaluated with several hidden sizes contribute the size Table 4 shows.

        Returns
        -------
        pd.DataFrame
            ``film_id, features, model, instance``, the instance keys (e.g. ``cue_id``),
            then one weight column per genre; empty when no network ran.
        """
        frames = []
        for r in self._exported():
            if r.weights is None:
                continue
            keys = self.instance_keys.get(r.features, [])
            for i, (film, w) in enumerate(zip(self.film_ids, r.weights)):
                df = pd.DataFrame(w, columns=list(self.taxonomy))
                df.insert(0, "instance", np.arange(len(w)))
                if i < len(keys):
                    for col in keys[i].columns[::-1]:
                        df.insert(1, col, keys[i][col].to_numpy())
                df.insert(0, "model", r.key)
                df.insert(0, "features", r.features)
                df.insert(0, "film_id", film)
                frames.append(df)
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _best(candidates: list[ModelRun]) -> ModelRun:
    """The run with the best macro F1; ties go to the earlier (knn, svm, rf; hidden sizes as listed)."""
    # By position, not list.index: runs compare their arrays under ==.
    _, best = max(enumerate(candidates), key=lambda ir: (ir[1].scores["macro"]["f1"], -ir[0]))
    return best


def format_score(x: float) -> str:
    """A score as Table 4 prints it: two decimals without the leading zero (``.64``).

    Parameters
    ----------
    x : float

    Returns
    -------
    str
    """
    return f"{x:.2f}".replace("0.", ".", 1) if 0 <= x < 1 else f"{x:.2f}"


def format_p(p: float) -> str:
    """A p-value as Table 4 prints it: ``< .001``, three decimals otherwise, ``n/a`` for NaN.

    Parameters
    ----------
    p : float

    Returns
    -------
    str
    """
    if p != p:
        return "n/a"
    return "< .001" if p < 0.001 else f"{p:.3f}".replace("0.", ".", 1)


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


class RunCache:
    """Finished model runs of an evaluation, kept on disk so that an interrupted sweep resumes.

    Each run (feature kind x model) is saved as soon as it finishes, under a digest of
    everything its numbers depend on: the films, their bags and labels, the folds, the
    settings and the model key. A re-run with the same digest loads the run instead of
    computing it; anything changed computes it anew. Files are written atomically with a
    record (:meth:`scorelens.workspace.Workspace.commit`), so a crash mid-write leaves no
    run that looks finished.

    Parameters
    ----------
    workspace : Workspace
    folder : path
        Inside the workspace (``results/evaluation/<level>/runs`` from the CLI).
    """

    def __init__(self, workspace, folder: str | Path):
        self.workspace, self.folder = workspace, Path(folder)

    def _path(self, features: str, key: str, hidden: int | None = None) -> Path:
        size = "" if hidden is None else f"-h{hidden}"
        return self.folder / f"{features}-{key.replace(':', '_')}{size}.npz"

    def load(self, features: str, key: str, digest: str, hidden: int | None = None) -> ModelRun | None:
        """The saved run, or None when absent, unfinished or computed from other inputs.

        Parameters
        ----------
        features, key : str
            Feature kind and model key.
        digest : str
            Digest of the run's inputs and settings.
        hidden : int, optional
            Networks: the hidden size (each size is saved on its own).

        Returns
        -------
        ModelRun or None
        """
        path = self._path(features, key, hidden)
        if not self.workspace.is_done(path, digest):
            return None
        try:
            with np.load(path, allow_pickle=False) as z:
                weights = None
                if "weight_sizes" in z:
                    weights = np.split(z["weights"], np.cumsum(z["weight_sizes"])[:-1])
                return ModelRun(features, key, z["proba"], z["pred"], seconds=float(z["seconds"]), weights=weights,
                                hidden=hidden)
        # A truncated or corrupt archive raises zipfile.BadZipFile (not an OSError).
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
            log.warning("%s: unreadable saved run (%s); computing it again", path, exc)
            return None

    def save(self, run: ModelRun, digest: str) -> None:
        """Save a finished run under ``digest``.

        Parameters
        ----------
        run : ModelRun
        digest : str
            Digest of the run's inputs and settings (:meth:`load` finds it by this).
        """
        arrays = {"proba": run.proba, "pred": run.pred, "seconds": np.float64(run.seconds)}
        if run.weights is not None:
            arrays["weights"] = np.concatenate(run.weights)
            arrays["weight_sizes"] = np.array([len(w) for w in run.weights], dtype=np.int64)

        def write(tmp: Path) -> None:
            with open(tmp, "wb") as fh:
                np.savez(fh, **arrays)

        self.workspace.commit(self._path(run.features, run.key, run.hidden), digest, write,
                              meta={"model": run.key, "hidden": run.hidden})


def _run_digest(config: ModelConfig, key: str, film_ids, Y: np.ndarray, bags, folds,
                hidden: int | None = None) -> str:
    """Digest of everything a run's numbers depend on."""
    h = hashlib.blake2b(digest_size=12)
    settings = asdict(config)
    # A network depends on its own hidden size only (adding a size to the sweep keeps the
    # saved runs of the others); the other models on neither.
    settings.pop("hidden_sizes")
    settings["hidden"] = hidden
    # The scorelens version too: a release that changes a model must not load older runs.
    h.update(json.dumps({"config": settings, "key": key, "films": list(film_ids), "version": 1,
                         "scorelens": __version__},
                        sort_keys=True, default=str).encode())
    for test in folds:
        h.update(np.asarray(test, dtype=np.int64).tobytes() + b"|")
    hash_bags(h, film_ids, bags, Y)
    return h.hexdigest()


def hash_bags(h, film_ids: Sequence[str], bags: Sequence[np.ndarray], Y: np.ndarray) -> None:
    """Feed the films, their bags (values and shapes) and labels to the hash ``h``.

    The one digest of a corpus' bags, behind both a saved model run's key and the key of
    an evaluation's or an importance run's outputs.
    """
    h.update(np.ascontiguousarray(Y, dtype=np.int64).tobytes())
    for film, bag in zip(film_ids, bags):
        h.update(str(film).encode() + b"|")
        h.update(str(bag.shape).encode())
        h.update(np.ascontiguousarray(bag).tobytes())


def evaluate(feature_sets: Sequence[CorpusBags], config: ModelConfig | None = None, *,
             models: Sequence[str] | None = None, vectorise: bool = True, n_jobs: int | None = None,
             progress: Progress | None = None, cache: RunCache | None = None,
             fold_map: FoldMap | None = None, n_chunks: int = 1) -> Evaluation:
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
    config = replace(config, precision=resolve_precision(config.precision))
    progress = progress or no_progress
    if n_jobs is None:
        import torch

        n_jobs = torch.get_num_threads()
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
            n_stacks = len(fold_stacks(len(folds), vectorise=vectorise, n_jobs=n_jobs))
            advance = progress(f"{kind} · {display_name(key)} · {hidden} units (stack-epochs)",
                               n_stacks * config.epochs)
            on_epoch = lambda _: advance(1)  # noqa: E731
        res = cross_validate(key, bags, Y, folds, replace(config, hidden=hidden), n_jobs=n_jobs, vectorise=vectorise,
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
    for kind, fs in zip(kinds, sets):
        bags = check_bags(fs.bags, name=f"{kind} bags")
        for key in keys:
            if key.startswith("network:"):
                runs.extend(run(kind, key, bags, n_jobs, hidden) for hidden in config.hidden_sizes)
            elif key not in ("random", "plurality"):
                runs.append(run(kind, key, bags, n_jobs))
    random_run = next(r for r in runs if r.key == "random")
    for r in runs:
        r.scores = genre_scores(Y, r.pred, taxonomy)
        if r is not random_run:
            r.tests = {m: paired_test(Y, r.pred, random_run.pred, metric=m) for m in ("precision", "f1")}
    return Evaluation(film_ids, taxonomy, Y, config, runs, missing, kinds,
                      {k: fs.instance_keys for k, fs in zip(kinds, sets)}, run_info)


def inputs_digest(evaluation_inputs: Sequence[CorpusBags], config: ModelConfig, keys: Sequence[str]) -> str:
    """Digest of the inputs and settings of a set of results (the key of their records).

    Covers what the numbers depend on besides the settings: the films' bags (values and
    shapes), their labels and taxonomy, and the feature names (permutation importance
    groups the columns by name), so that relabelled films or renamed columns with the
    same values are not taken for the same inputs.

    Parameters
    ----------
    evaluation_inputs : sequence of CorpusBags
    config : ModelConfig
    keys : sequence of str
        Model keys of the results.

    Returns
    -------
    str
        16 hexadecimal digits (BLAKE2b).
    """
    h = hashlib.blake2b(digest_size=8)
    h.update(json.dumps({"config": asdict(config), "keys": list(keys)}, sort_keys=True, default=str).encode())
    for fs in evaluation_inputs:
        h.update(json.dumps({"kind": fs.kind, "taxonomy": list(fs.taxonomy), "features": list(fs.feature_names)},
                            default=str).encode())
        hash_bags(h, fs.film_ids, fs.bags, fs.Y)
    return h.hexdigest()
