"""Cross-validation of any bag classifier: the one entry point the analyses use.

:func:`cross_validate` fits one model (a network, Simple MI, IMV or a baseline) on every
fold and returns its out-of-fold probabilities and predictions, and with ``keep_models``
the fold models themselves (:class:`FoldModels`, which predict their held-out bags again,
e.g. with features permuted). Table 4 (:mod:`scorelens.analysis._evaluation`) and the
permutation importance (:mod:`scorelens.analysis._importance`) both go through it, so their
folds, seeds and numbers agree. Network folds train together (:func:`cross_val_network`),
or in chunks on other workers (``fold_map``); the other models' folds run in worker
processes (:func:`cross_val_estimator`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from joblib import delayed
from sklearn.base import clone
from sklearn.model_selection import KFold

from scorelens.config import ModelConfig
from scorelens.exceptions import ParameterError
from scorelens.mil._models import make_model, normalise_key
from scorelens.mil._network import resolve_device, resolve_precision
from scorelens.mil._processes import worker_parallel
from scorelens.mil._training import cross_val_network, fold_seed, fold_stacks, merge_cv_results

__all__ = ["make_folds", "fit_and_predict", "cross_val_estimator", "FoldMap", "network_fold_chunk",
           "cross_val_network_chunks", "FoldModels", "cross_validate"]


def make_folds(n_bags: int, config: ModelConfig) -> list[np.ndarray]:
    """Test indices of each fold: one film each (leave-one-out) or shuffled k-fold from the seed.

    Parameters
    ----------
    n_bags : int
    config : ModelConfig
        ``cv`` and ``seed``.

    Returns
    -------
    list of np.ndarray
        Held-out bag indices of each fold.

    Raises
    ------
    ParameterError
        More folds than films.
    """
    k = config.n_splits
    if k is None:
        return [np.array([i]) for i in range(n_bags)]
    if k > n_bags:
        raise ParameterError(f"cv={config.cv!r} asks for {k} folds but there are only {n_bags} films")
    splitter = KFold(n_splits=k, shuffle=True, random_state=config.seed)
    return [test for _, test in splitter.split(np.zeros(n_bags))]


def fit_and_predict(estimator, bags, Y, train, test):
    """Fit ``estimator`` on the ``train`` bags; return it with its probabilities and predictions on ``test``.

    Parameters
    ----------
    estimator : bag classifier
        Fitted in place.
    bags : list of np.ndarray [shape=(n_instances_i, n_features)]
    Y : np.ndarray [shape=(n_bags, n_labels)]
    train, test : np.ndarray of int
        Bag indices.

    Returns
    -------
    estimator : bag classifier
        The fitted estimator.
    proba : np.ndarray [dtype=float64]
    pred : np.ndarray [dtype=int64]
        Of the ``test`` bags.
    """
    est = estimator.fit([bags[i] for i in train], Y[train])
    test_bags = [bags[i] for i in test]
    if hasattr(est, "proba_and_predict"):
        # Bag classifiers give both from one pass over the held-out bags (same arrays).
        proba, pred = est.proba_and_predict(test_bags)
    else:
        proba, pred = est.predict_proba(test_bags), est.predict(test_bags)
    return est, np.asarray(proba, float), np.asarray(pred, np.int64)


def _fit_fold(estimator, bags, Y, train, test):
    return fit_and_predict(estimator, bags, Y, train, test)[1:]


def cross_val_estimator(estimator, bags: Sequence[np.ndarray], Y: np.ndarray, folds: Sequence[np.ndarray], *,
                        seed: int = 0, n_jobs: int | None = None, prefer: str = "processes",
                        advance: Callable[[int], None] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Out-of-fold probabilities and predictions of any bag classifier.

    Each fold fits a clone of ``estimator`` (its ``random_state``, if it has one, set
    to the fold's seed ``(seed, fold)``) on the other folds' bags. For Simple MI, IMV and
    the baselines the numbers depend on the seed and the data only, not on ``n_jobs`` or
    ``prefer`` (tested).

    Folds run in worker processes by default: the random forests of Simple MI spend
    nearly all their time in scikit-learn's per-tree Python code, which holds the GIL,
    so two threads ran them slower than one (on the study-shaped corpus 0.8 s of wall
    time and 0.93 s of CPU per fold on 2 threads, against 0.6 s in one process; 2.3 s per
    fold on 2 threads on a loaded machine). joblib's loky workers start once (about
    2.5-3 s of CPU each, importing the package with scikit-learn and PyTorch) and are
    reused until idle for 5 minutes, or until this process ends, even when killed
    (:func:`scorelens.mil._processes.worker_parallel`); each gets ``cpu_count // n_jobs``
    BLAS threads, so IMV's kernel products no longer oversubscribe the cores either. CPU time measured in this process
    alone no longer includes the folds: count its children too.

    Parameters
    ----------
    estimator : bag classifier
    bags : list of np.ndarray [shape=(n_instances_i, n_features)]
    Y : np.ndarray [shape=(n_bags, n_labels)]
    folds : sequence of np.ndarray
        Test indices of each fold.
    seed : int
    n_jobs : int, optional
        Parallel workers (joblib); default 1, which runs the folds in this process.
    prefer : {"processes", "threads"}
        joblib's kind of worker when ``n_jobs > 1``; threads suit estimators that cannot
        be pickled.
    advance : callable, optional
        Called with 1 after each fold.

    Returns
    -------
    proba : np.ndarray [shape=(n_bags, n_labels)]
    pred : np.ndarray [shape=(n_bags, n_labels), dtype=int64]

    Raises
    ------
    ParameterError
        ``prefer`` is neither ``"processes"`` nor ``"threads"``.
    """
    proba, pred, _ = _fold_loop(estimator, bags, Y, folds, seed=seed, n_jobs=n_jobs, prefer=prefer,
                                advance=advance, keep_models=False)
    return proba, pred


