"""Training a stack of MIL networks at once: one per cross-validation fold.

Leave-one-out repeats the same small training 110 times ("Genre prediction model
training procedure"). Here the folds are trained side by side as one
:class:`~scorelens.mil._network.MILNetwork` stack: each step runs every fold's next
mini-batch through every fold's own weights with batched matrix products, sums the
folds' losses (a fold's gradient depends only on its own loss) and applies Adam
element-wise. A fold's numbers depend only on the seed, its fold index, its training
set and the shared step shapes; training the folds one at a time
(``vectorise=False``) runs the very same code on a stack of one and gives the same
numbers (exactly, on the CPUs we tested; see ``tests/mil/test_training.py``).

What makes the two paths agree:

* **initialisation**: fold ``f`` draws its weights from a generator seeded with
  ``SeedSequence([seed, f])``;
* **batch order**: epoch ``e`` shuffles the whole corpus with ``SeedSequence([seed,
  "epoch", e])`` and cuts it into chunks; every fold's mini-batch at step ``t`` is chunk
  ``t`` without the fold's held-out bags. All folds therefore share a step's instances
  (one gather, one copy of the data for the whole stack), and the held-out bags of a
  fold only ever carry a zero loss weight in it. A chunk holds
  ``round(batch_size * n_bags / mean training bags)`` bags, so a fold's mini-batch
  averages ``batch_size`` bags: in leave-one-out (110 films, batch 16) chunks of 16 give
  each fold 16 bags, or 15 in the one chunk holding its test film; in 5-fold, chunks of 20
  give 16 on average;
* **shapes**: a step's tensors have the same shapes for every fold (the chunk's packed
  instances), whether the folds run together or one by one, because a sum's rounding
  depends on how many terms it has;
* **scalers and loss weights** are computed fold by fold from the training bags (the
  scaler is folded into the first layer; see :mod:`scorelens.mil._step`);
* **one thread per matrix product**: a multi-threaded GEMM may split the summed
  dimension across threads (MKL does when the output is small), and whether it does
  depends on how many matrices the batched product holds, so the rounding of a fold
  would depend on its neighbours. Training therefore runs with one intra-op thread and
  gets its parallelism from ``n_jobs`` Python threads, each training its own stack
  (PyTorch releases the GIL inside its kernels).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import torch

from scorelens.config import ModelConfig as _StudyModel
from scorelens.exceptions import ParameterError
from scorelens.mil._network import MILNetwork, resolve_device, resolve_precision
from scorelens.mil._step import InstanceStore, StackTrainer, aligned, build_store, chunk_layout, robust_scale

#: The study's training settings (written once, in scorelens.config): the defaults below.
STUDY = _StudyModel()

__all__ = ["single_threaded_kernels", "TrainingPlan", "make_plan", "fold_seed", "fit_scalers", "loss_weights",
           "pad_bags", "fold_standardisation",
           "train_stack", "predict_stack", "fold_stacks", "cross_val_network", "CVNetworkResult", "FoldStack"]

_EPOCH_TAG = 0x65706F63  # "epoc": keeps the shuffle seeds apart from the initialisation seeds


_THREADS_LOCK = threading.Lock()
_THREADS_USERS = 0
_THREADS_SAVED = 1


@contextlib.contextmanager
def single_threaded_kernels() -> Iterator[None]:
    """Run PyTorch kernels on one intra-op thread inside the block (re-entrant, thread-safe).

    Returns
    -------
    contextlib.AbstractContextManager
        Restores the thread count when the last user leaves.
    """
    global _THREADS_USERS, _THREADS_SAVED
    with _THREADS_LOCK:
        if _THREADS_USERS == 0:
            _THREADS_SAVED = torch.get_num_threads()
            torch.set_num_threads(1)
        _THREADS_USERS += 1
    try:
        yield
    finally:
        with _THREADS_LOCK:
            _THREADS_USERS -= 1
            if _THREADS_USERS == 0:
                torch.set_num_threads(_THREADS_SAVED)


def fold_seed(seed: int, fold: int) -> int:
    """Seed of fold ``fold``'s initial weights: a function of ``(seed, fold)`` only.

    Parameters
    ----------
    seed : int
        The evaluation's seed.
    fold : int
        Fold index.

    Returns
    -------
    int
        From ``SeedSequence([seed, fold])``: the same for a fold trained alone or in a stack.
    """
    return int(np.random.SeedSequence([int(seed), int(fold)]).generate_state(1)[0])


@dataclass(frozen=True)
class TrainingPlan:
    """The mini-batch schedule shared by a set of folds.

    Attributes
    ----------
    steps : list of np.ndarray [shape=(n_bags_t,), dtype=int64]
        The chunk of bags of step ``t``; each fold trains on the ones in its training set.
    epoch_ends : list of int
        Index of the last step of every epoch.
    chunk_size : int
        Bags per chunk (the last chunk of an epoch may hold fewer).
    """

    steps: list[np.ndarray]
    epoch_ends: list[int]
    chunk_size: int


def make_plan(train_masks: np.ndarray, *, epochs: int, batch_size: int, seed: int) -> TrainingPlan:
    """Build the shared mini-batch schedule (see the module docstring).

    Parameters
    ----------
    train_masks : np.ndarray [shape=(n_folds, n_bags), dtype=bool]
        Which bags each fold trains on.
    epochs, batch_size, seed : int

    Returns
    -------
    TrainingPlan
    """
    train_masks = np.asarray(train_masks, dtype=bool)
    n_bags = train_masks.shape[1]
    used = train_masks.any(axis=0)
    mean_train = float(train_masks.sum(axis=1).mean())
    chunk = max(1, int(round(batch_size * n_bags / max(mean_train, 1.0))))
    steps, ends = [], []
    for epoch in range(epochs):
        rng = np.random.default_rng(np.random.SeedSequence([int(seed), _EPOCH_TAG, epoch]))
        order = rng.permutation(n_bags)
        order = order[used[order]]
        steps.extend(order[s:s + chunk] for s in range(0, len(order), chunk))
        ends.append(len(steps) - 1)
    return TrainingPlan(steps, ends, chunk)


def fit_scalers(bags: Sequence[np.ndarray], train_masks: np.ndarray,
                dtype=np.float32) -> tuple[np.ndarray, np.ndarray]:
    """Per-fold standardisation of instances, fitted on each fold's training bags only.

    Parameters
    ----------
    bags : list of np.ndarray [shape=(n_instances_i, n_features)]
    train_masks : np.ndarray [shape=(n_folds, n_bags), dtype=bool]

    Returns
    -------
    mean, scale : np.ndarray [shape=(n_folds, n_features), dtype=dtype]
        As scikit-learn's StandardScaler (population std; a constant feature gets scale 1).
    """
    means, scales = [], []
    for mask in np.asarray(train_masks, dtype=bool):
        X = np.concatenate([b for b, m in zip(bags, mask) if m]).astype(np.float64)
        mu = X.mean(axis=0)
        means.append(mu)
        scales.append(robust_scale(X.std(axis=0), mu))
    return np.asarray(means, dtype=dtype), np.asarray(scales, dtype=dtype)


def loss_weights(Y: np.ndarray, train_masks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Positive and negative class weights of every label, from each fold's training labels.

    The study's weighted binary cross-entropy ("Model architectures"): each class of each
    label weighs ``n / (2 * n_class)``, so both classes count equally in the loss
    (scikit-learn's "balanced"). A class absent from a fold's training set weighs 1.

    Parameters
    ----------
    Y : np.ndarray [shape=(n_bags, n_labels)]
        0/1 labels.
    train_masks : np.ndarray [shape=(n_folds, n_bags), dtype=bool]
        Training bags of each fold.

    Returns
    -------
    pos, neg : np.ndarray [shape=(n_folds, n_labels), dtype=float32]
    """
    pos, neg = [], []
    for mask in np.asarray(train_masks, dtype=bool):
        Yf = Y[mask]
        n = Yf.shape[0]
        n_pos = Yf.sum(axis=0).astype(np.float64)
        n_neg = n - n_pos
        pos.append(np.where(n_pos > 0, n / (2 * np.maximum(n_pos, 1)), 1.0))
        neg.append(np.where(n_neg > 0, n / (2 * np.maximum(n_neg, 1)), 1.0))
    return np.asarray(pos, dtype=np.float32), np.asarray(neg, dtype=np.float32)


