"""Training a stack of MIL networks at once: one per cross-validation fold.

Leave-one-out repeats the same small training 110 times ("Genre prediction model
training procedure"). Here the folds are trained side by side as one
:class:`~scorelens.mil.network.MILNetwork` stack: each step runs every fold's next
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
  "epoch", e])``, and each fold takes its training bags in that order, in batches of
  ``batch_size``;
* **shapes**: at each step the padded batch has the same number of bag slots and
  instance slots for every fold (the largest over all folds of the plan), whether
  the folds run together or one by one, because a sum's rounding depends on how
  many terms it has, padding included;
* **scalers and loss weights** are computed fold by fold from the training bags;
* **one thread per matrix product**: a multi-threaded GEMM may split the summed
  dimension across threads (MKL does when the output is small), and whether it does
  depends on how many matrices the batched product holds, so the rounding of a fold
  would depend on its neighbours. Training therefore runs with one intra-op thread and
  gets its parallelism from ``n_jobs`` Python threads, each training its own stack
  (PyTorch releases the GIL inside its kernels).
"""

from __future__ import annotations

import contextlib
import math
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import torch

from scorelens.exceptions import ParameterError
from scorelens.mil.network import MILNetwork, per_model, resolve_precision

__all__ = ["single_threaded_kernels", "TrainingPlan", "make_plan", "fold_seed", "fit_scalers", "loss_weights",
           "pad_bags",
           "train_stack", "predict_stack", "fold_stacks", "cross_val_network", "CVNetworkResult"]

_EPOCH_TAG = 0x65706F63  # "epoc": keeps the shuffle seeds apart from the initialisation seeds


_THREADS_LOCK = threading.Lock()
_THREADS_USERS = 0
_THREADS_SAVED = 1


@contextlib.contextmanager
def single_threaded_kernels() -> Iterator[None]:
    """Run PyTorch kernels on one intra-op thread inside the block (re-entrant, thread-safe)."""
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
    """Seed of fold ``fold``'s initial weights: a function of ``(seed, fold)`` only."""
    return int(np.random.SeedSequence([int(seed), int(fold)]).generate_state(1)[0])


@dataclass(frozen=True)
class TrainingPlan:
    """The mini-batch schedule of a set of folds.

    Attributes
    ----------
    steps : list of np.ndarray [shape=(n_folds, n_slots_t), dtype=int64]
        Bag indices of each fold's mini-batch at step ``t`` (-1 marks an empty slot).
    lengths : list of int
        Instance slots of step ``t``: the largest bag in any fold's batch.
    epoch_ends : list of int
        Index of the last step of every epoch.
    """

    steps: list[np.ndarray]
    lengths: list[int]
    epoch_ends: list[int]