def _fold_loop(estimator, bags, Y, folds, *, seed: int, n_jobs: int | None, prefer: str = "processes",
               advance: Callable[[int], None] | None = None, keep_models: bool = False):
    """The one fold loop of the scikit-learn-style models: a clone per fold, seeded ``(seed, fold)``."""
    if prefer not in ("processes", "threads"):
        raise ParameterError(f"prefer={prefer!r} must be 'processes' or 'threads'")
    n = len(bags)
    task = fit_and_predict if keep_models else _fit_fold
    jobs = []
    for f, test in enumerate(folds):
        est = clone(estimator)
        if "random_state" in est.get_params():
            est.set_params(random_state=fold_seed(seed, f))
        train = np.setdiff1d(np.arange(n), test)
        jobs.append(delayed(task)(est, bags, Y, train, test))
    proba = np.zeros(Y.shape, float)
    pred = np.zeros(Y.shape, np.int64)
    estimators = []
    # No memory-mapping: the bags are small arrays that are pickled with each batch of
    # folds (a few MB for the study's corpus, against seconds of fitting per fold).
    results = worker_parallel(n_jobs or 1, prefer=prefer, max_nbytes=None, return_as="generator")(jobs)
    for test, result in zip(folds, results):
        if keep_models:
            est, p, y = result
            estimators.append(est)
        else:
            p, y = result
        proba[test], pred[test] = p.reshape(len(test), -1), y.reshape(len(test), -1)
        if advance is not None:
            advance(1)
    return proba, pred, (estimators if keep_models else None)


#: ``fold_map(fn, items) -> list of results``: runs ``fn(*item)`` for each item, in order
#: (an executor's workers, e.g. Dask's); None runs everything in this process.
FoldMap = Callable[[Callable, list], list]


def network_fold_chunk(bags, Y, folds, chunk, pooling: str, net_kw: dict, keep_models: bool = False):
    """Train and predict only the folds of ``chunk``: one task of a distributed cross-validation.

    The numbers equal those of the whole cross-validation (:func:`cross_val_network`'s
    ``only``: shapes, schedule and seeds come from all folds); :func:`merge_cv_results`
    puts the chunks together.

    Returns
    -------
    CVNetworkResult
        NaN probabilities outside the chunk's held-out bags.
    """
    return cross_val_network(bags, Y, folds, pooling=pooling, only=list(chunk), n_jobs=1, keep_models=keep_models,
                             **net_kw)


def cross_val_network_chunks(bags, Y, folds, *, pooling: str, net_kw: dict, fold_map: FoldMap, n_chunks: int,
                             keep_models: bool = False, advance: Callable[[int], None] | None = None):
    """:func:`cross_val_network` with its folds sent in ``n_chunks`` chunks through ``fold_map``.

    Returns
    -------
    CVNetworkResult
        The same numbers as one :func:`cross_val_network` call.
    """
    chunks = fold_stacks(len(folds), vectorise=True, n_jobs=max(1, n_chunks))
    results = fold_map(network_fold_chunk, [(bags, Y, folds, c, pooling, net_kw, keep_models) for c in chunks])
    if advance:
        advance(len(folds))
    return merge_cv_results(results, folds)