def pad_bags(bags: Sequence[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
    """Stack bags into one zero-padded tensor.

    Parameters
    ----------
    bags : sequence of np.ndarray [shape=(n_instances_i, n_features)]
        At least one bag.

    Returns
    -------
    padded : torch.Tensor [shape=(n_bags, max_instances, n_features), dtype=float32]
    sizes : torch.Tensor [shape=(n_bags,), dtype=int64]
    """
    sizes = torch.tensor([b.shape[0] for b in bags], dtype=torch.int64)
    padded = torch.zeros((len(bags), int(sizes.max()), bags[0].shape[1]), dtype=torch.float32)
    for i, b in enumerate(bags):
        padded[i, :b.shape[0]] = torch.from_numpy(np.array(b, dtype=np.float32))  # a copy: inputs may be read-only
    return padded, sizes


def fold_standardisation(store: InstanceStore, bags: Sequence[np.ndarray], train_masks: np.ndarray):
    """Each fold's scaler, in the store's space (for training) and in the features' own (for prediction).

    Parameters
    ----------
    store : InstanceStore
    bags : list of np.ndarray [shape=(n_instances_i, n_features)]
    train_masks : np.ndarray [shape=(n_folds, n_bags), dtype=bool]

    Returns
    -------
    shift, scale : np.ndarray [shape=(n_folds, n_features), dtype=float32]
        The fold's scaler in the store's (corpus-standardised) space:
        ``(mean - store.mean) / store.scale`` and ``deviation / store.scale``.
    mean, deviation : np.ndarray [shape=(n_folds, n_features), dtype=float32]
        The fold's own StandardScaler, fitted on its training bags in the original units.
    """
    mean, deviation = fit_scalers(bags, train_masks, dtype=np.float64)
    shift = (mean - store.mean) / store.scale
    scale = deviation / store.scale
    f32 = np.float32
    return shift.astype(f32), scale.astype(f32), mean.astype(f32), deviation.astype(f32)


def _batch(padded, sizes, idx: np.ndarray, length: int, mean: torch.Tensor, scale: torch.Tensor):
    """Gather, crop and standardise the bags ``idx`` (F, B) of every model for prediction.

    Returns x (F, B, L, d), mask (F, B, L) and valid (F, B): slot holds a real bag.
    """
    idx_t = torch.from_numpy(idx).to(padded.device)
    valid = idx_t >= 0
    safe = idx_t.clamp_min(0)
    x = (padded[safe, :length] - mean[:, None, None, :]) / scale[:, None, None, :]   # (F, B, L, d)
    mask = torch.arange(length, device=padded.device)[None, None, :] < sizes[safe][..., None]   # (F, B, L)
    # An empty slot still gets one (ignored) instance so every pooling stays finite.
    mask[..., 0] |= ~valid
    return x, mask, valid


def train_stack(store: InstanceStore, Y: np.ndarray, plan: TrainingPlan, train_masks: np.ndarray,
                seeds: Sequence[int], shift: np.ndarray, scale: np.ndarray, pos_weight: np.ndarray,
                neg_weight: np.ndarray, *, pooling: str, hidden: int, learning_rate: float,
                precision: str = "float32",
                on_epoch: Callable[[int], None] | None = None) -> tuple[MILNetwork, np.ndarray]:
    """Train a stack of folds side by side on a shared plan.

    Parameters
    ----------
    store : InstanceStore
        The corpus (:func:`scorelens.mil._step.build_store`, in the precision's dtype).
    Y : np.ndarray [shape=(n_bags, n_labels)]
    plan : TrainingPlan
        Schedule shared by all folds of the cross-validation.
    train_masks : np.ndarray [shape=(n_stacked, n_bags), dtype=bool]
        Training bags of each fold of this stack.
    seeds : sequence of int
        Initialisation seed of each fold of the stack.
    shift, scale : np.ndarray [shape=(n_stacked, n_features)]
        Each fold's standardisation in the store's space (:func:`fold_standardisation`).
    pos_weight, neg_weight : np.ndarray [shape=(n_stacked, n_labels)]
    pooling, hidden, learning_rate, precision
        See :class:`scorelens.mil.MILClassifier`.
    on_epoch : callable, optional
        Called with the number of finished epochs.

    Returns
    -------
    network : MILNetwork
        A stack of the trained networks, on the store's device.
    losses : np.ndarray [shape=(n_epochs, n_stacked)]
        Mean training loss of each epoch.
    """
    train_masks = np.asarray(train_masks, dtype=bool)
    n = train_masks.shape[0]
    device = store.x.device
    net = MILNetwork(store.n_features, Y.shape[1], hidden, pooling, seeds, precision=precision, device=device)
    trainer = StackTrainer(net, store, shift, scale, pos_weight, neg_weight, learning_rate)
    Yt = torch.from_numpy(np.asarray(Y, dtype=np.float32)).to(device)
    masks_t = torch.from_numpy(train_masks).to(device)
    losses = []
    epoch_loss, epoch_steps, epoch = torch.zeros(n, device=device), torch.zeros(n, device=device), 0
    for t, bags in enumerate(plan.steps):
        index = torch.from_numpy(bags).to(device)
        valid = masks_t[:, index]                                            # (n, B)
        per_fold = trainer.step(chunk_layout(bags, store), Yt[index], valid)
        active = valid.any(dim=1)
        epoch_loss += torch.where(active, per_fold, 0.0)
        epoch_steps += active.to(torch.float32)
        if t == plan.epoch_ends[epoch]:
            losses.append((epoch_loss / epoch_steps.clamp_min(1)).cpu().numpy().copy())
            epoch_loss.zero_()
            epoch_steps.zero_()
            epoch += 1
            if on_epoch is not None:
                on_epoch(epoch)
    net = trainer.write_back()
    net.eval()
    return net, np.asarray(losses).reshape(-1, n)


@torch.no_grad()
def predict_stack(net: MILNetwork, padded: torch.Tensor, sizes: torch.Tensor, idx: np.ndarray, length: int,
                  mean: np.ndarray, scale: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Run every model of a stack on its own bags (on the stack's device; the answers come back as NumPy).

    Parameters
    ----------
    idx : np.ndarray [shape=(n_models, n_slots), dtype=int64]
        Bags for each model (-1: empty slot).
    length : int
        Instance slots (at least the largest bag in ``idx``).

    Returns
    -------
    proba : np.ndarray [shape=(n_models, n_slots, n_labels)]
    weights : np.ndarray [shape=(n_models, n_slots, length, n_labels)]
    """
    device = net.device
    x, mask, _ = _batch(padded.to(device), sizes.to(device), idx, length, torch.from_numpy(mean).to(device),
                        torch.from_numpy(scale).to(device))
    out = net(x, mask)
    return out.proba.cpu().numpy(), out.weights.cpu().numpy()


def fold_stacks(n_folds: int, *, vectorise: bool = True, fold_chunk: int | None = None,
                n_jobs: int | None = None) -> list[list[int]]:
    """How :func:`cross_val_network` groups folds into stacks (one stack per training run).

    Vectorised: the folds shared evenly between ``n_jobs`` threads (at most
    ``fold_chunk`` per stack); otherwise one fold per stack.

    Parameters
    ----------
    n_folds : int
    vectorise : bool
        Stacks of several folds (True) or one fold per stack.
    fold_chunk : int, optional
        Largest stack.
    n_jobs : int, optional
        Threads sharing the folds (default: PyTorch's thread count).

    Returns
    -------
    list of list of int
        Fold indices of each stack, in order.
    """
    if not vectorise:
        return [[f] for f in range(n_folds)]
    n_jobs = max(1, int(n_jobs or torch.get_num_threads()))
    chunk = fold_chunk or -(-n_folds // n_jobs)
    return [list(range(s, min(s + chunk, n_folds))) for s in range(0, n_folds, chunk)]


@dataclass
class CVNetworkResult:
    """Out-of-fold predictions of a cross-validated network.

    Attributes
    ----------
    proba : np.ndarray [shape=(n_bags, n_labels)]
        Each bag's probabilities from the fold that held it out.
    weights : list of np.ndarray [shape=(n_instances_i, n_labels)]
        Each bag's instance weights from that fold.
    losses : np.ndarray [shape=(n_epochs, n_folds)]
        Training loss curves.
    models : list of FoldStack
        With ``keep_models=True``: the trained stacks, for predicting the held-out bags
        again on other inputs (:meth:`predict_held_out`, e.g. permuted features).
    bag_shapes : list of tuple
        With ``keep_models=True``: the shape of every bag the folds saw.
    """

    proba: np.ndarray
    weights: list
    losses: np.ndarray
    models: list = field(default_factory=list)
    bag_shapes: list = field(default_factory=list)

    def predict_held_out(self, variants: Sequence[Sequence[np.ndarray]]) -> np.ndarray:
        """Each fold's trained network on its own held-out bags, in several variants of the corpus.

        Each variant is predicted exactly as the cross-validation predicted the corpus (the
        same stacks, batch shapes and threads), so a variant equal to the corpus gives
        :attr:`proba` bit for bit, and any difference comes from the variant's values alone.

        Parameters
        ----------
        variants : sequence of (list of np.ndarray [shape=(n_instances_i, n_features)])
            Versions of the corpus with the bags' shapes unchanged (e.g. a feature group
            permuted); only each fold's held-out bags are read.

        Returns
        -------
        np.ndarray [shape=(n_variants, n_bags, n_labels)]
            Probabilities; variant ``v``'s row of bag ``b`` comes from the fold that held
            ``b`` out, as in :attr:`proba` (NaN for the bags of folds not trained).

        Raises
        ------
        ParameterError
            Without kept models, or for a variant whose bags differ in number or shape
            from the corpus the folds were trained on.
        """
        if not self.models:
            raise ParameterError("predict_held_out needs the fold models: cross_val_network(..., keep_models=True)")
        n_bags, n_labels = self.proba.shape
        out = np.full((len(variants), n_bags, n_labels), np.nan)
        for v, bags in enumerate(variants):
            shapes = [tuple(b.shape) for b in bags]
            if shapes != self.bag_shapes:
                raise ParameterError(f"variant {v} does not have the corpus's {n_bags} bags and bag sizes "
                                     f"(and {self.bag_shapes[0][1]} features)")
        with single_threaded_kernels():
            for v, bags in enumerate(variants):
                padded, sizes = pad_bags(bags)
                for stack in self.models:
                    p, _ = predict_stack(stack.network, padded, sizes, stack.test_idx, stack.length, stack.mean,
                                         stack.deviation)
                    for j in range(len(stack.rows)):
                        for s, b in enumerate(stack.test_idx[j]):
                            if b >= 0:
                                out[v, b] = p[j, s]
        return out


@dataclass
class FoldStack:
    """A trained stack of fold networks and what predicting with it needs.

    Attributes
    ----------
    rows : list of int
        The folds in the stack.
    network : MILNetwork
    mean, deviation : np.ndarray [shape=(n_stacked, n_features), dtype=float32]
        Each fold's scaler (fitted on its training bags).
    test_idx : np.ndarray [shape=(n_stacked, n_slots), dtype=int64]
        Each fold's held-out bags (-1: empty slot).
    length : int
        Instance slots of a prediction batch.
    """

    rows: list
    network: MILNetwork
    mean: np.ndarray
    deviation: np.ndarray
    test_idx: np.ndarray
    length: int


def cross_val_network(bags: Sequence[np.ndarray], Y: np.ndarray, folds: Sequence[np.ndarray], *,
                      pooling: str = "attention", hidden: int = STUDY.hidden, epochs: int = STUDY.epochs,
                      learning_rate: float = STUDY.learning_rate, batch_size: int = STUDY.batch_size, seed: int = 0,
                      precision: str = "float32", device="cpu", vectorise: bool = True,
                      fold_chunk: int | None = None,
                      n_jobs: int | None = None,
                      only: Sequence[int] | None = None, keep_models: bool = False,
                      on_epoch: Callable[[int], None] | None = None) -> CVNetworkResult:
    """Cross-validate a MIL network, training the folds together (or one at a time).

    Parameters
    ----------
    bags : list of np.ndarray [shape=(n_instances_i, n_features)]
        Checked bags (see :func:`scorelens.mil._validation.check_bags`).
    Y : np.ndarray [shape=(n_bags, n_labels)]
    folds : sequence of np.ndarray
        Test-bag indices of each fold; a fold trains on every other bag.
    pooling, hidden, epochs, learning_rate, batch_size, seed, precision, device
        As :class:`scorelens.mil.MILClassifier`; fold ``f`` is initialised from
        ``(seed, f)``. On a GPU the folds train as one stack by default (``n_jobs=1``).
    vectorise : bool
        Train the folds as stacks (fast) or one fold per stack (reference path); both
        give the same numbers.
    fold_chunk : int, optional
        Largest stack trained at once; default: the folds shared evenly between the
        ``n_jobs`` threads, in smaller stacks if a stack's activations would pass ~1 GB
        (long frame-level bags). Stack sizes never change the numbers.
    n_jobs : int, optional
        Threads training stacks concurrently (each with one intra-op thread); default:
        ``torch.get_num_threads()`` on the CPU, 1 on a GPU.
    only : sequence of int, optional
        Train and predict only these folds (the others' rows of ``proba`` stay NaN); the
        shapes still come from all folds, so the numbers are those of a full run. For
        timing a subset of folds.
    keep_models : bool
        Keep the trained stacks in the result (:meth:`CVNetworkResult.predict_held_out`).
    on_epoch : callable, optional
        Called once per finished epoch of each stack, ``len(fold_stacks(...)) * epochs``
        calls in all (from worker threads).

    Returns
    -------
    CVNetworkResult

    Raises
    ------
    ParameterError
        Non-positive ``epochs``, ``batch_size``, ``hidden`` or ``learning_rate``, an
        unknown pooling or precision, or folds that do not hold every bag in exactly
        one test set.
    """
    n_bags = len(bags)
    precision = resolve_precision(precision)
    device = resolve_device(device)
    if epochs < 1 or batch_size < 1 or hidden < 1 or not learning_rate > 0:
        raise ParameterError(f"epochs={epochs}, batch_size={batch_size}, hidden={hidden} must be >= 1 "
                             f"and learning_rate={learning_rate} > 0")
    test_masks = np.zeros((len(folds), n_bags), dtype=bool)
    for f, test in enumerate(folds):
        test_masks[f, np.asarray(test, dtype=np.int64)] = True
    if (test_masks.sum(axis=0) != 1).any():
        raise ParameterError("folds must hold every bag in exactly one test set")
    train_masks = ~test_masks
    padded, sizes = pad_bags(bags)
    sizes_np = sizes.numpy()
    padded, sizes = padded.to(device), sizes.to(device)    # copied once, not per stack
    plan = make_plan(train_masks, epochs=epochs, batch_size=batch_size, seed=seed)
    store = build_store(bags, MILNetwork.dtype_of(precision), device)
    shift, scale, mean, deviation = fold_standardisation(store, bags, train_masks)
    pos_w, neg_w = loss_weights(Y, train_masks)
    # Test batches also share their shape across folds.
    n_slots = int(test_masks.sum(axis=1).max())
    test_idx = np.full((len(folds), n_slots), -1, dtype=np.int64)
    for f in range(len(folds)):
        members = np.flatnonzero(test_masks[f])
        test_idx[f, :len(members)] = members
    test_len = int(sizes_np.max())
    # A GPU runs one stack's products across all its cores; threads would only queue on it.
    n_jobs = max(1, int(n_jobs or (torch.get_num_threads() if device.type == "cpu" else 1)))
    if fold_chunk is None:
        # Bound a stack's activations (about a dozen tensors of a chunk's instances x width
        # floats per fold) to ~1 GB per thread; frame-level bags can be thousands long.
        rows_max = max(int(sizes_np[chunk].sum()) for chunk in plan.steps)
        per_fold = 12 * 4 * rows_max * max(store.x.shape[0], aligned(hidden))
        fold_chunk = max(1, min(len(folds), (1 << 30) // per_fold))
        fold_chunk = min(fold_chunk, -(-len(folds) // n_jobs))
    stacks = fold_stacks(len(folds), vectorise=vectorise, fold_chunk=fold_chunk, n_jobs=n_jobs)
    if only is not None:
        keep = set(int(f) for f in only)
        stacks = [[f for f in s if f in keep] for s in stacks]
        stacks = [s for s in stacks if s]
    proba = np.full((n_bags, Y.shape[1]), np.nan if only is not None else 0.0, dtype=np.float64)
    weights: list = [None] * n_bags
    losses = np.zeros((epochs, len(folds)))

    def run(rows):
        # OpenMP's thread count is per thread: a fresh worker starts at the machine default.
        torch.set_num_threads(1)
        net, loss = train_stack(store, Y, plan, train_masks[rows], [fold_seed(seed, f) for f in rows],
                                shift[rows], scale[rows], pos_w[rows], neg_w[rows], pooling=pooling,
                                hidden=hidden, learning_rate=learning_rate, precision=precision,
                                on_epoch=on_epoch)
        return rows, net, loss, predict_stack(net, padded, sizes, test_idx[rows], test_len, mean[rows],
                                              deviation[rows])

    with single_threaded_kernels(), ThreadPoolExecutor(max_workers=n_jobs) as pool:
        results = list(pool.map(run, stacks))
    models = []
    for rows, net, loss, (p, w) in results:
        losses[:, rows] = loss
        if keep_models:
            models.append(FoldStack(list(rows), net, mean[rows], deviation[rows], test_idx[rows], test_len))
        for j, f in enumerate(rows):
            for s, b in enumerate(test_idx[f]):
                if b >= 0:
                    proba[b] = p[j, s]
                    weights[b] = w[j, s, :sizes_np[b]]
    return CVNetworkResult(proba, weights, losses, models,
                           [tuple(b.shape) for b in bags] if keep_models else [])


def merge_cv_results(results: Sequence[CVNetworkResult], folds: Sequence[np.ndarray]) -> CVNetworkResult:
    """One cross-validation from runs that each trained some of its folds (``cross_val_network(only=…)``).

    Each bag's probabilities and instance weights come from the run that held it out; the
    loss curves from the run that trained the fold; the kept fold models are pooled. The
    numbers are those of a single run over all folds (``only`` keeps every fold's shapes,
    schedule and seed).

    Parameters
    ----------
    results : sequence of CVNetworkResult
        Runs over disjoint sets of folds, together covering every fold.
    folds : sequence of np.ndarray
        Test-bag indices of each fold (as given to every run).

    Returns
    -------
    CVNetworkResult
    """
    if not results:
        raise ParameterError("no cross-validation runs to merge")
    proba = np.zeros_like(results[0].proba)
    weights: list = [None] * len(proba)
    losses = np.zeros_like(results[0].losses)
    models: list = []
    done = np.zeros(len(folds), dtype=bool)
    for res in results:
        trained = [f for f in range(len(folds)) if not np.isnan(res.proba[np.asarray(folds[f], np.int64)]).any()]
        for f in trained:
            test = np.asarray(folds[f], dtype=np.int64)
            proba[test] = res.proba[test]
            for b in test:
                weights[b] = res.weights[b]
            losses[:, f] = res.losses[:, f]
            done[f] = True
        models += list(res.models)
    if not done.all():
        raise ParameterError(f"fold(s) {np.flatnonzero(~done).tolist()} were trained by none of the runs")
    return CVNetworkResult(proba, weights, losses, models, results[0].bag_shapes)