def make_plan(train_masks: np.ndarray, sizes: np.ndarray, *, epochs: int, batch_size: int,
              seed: int) -> TrainingPlan:
    """Build the shared mini-batch schedule.

    Parameters
    ----------
    train_masks : np.ndarray [shape=(n_folds, n_bags), dtype=bool]
        Which bags each fold trains on.
    sizes : np.ndarray [shape=(n_bags,)]
        Instances per bag.
    epochs, batch_size, seed : int

    Returns
    -------
    TrainingPlan
    """
    train_masks = np.asarray(train_masks, dtype=bool)
    n_folds, n_bags = train_masks.shape
    steps, lengths, ends = [], [], []
    for epoch in range(epochs):
        rng = np.random.default_rng(np.random.SeedSequence([int(seed), _EPOCH_TAG, epoch]))
        order = rng.permutation(n_bags)
        per_fold = [order[train_masks[f, order]] for f in range(n_folds)]
        n_steps = max(-(-len(o) // batch_size) for o in per_fold)
        for t in range(n_steps):
            chunks = [o[t * batch_size:(t + 1) * batch_size] for o in per_fold]
            width = max(len(c) for c in chunks)
            idx = np.full((n_folds, width), -1, dtype=np.int64)
            for f, c in enumerate(chunks):
                idx[f, :len(c)] = c
            used = idx[idx >= 0]
            steps.append(idx)
            lengths.append(int(sizes[used].max()))
        ends.append(len(steps) - 1)
    return TrainingPlan(steps, lengths, ends)


def fit_scalers(bags: Sequence[np.ndarray], train_masks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-fold standardisation of instances, fitted on each fold's training bags only.

    Parameters
    ----------
    bags : list of np.ndarray [shape=(n_instances_i, n_features)]
    train_masks : np.ndarray [shape=(n_folds, n_bags), dtype=bool]

    Returns
    -------
    mean, scale : np.ndarray [shape=(n_folds, n_features), dtype=float32]
        As scikit-learn's StandardScaler (population std; a constant feature gets scale 1).
    """
    means, scales = [], []
    for mask in np.asarray(train_masks, dtype=bool):
        X = np.concatenate([b for b, m in zip(bags, mask) if m]).astype(np.float64)
        mu = X.mean(axis=0)
        sd = X.std(axis=0)
        sd[sd < 10 * np.finfo(np.float64).eps * np.maximum(np.abs(mu), 1.0)] = 1.0
        means.append(mu)
        scales.append(sd)
    return np.asarray(means, dtype=np.float32), np.asarray(scales, dtype=np.float32)


def loss_weights(Y: np.ndarray, train_masks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Positive and negative class weights of every label, from each fold's training labels.

    The study's weighted binary cross-entropy ("Model architectures"): each class of each
    label weighs ``n / (2 * n_class)``, so both classes count equally in the loss
    (scikit-learn's "balanced"). A class absent from a fold's training set weighs 1.

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


#: Largest per-stack copy of the standardised bags kept for training (bytes); above it
#: (long frame-level bags) each step standardises its own batch instead.
STANDARDISED_COPY_MAX_BYTES = 768 << 20


def _standardise(x: torch.Tensor, mean: torch.Tensor, scale: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """``(x - mean) / scale`` in float32, then cast: the one formula both batch paths use."""
    return ((x - mean) / scale).to(dtype)


def standardised_bags(padded: torch.Tensor, mean: torch.Tensor, scale: torch.Tensor,
                      dtype: torch.dtype) -> torch.Tensor | None:
    """Every fold's standardised copy of the padded bags, or None when it would not fit.

    Standardising once per training instead of once per step saves most of a step's
    memory traffic outside the matrix products. The values are those a step would compute
    (``(x - mean) / scale`` in float32, then cast to ``dtype``), element for element.

    Returns
    -------
    torch.Tensor [shape=(n_folds, n_bags, max_instances, n_features)] or None
    """
    n_bytes = mean.shape[0] * padded.numel() * torch.finfo(dtype).bits // 8
    if n_bytes > STANDARDISED_COPY_MAX_BYTES:
        return None
    out = torch.empty((mean.shape[0], *padded.shape), dtype=dtype)
    for f in range(mean.shape[0]):
        out[f] = _standardise(padded, mean[f], scale[f], dtype)
    return out


def _batch(padded, sizes, idx: np.ndarray, length: int, mean: torch.Tensor, scale: torch.Tensor,
           standardised: torch.Tensor | None = None, dtype: torch.dtype = torch.float32):
    """Gather, crop and standardise one step's bags for every fold.

    Returns x (F, B, L, d) of ``dtype``, mask (F, B, L) and valid (F, B): slot holds a real bag.
    """
    idx_t = torch.from_numpy(idx)
    valid = idx_t >= 0
    safe = idx_t.clamp_min(0)
    if standardised is not None:
        folds = torch.arange(idx.shape[0])[:, None]
        x = standardised[folds, safe, :length]                   # (F, B, L, d)
    else:
        x = padded[safe, :length]                                # (F, B, L, d)
        x = _standardise(x, mean[:, None, None, :], scale[:, None, None, :], dtype)
    mask = torch.arange(length)[None, None, :] < sizes[safe][..., None]   # (F, B, L)
    # An empty slot still gets one (ignored) instance so every pooling stays finite.
    mask[..., 0] |= ~valid
    return x, mask, valid


def _adam(params: list[torch.Tensor], grads, state: dict, active: torch.Tensor, lr: float,
          betas=(0.9, 0.999), eps: float = 1e-8) -> None:
    """One Adam step (as torch.optim.Adam's defaults) on every model whose ``active`` flag is set.

    Written out so that each model keeps its own step count: in k-fold a fold may run out
    of batches one step before the others and must then not move.
    """
    b1, b2 = betas
    steps = state.setdefault("step", [0] * active.shape[0])
    for f, on in enumerate(active.tolist()):
        steps[f] += int(on)
    # Bias corrections in Python floats, per model: torch.pow on a vector would round a
    # model's value differently depending on its position (see network.per_model).
    n = [max(s, 1) for s in steps]
    step_size = torch.tensor([lr / (1 - b1 ** k) for k in n], dtype=torch.float32)     # (F,)
    bc2_sqrt = torch.tensor([math.sqrt(1 - b2 ** k) for k in n], dtype=torch.float32)   # (F,)
    everyone = bool(active.all())
    for i, (p, g) in enumerate(zip(params, grads)):
        m = state.setdefault(("m", i), torch.zeros_like(p))
        v = state.setdefault(("v", i), torch.zeros_like(p))
        shape = (-1,) + (1,) * (p.dim() - 1)
        # Only correctly rounded operations (no lerp/addcmul/alpha=, which may fuse into
        # FMAs on the SIMD path only), so each element's result does not depend on its
        # position; in place where every model moves (always, in leave-one-out).
        if everyone:
            m.mul_(b1).add_(g * (1 - b1))
            v.mul_(b2).add_((g * g).mul_(1 - b2))
            denom = torch.sqrt(v).div_(bc2_sqrt.view(shape)).add_(eps)
            p.data.sub_((m * step_size.view(shape)).div_(denom))
            continue
        on = active.view(shape)
        m_new = m * b1 + g * (1 - b1)
        v_new = v * b2 + (g * g) * (1 - b2)
        denom = torch.sqrt(v_new) / bc2_sqrt.view(shape) + eps
        step = step_size.view(shape) * m_new / denom
        m.copy_(torch.where(on, m_new, m))
        v.copy_(torch.where(on, v_new, v))
        p.data.copy_(torch.where(on, p.data - step, p.data))


def train_stack(padded: torch.Tensor, sizes: torch.Tensor, Y: np.ndarray, plan: TrainingPlan,
                rows: Sequence[int], seeds: Sequence[int], mean: np.ndarray, scale: np.ndarray,
                pos_weight: np.ndarray, neg_weight: np.ndarray, *, pooling: str, hidden: int,
                learning_rate: float, precision: str = "float32",
                on_epoch: Callable[[int], None] | None = None) -> tuple[MILNetwork, np.ndarray]:
    """Train the folds ``rows`` of ``plan`` side by side.

    Parameters
    ----------
    padded : torch.Tensor [shape=(n_bags, max_instances, n_features)]
    sizes : torch.Tensor [shape=(n_bags,)]
    Y : np.ndarray [shape=(n_bags, n_labels)]
    plan : TrainingPlan
        Schedule of all folds; only rows ``rows`` are trained here, but every step keeps
        the plan's shapes.
    rows : sequence of int
        Folds to train (rows of the plan).
    seeds : sequence of int
        Initialisation seed of each fold in ``rows``.
    mean, scale : np.ndarray [shape=(len(rows), n_features)]
    pos_weight, neg_weight : np.ndarray [shape=(len(rows), n_labels)]
    pooling, hidden, learning_rate, precision
        See :class:`scorelens.mil.MILClassifier`.
    on_epoch : callable, optional
        Called with the number of finished epochs.

    Returns
    -------
    network : MILNetwork
        A stack of ``len(rows)`` trained networks.
    losses : np.ndarray [shape=(n_epochs, len(rows))]
        Mean training loss of each epoch.
    """
    rows = list(rows)
    net = MILNetwork(padded.shape[2], Y.shape[1], hidden, pooling, seeds, precision=precision)
    params = list(net.params.values())
    Yt = torch.from_numpy(np.asarray(Y, dtype=np.float32))
    mean_t, scale_t = torch.from_numpy(mean), torch.from_numpy(scale)
    pos_t = torch.from_numpy(pos_weight)[:, None, :]            # (F, 1, labels)
    neg_t = torch.from_numpy(neg_weight)[:, None, :]
    state: dict = {}
    losses, epoch_loss, epoch_steps, epoch = [], torch.zeros(len(rows)), torch.zeros(len(rows)), 0
    standardised = standardised_bags(padded, mean_t, scale_t, net.compute_dtype)
    for t, (idx_all, length) in enumerate(zip(plan.steps, plan.lengths)):
        idx = idx_all[rows]
        x, mask, valid = _batch(padded, sizes, idx, length, mean_t, scale_t, standardised, net.compute_dtype)
        out = net(x, mask)
        y = Yt[torch.from_numpy(idx).clamp_min(0)]               # (F, B, labels)
        p = out.proba.clamp(1e-7, 1 - 1e-7)
        bce = -(pos_t * y * per_model(torch.log, p) + neg_t * (1 - y) * per_model(torch.log, 1 - p))   # (F, B, labels)
        w = valid.to(torch.float32)
        n_valid = w.sum(dim=1)                                   # (F,)
        per_fold = (bce.mean(dim=2) * w).sum(dim=1) / n_valid.clamp_min(1.0)
        grads = torch.autograd.grad(per_fold.sum(), params)
        with torch.no_grad():
            _adam(params, grads, state, n_valid > 0, learning_rate)
        epoch_loss += per_fold.detach()
        epoch_steps += (n_valid > 0).to(torch.float32)
        if t == plan.epoch_ends[epoch]:
            losses.append((epoch_loss / epoch_steps.clamp_min(1)).numpy().copy())
            epoch_loss.zero_()
            epoch_steps.zero_()
            epoch += 1
            if on_epoch is not None:
                on_epoch(epoch)
    net.eval()
    return net, np.asarray(losses).reshape(-1, len(rows))


@torch.no_grad()
def predict_stack(net: MILNetwork, padded: torch.Tensor, sizes: torch.Tensor, idx: np.ndarray, length: int,
                  mean: np.ndarray, scale: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Run every model of a stack on its own bags.

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
    x, mask, _ = _batch(padded, sizes, idx, length, torch.from_numpy(mean), torch.from_numpy(scale))
    out = net(x, mask)
    return out.proba.numpy(), out.weights.numpy()


def fold_stacks(n_folds: int, *, vectorise: bool = True, fold_chunk: int | None = None,
                n_jobs: int | None = None) -> list[list[int]]:
    """How :func:`cross_val_network` groups folds into stacks (one stack per training run).

    Vectorised: the folds shared evenly between ``n_jobs`` threads (at most
    ``fold_chunk`` per stack); otherwise one fold per stack.
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
    """

    proba: np.ndarray
    weights: list
    losses: np.ndarray


def cross_val_network(bags: Sequence[np.ndarray], Y: np.ndarray, folds: Sequence[np.ndarray], *,
                      pooling: str = "attention", hidden: int = 128, epochs: int = 200,
                      learning_rate: float = 5e-5, batch_size: int = 16, seed: int = 0,
                      precision: str = "float32", vectorise: bool = True, fold_chunk: int | None = None, n_jobs: int | None = None,
                      only: Sequence[int] | None = None,
                      on_epoch: Callable[[int], None] | None = None) -> CVNetworkResult:
    """Cross-validate a MIL network, training the folds together (or one at a time).

    Parameters
    ----------
    bags : list of np.ndarray [shape=(n_instances_i, n_features)]
        Checked bags (see :func:`scorelens.mil._validation.check_bags`).
    Y : np.ndarray [shape=(n_bags, n_labels)]
    folds : sequence of np.ndarray
        Test-bag indices of each fold; a fold trains on every other bag.
    pooling, hidden, epochs, learning_rate, batch_size, seed, precision
        As :class:`scorelens.mil.MILClassifier`; fold ``f`` is initialised from
        ``(seed, f)``.
    vectorise : bool
        Train the folds as stacks (fast) or one fold per stack (reference path); both
        give the same numbers.
    fold_chunk : int, optional
        Largest stack trained at once; default: the folds shared evenly between the
        ``n_jobs`` threads, in smaller stacks if a stack's activations would pass ~1 GB
        (long frame-level bags). Stack sizes never change the numbers.
    n_jobs : int, optional
        Threads training stacks concurrently (each with one intra-op thread); default:
        ``torch.get_num_threads()``.
    only : sequence of int, optional
        Train and predict only these folds (the others' rows of ``proba`` stay NaN); the
        shapes still come from all folds, so the numbers are those of a full run. For
        timing a subset of folds.
    on_epoch : callable, optional
        Called once per finished epoch of each stack, ``len(fold_stacks(...)) * epochs``
        calls in all (from worker threads).

    Returns
    -------
    CVNetworkResult
    """
    n_bags = len(bags)
    precision = resolve_precision(precision)
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
    plan = make_plan(train_masks, sizes_np, epochs=epochs, batch_size=batch_size, seed=seed)
    mean, scale = fit_scalers(bags, train_masks)
    pos_w, neg_w = loss_weights(Y, train_masks)
    # Test batches also share their shape across folds.
    n_slots = int(test_masks.sum(axis=1).max())
    test_idx = np.full((len(folds), n_slots), -1, dtype=np.int64)
    for f in range(len(folds)):
        members = np.flatnonzero(test_masks[f])
        test_idx[f, :len(members)] = members
    test_len = int(sizes_np.max())
    n_jobs = max(1, int(n_jobs or torch.get_num_threads()))
    if fold_chunk is None:
        # Bound a stack's activations (about a dozen tensors of batch x instances x width
        # floats per fold) to ~1 GB per thread; frame-level bags can be thousands long.
        per_fold = 12 * 4 * batch_size * int(sizes_np.max()) * max(padded.shape[2], hidden)
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
        net, loss = train_stack(padded, sizes, Y, plan, rows, [fold_seed(seed, f) for f in rows],
                                mean[rows], scale[rows], pos_w[rows], neg_w[rows], pooling=pooling,
                                hidden=hidden, learning_rate=learning_rate, precision=precision,
                                on_epoch=on_epoch)
        return rows, loss, predict_stack(net, padded, sizes, test_idx[rows], test_len, mean[rows], scale[rows])

    with single_threaded_kernels(), ThreadPoolExecutor(max_workers=n_jobs) as pool:
        results = list(pool.map(run, stacks))
    for rows, loss, (p, w) in results:
        losses[:, rows] = loss
        for j, f in enumerate(rows):
            for s, b in enumerate(test_idx[f]):
                if b >= 0:
                    proba[b] = p[j, s]
                    weights[b] = w[j, s, :sizes_np[b]]
    return CVNetworkResult(proba, weights, losses)