class FoldModels:
    """The fitted models of a cross-validation, each able to predict its held-out bags again.

    Attributes
    ----------
    key : str
        Model key (:mod:`scorelens.mil._models`).
    folds : list of np.ndarray
        Held-out bag indices of each fold.
    proba, pred : np.ndarray [shape=(n_bags, n_labels)]
        The out-of-fold probabilities and 0/1 predictions on the unchanged corpus.
    weights : list of np.ndarray or None
        Networks: each bag's instance weights from the fold that held it out.
    """

    def __init__(self, key: str, folds, proba: np.ndarray, pred: np.ndarray, *, network=None,
                 estimators=None, weights=None, threshold: float = 0.5):
        self.key, self.folds, self.proba, self.pred = key, list(folds), proba, pred
        self.weights = weights
        self._network, self._estimators, self._threshold = network, estimators, threshold

    def predict_held_out(self, variants: Sequence[Sequence[np.ndarray]]) -> np.ndarray:
        """0/1 predictions of each fold's model on its held-out bags in every variant.

        Parameters
        ----------
        variants : sequence of (list of np.ndarray [shape=(n_instances_i, n_features)])
            Versions of the corpus, bag sizes unchanged.

        Returns
        -------
        np.ndarray [shape=(n_variants, n_bags, n_labels), dtype=int64]
        """
        if self._network is None and self._estimators is None:
            raise ParameterError("the fold models were not kept: cross-validate with keep_models=True")
        if self._network is not None:
            return (self._network.predict_held_out(variants) >= self._threshold).astype(np.int64)
        out = np.zeros((len(variants),) + self.pred.shape, dtype=np.int64)
        for est, test in zip(self._estimators, self.folds):
            # One call per fold for all variants: the held-out bags of every variant in a row.
            bags = [variants[v][b] for v in range(len(variants)) for b in test]
            if hasattr(est, "proba_and_predict"):
                _, pred = est.proba_and_predict(bags)
            else:
                pred = est.predict(bags)
            out[:, test] = np.asarray(pred, np.int64).reshape(len(variants), len(test), -1)
        return out


def cross_validate(key: str, bags: Sequence[np.ndarray], Y: np.ndarray, folds: Sequence[np.ndarray],
                   config: ModelConfig, *, keep_models: bool = False, n_jobs: int | None = None,
                   vectorise: bool = True, on_epoch: Callable[[int], None] | None = None,
                   advance: Callable[[int], None] | None = None, fold_map: FoldMap | None = None,
                   n_chunks: int = 1) -> FoldModels:
    """Cross-validate one model (and, with ``keep_models``, keep its fold models).

    The folds, seeds and settings are those of :func:`scorelens.analysis._evaluation.evaluate`,
    so the out-of-fold predictions are the ones it reports.

    Parameters
    ----------
    key : str
        Model key, e.g. ``network:average``, ``simple_mi:svm``, ``imv:rf``.
    bags : list of np.ndarray
    Y : np.ndarray [shape=(n_bags, n_labels)]
    folds : sequence of np.ndarray
        Held-out indices of each fold (:func:`scorelens.analysis._evaluation.make_folds`).
    config : ModelConfig
        Settings (``hidden``, ``epochs``, … ``seed``, ``threshold``, ``imv_multi_output``).
    keep_models : bool
        Keep each fold's fitted model (:meth:`FoldModels.predict_held_out`).
    n_jobs : int, optional
        Threads for the network stacks, processes for other models.
    vectorise : bool
        Networks: train the folds side by side (same numbers, faster).
    on_epoch : callable, optional
        Networks: called once per finished stack-epoch.
    advance : callable, optional
        Other models (and networks with ``fold_map``): called with the folds finished.
    fold_map : callable, optional
        Networks: train the folds in ``n_chunks`` chunks on other workers
        (:func:`scorelens.analysis._evaluation.cross_val_network_chunks`); same numbers.
    n_chunks : int

    Returns
    -------
    FoldModels

    Raises
    ------
    ParameterError
        An unknown key.
    """
    key = normalise_key(key)
    family, _, variant = key.partition(":")
    if family == "network":
        net_kw = dict(hidden=config.hidden, epochs=config.epochs, learning_rate=config.learning_rate,
                      batch_size=config.batch_size, seed=config.seed, precision=resolve_precision(config.precision),
                      device=str(resolve_device(config.device)))
        if fold_map is not None:
            res = cross_val_network_chunks(bags, Y, folds, pooling=variant, net_kw=net_kw, fold_map=fold_map,
                                           n_chunks=n_chunks, keep_models=keep_models, advance=advance)
        else:
            res = cross_val_network(bags, Y, folds, pooling=variant, n_jobs=n_jobs, keep_models=keep_models,
                                    vectorise=vectorise, on_epoch=on_epoch, **net_kw)
        pred = (res.proba >= config.threshold).astype(np.int64)
        return FoldModels(key, folds, res.proba, pred, network=res if keep_models else None,
                          weights=res.weights, threshold=config.threshold)
    template = make_model(key, threshold=config.threshold, imv_multi_output=config.imv_multi_output)
    proba, pred, estimators = _fold_loop(template, bags, Y, folds, seed=config.seed, n_jobs=n_jobs,
                                         advance=advance, keep_models=keep_models)
    return FoldModels(key, folds, proba, pred, estimators=estimators, threshold=config.threshold)
