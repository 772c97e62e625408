"""One training step of a stack of MIL networks, with a hand-written backward for the embeddings.

:class:`~scorelens.mil._network.MILNetwork` defines the model; autograd through its
``forward`` is the reference. Training 110 leave-one-out folds for 200 epochs spends
nearly all its time in the three embedding layers, where autograd's generic kernels
cost several times the matrix products themselves: each op allocates a fresh tensor
(page faults), bfloat16 element-wise kernels convert to float32 and back, the weight
gradients read the activations transposed, and every bag is padded to the longest bag
of the step. :class:`StackTrainer` runs the same model with

* **feature-major activations** ``(n_models, units, instances)``: every weight gradient
  is then a product with the activations' transpose in the layout the GEMM reads fastest;
* **biases inside the products**: each activation carries a row of ones (and zero rows
  up to a multiple of 16), so a layer is one product and its weight gradient includes the
  bias gradient;
* **ReLU and its gradient on the bit patterns**: for IEEE floats ``relu(x)`` is
  ``max(bits, 0)`` read as a signed integer, and the backward mask is ``min(bits, 1)``
  of the (non-negative) output; both are exact and twice as fast as the float kernels;
* **packed instances**: a step's bags are concatenated, not padded; only the pooling
  gathers them into a padded ``(bag, instance)`` grid, on the few label channels of the
  instance heads;
* **one standardised copy of the corpus for all folds**: the instances are standardised
  once with the whole corpus's mean and deviation (a fixed affine map), and each fold's
  own standardisation, fitted on its training bags in that space, is folded into its
  first layer's weights (``W diag(1/s)`` and ``b - W diag(1/s) m``). The composition is
  exactly the fold's own scaler in exact arithmetic, so no statistic of a held-out bag
  reaches a fold; it only saves a per-fold copy of the data;
* **fused Adam** (``torch._fused_adam_``) over one flat float32 buffer per model.

Autograd still runs the part after the instance heads (pooling, bag-level layers,
loss), on tensors a few channels wide. The feature-level attention's heads are as wide
as the hidden layer, so its part up to the per-bag sums runs by hand as well
(:func:`feature_attention_sums`), with autograd's float32 operations one for one and so
its bits. ``tests/mil/test_step.py`` checks the gradients against autograd through
:class:`MILNetwork`, and the feature attention's bits against autograd's.

Why by hand: PyTorch has no fused "GEMM + bias + ReLU" with a batch of weight matrices
on CPU outside ``torch.compile`` (which needs a C++ toolchain at run time and recompiles
for every bag-size pattern), and no library offers a MIL network trainer.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from scorelens.mil._network import _BLOCK, MILNetwork, _linear, per_model
from scorelens.mil._pooling import _EPS, make_pooling

__all__ = ["InstanceStore", "build_store", "ChunkLayout", "chunk_layout", "padded_rows", "StackTrainer", "aligned"]

_ALIGN = 16  # units per activation rounded up to this (AMX tiles: 16 rows by 32 bf16)


def aligned(n: int) -> int:
    """``n`` units plus the bias row, rounded up to a multiple of 16.

    Parameters
    ----------
    n : int
        Units of a layer.

    Returns
    -------
    int
    """
    return -(-(n + 1) // _ALIGN) * _ALIGN


@dataclass(frozen=True)
class InstanceStore:
    """Every instance of a corpus, standardised with the corpus's own statistics, feature-major.

    Attributes
    ----------
    x : torch.Tensor [shape=(aligned(n_features), n_instances + 1)]
        Row ``n_features`` is 1 (the bias input), later rows 0; the last column is all
        zeros and pads a step's instances to a round number.
    starts, sizes : np.ndarray [shape=(n_bags,)]
        First column and number of instances of each bag.
    mean, scale : np.ndarray [shape=(n_features,), dtype=float64]
        The corpus-wide standardisation that was applied.
    """

    x: torch.Tensor
    starts: np.ndarray
    sizes: np.ndarray
    mean: np.ndarray
    scale: np.ndarray

    @property
    def n_features(self) -> int:
        return int(self.mean.shape[0])


def robust_scale(sd: np.ndarray, mu: np.ndarray) -> np.ndarray:
    """scikit-learn's rule: a (numerically) constant feature gets scale 1.

    Parameters
    ----------
    sd, mu : np.ndarray [shape=(n_features,)]
        Standard deviation and mean of each feature.

    Returns
    -------
    np.ndarray [shape=(n_features,), dtype=float64]
        ``sd``, with 1 where it is below ``10 eps max(|mu|, 1)``.
    """
    sd = np.array(sd, dtype=np.float64)
    sd[sd < 10 * np.finfo(np.float64).eps * np.maximum(np.abs(mu), 1.0)] = 1.0
    return sd


def build_store(bags, dtype: torch.dtype, device="cpu") -> InstanceStore:
    """Standardise and transpose every instance once (see the module docstring).

    Parameters
    ----------
    bags : list of np.ndarray [shape=(n_instances_i, n_features)]
    dtype : torch.dtype
        Compute dtype of the training step (float32 or bfloat16).
    device : str or torch.device
        Where the store lives: the device of the networks it trains.

    Returns
    -------
    InstanceStore
    """
    X = np.concatenate([np.asarray(b, dtype=np.float64) for b in bags])
    mu = X.mean(axis=0)
    sd = robust_scale(X.std(axis=0), mu)
    d = X.shape[1]
    x = torch.zeros((aligned(d), X.shape[0] + 1), dtype=torch.float32)   # the last column pads
    x[:d, :-1] = torch.from_numpy(((X - mu) / sd).T.astype(np.float32))
    x[d, :-1] = 1.0
    sizes = np.array([len(b) for b in bags], dtype=np.int64)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
    return InstanceStore(x.to(device=device, dtype=dtype).contiguous(), starts, sizes, mu, sd)


@dataclass(frozen=True)
class ChunkLayout:
    """Where a step's bags sit among its packed instances.

    Attributes
    ----------
    bags : np.ndarray [shape=(n_bags,)]
    columns : torch.Tensor [shape=(n_rows,)]
        Store columns of the packed instances, bag after bag, then the store's zero
        column up to :func:`padded_rows`.
    slots : torch.Tensor [shape=(n_bags * length,)]
        For each (bag, instance) slot of the padded grid, its packed column, or ``n_rows``
        (a zero column) for padding.
    mask : torch.Tensor [shape=(n_bags, length), dtype=bool]
    members : torch.Tensor [shape=(n_rows, n_bags), dtype=float32]
        1 where a packed instance belongs to a bag: sums over a bag's instances as a product.
    offsets : np.ndarray [shape=(n_bags + 1,), dtype=int64]
        Bag ``k`` holds the packed instances ``offsets[k]:offsets[k + 1]``.
    """

    bags: np.ndarray
    columns: torch.Tensor
    slots: torch.Tensor
    mask: torch.Tensor
    members: torch.Tensor
    offsets: np.ndarray

    @property
    def n_rows(self) -> int:
        return int(self.columns.shape[0])

    def to(self, device) -> "ChunkLayout":
        """The layout with its tensors on ``device`` (itself where they already are).

        Parameters
        ----------
        device : torch.device

        Returns
        -------
        ChunkLayout
        """
        if self.columns.device == torch.device(device):
            return self
        return ChunkLayout(self.bags, *(t.to(device) for t in (self.columns, self.slots, self.mask, self.members)),
                           self.offsets)


def padded_rows(n: int) -> int:
    """``n`` rounded up to a multiple of 32, or of 1/16 of its power of two when larger.

    oneDNN compiles a kernel per matrix shape and keeps a bounded cache of them; letting
    every step's instance count be a new shape makes every step compile (tens of ms per
    product), while these sizes repeat and waste at most 1/16 of the rows.

    Parameters
    ----------
    n : int
        Instances of a step.

    Returns
    -------
    int
        At least ``n``.
    """
    quantum = max(32, 1 << max(0, int(n).bit_length() - 5))
    return -(-int(n) // quantum) * quantum


def chunk_layout(bags: np.ndarray, store: InstanceStore) -> ChunkLayout:
    """Pack the instances of ``bags`` (store indices) and index the padded grid.

    Parameters
    ----------
    bags : np.ndarray [shape=(n_bags,), dtype=int64]
        Store indices of the step's bags.
    store : InstanceStore

    Returns
    -------
    ChunkLayout
    """
    bags = np.asarray(bags, dtype=np.int64)
    sizes, starts = store.sizes[bags], store.starts[bags]
    columns = np.concatenate([np.arange(s, s + n) for s, n in zip(starts, sizes)])
    pad_column = store.x.shape[1] - 1
    columns = np.concatenate([columns, np.full(padded_rows(len(columns)) - len(columns), pad_column)])
    length = int(sizes.max())
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    inst = np.arange(length)
    mask = inst[None, :] < sizes[:, None]
    slots = np.where(mask, offsets[:, None] + inst[None, :], len(columns))
    members = np.zeros((len(columns), len(bags)), dtype=np.float32)
    members[np.arange(int(sizes.sum())), np.repeat(np.arange(len(bags)), sizes)] = 1.0
    return ChunkLayout(bags, torch.from_numpy(columns), torch.from_numpy(slots.reshape(-1)), torch.from_numpy(mask),
                       torch.from_numpy(members), np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64))


def _relu_(t: torch.Tensor) -> torch.Tensor:
    # IEEE floats order like sign-magnitude integers: the non-negative values keep their
    # bits, the negative ones (sign bit set) read as negative integers and clamp to +0.
    t.view(_INT[t.dtype]).clamp_min_(0)
    return t


def _relu_backward_(grad: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    # ``out`` is a ReLU output: bits 0 where it is zero, positive integers elsewhere, so
    # ``threshold_backward`` on the integer views keeps the gradient's bits where out > 0,
    # in one pass (its float kernel converts bfloat16 to float32 and back).
    g = grad.view(_INT[grad.dtype])
    torch.ops.aten.threshold_backward.grad_input(g, out.view(_INT[out.dtype]), 0, grad_input=g)
    return grad


#: Models whose embedding layers run together inside a step. The per-chunk buffers (each
#: model's copy of the step's inputs, the gradients flowing back) then take 8 models'
#: room, not the whole stack's, which matters for frame-level bags of thousands of
#: instances; at the study's cue-level sizes the step time is the same for 8 or 55
#: (measured). The numbers do not depend on it.
MODELS_PER_CHUNK = 8

_INT = {torch.bfloat16: torch.int16, torch.float16: torch.int16, torch.float32: torch.int32}


class Workspace:
    """Buffers reused from step to step, each viewed at the shape a step needs.

    A step's large tensors (activations, their gradients) would otherwise be allocated
    afresh every step; allocations of megabytes come from ``mmap`` and return to the
    system when freed, so each one pays a page fault per 4 KiB on first touch, which
    cost more than the matrix products writing them.
    """

    def __init__(self, device="cpu"):
        self._buffers: dict = {}
        self.device = torch.device(device)

    def take(self, name: str, shape: tuple[int, ...], dtype: torch.dtype) -> torch.Tensor:
        """A contiguous tensor of ``shape`` (uninitialised, or as the last step left it).

        Parameters
        ----------
        name : str
            The buffer's name (one buffer per name, grown as needed).
        shape : tuple of int
        dtype : torch.dtype

        Returns
        -------
        torch.Tensor [shape=shape, dtype=dtype]
            A view of the buffer; its contents are not initialised.
        """
        n = int(np.prod(shape))
        buf = self._buffers.get(name)
        if buf is None or buf.dtype != dtype or buf.numel() < n:
            buf = torch.empty(max(n, int(1.25 * n) if buf is not None else n), dtype=dtype, device=self.device)
            self._buffers[name] = buf
        return buf[:n].view(shape)


def _sigmoid_(t: torch.Tensor) -> torch.Tensor:
    """``per_model(torch.sigmoid, t)`` in place: the same bits (see :func:`per_model`).

    In place, each model's values are one contiguous run of the kernel's inner loop, so
    when a model holds whole blocks no value falls in the scalar tail and nothing needs
    padding; otherwise the padded out-of-place path runs.
    """
    if t[0].numel() % _BLOCK == 0 and t[0].is_contiguous():
        return torch.sigmoid(t, out=t)
    return t.copy_(per_model(torch.sigmoid, t))


#: The attention clamp's bounds as the float32 kernel applies them.
_CLAMP = (float(np.float32(_EPS)), float(np.float32(1.0 - _EPS)))


def _spread(per_bag: torch.Tensor, offsets: np.ndarray, out: torch.Tensor) -> torch.Tensor:
    """Copy each bag's value to its packed instances, 0 to the padding: ``per_bag @ members.T``.

    One broadcast copy per bag: a bag's instances are consecutive, and a gather by index
    (``index_select`` along the last axis) is ten times slower on the CPU.
    """
    rows = out.view(-1, out.shape[-1])                                               # (M * C, R)
    values = per_bag.reshape(rows.shape[0], -1)                                       # (M * C, B)
    for k in range(values.shape[1]):
        a, b = int(offsets[k]), int(offsets[k + 1])
        rows[:, a:b].copy_(values[:, k:k + 1].expand(-1, b - a))
    rows[:, int(offsets[-1]):].zero_()
    return out


@dataclass(frozen=True)
class _FeatureAttention:
    """What the backward of :func:`feature_attention_sums` reads (views of Workspace buffers)."""

    att: torch.Tensor           # (M, h, R) float32: the clamped attention
    values: torch.Tensor        # (M, h, R) float32: v (the backward overwrites it)
    slope: torch.Tensor         # (M, h, R) float32: sigmoid output, 0 where the clamp held it


def feature_attention_sums(z: torch.Tensor, layout: ChunkLayout, work: Workspace):
    """Kong et al.'s feature-level attention up to its per-bag sums, in float32, by hand.

    Parameters
    ----------
    z : torch.Tensor [shape=(n_models, 2 * hidden, n_rows)]
        The instance head's output (any float dtype): rows ``:hidden`` the values ``v``,
        rows ``hidden:`` the attention logits.
    layout : ChunkLayout
    work : Workspace

    Returns
    -------
    weighted, total : torch.Tensor [shape=(n_models, hidden, n_bags), dtype=float32]
        Per bag, ``sum(att * v)`` and ``sum(att)`` over its instances, where
        ``att = clamp(sigmoid(logits), eps, 1 - eps)``; their ratio is the pooled value.
    ctx : _FeatureAttention
        For :func:`feature_attention_backward`.

    Notes
    -----
    The same float32 operations, on the same shapes, as autograd's forward of
    ``bmm(att * v, members) / bmm(att, members)``, so the same bits, without autograd's
    fresh tensors; the clamp is a pass of its own only in the (rare) steps where a value
    reaches it. ``tests/mil/test_step.py`` checks the bits against autograd.
    """
    M, h2, R = z.shape
    h = h2 // 2
    take = work.take
    att = _sigmoid_(take("fa_att", (M, h, R), torch.float32).copy_(z[:, h:]))
    values = take("fa_values", (M, h, R), torch.float32).copy_(z[:, :h])
    slope = att
    lo, hi = torch.aminmax(att)
    if lo.item() < _CLAMP[0] or hi.item() > _CLAMP[1]:
        # The clamp's gradient is 0 where it held a value: a zero slope gives that zero.
        slope = take("fa_slope", (M, h, R), torch.float32).copy_(att)
        att.clamp_(_EPS, 1.0 - _EPS)
        slope.masked_fill_(slope != att, 0.0)
    weighted = torch.mul(att, values, out=take("fa_weighted", (M, h, R), torch.float32))
    members = layout.members.expand(M, *layout.members.shape)                        # (M, R, B)
    return torch.bmm(weighted, members), torch.bmm(att, members), _FeatureAttention(att, values, slope)


def feature_attention_backward(g_weighted: torch.Tensor, g_total: torch.Tensor, ctx: _FeatureAttention,
                               layout: ChunkLayout, work: Workspace, out: torch.Tensor) -> torch.Tensor:
    """The gradient of :func:`feature_attention_sums` with respect to its input ``z``.

    Parameters
    ----------
    g_weighted, g_total : torch.Tensor [shape=(n_models, hidden, n_bags), dtype=float32]
        Gradients of the loss with respect to the two sums.
    ctx : _FeatureAttention
        Its ``values`` are overwritten.
    layout : ChunkLayout
    work : Workspace
    out : torch.Tensor [shape=(n_models, 2 * hidden, n_rows)]
        Receives the gradient (rounded to its dtype).

    Returns
    -------
    torch.Tensor
        ``out``.

    Notes
    -----
    The product of a per-bag gradient with ``members.T`` has one non-zero term per
    instance, so it is that bag's value copied to its instances (exactly; 0 on padding
    rows). The
    rest repeats autograd's float32 operations one for one (no fused multiply-add, which
    would round once where autograd rounds twice): ``g * v + g_total``, ``g * att``, the
    clamp's mask and ``sigmoid_backward``.
    """
    M, h, B = g_weighted.shape
    R = layout.n_rows
    g = _spread(torch.cat([g_weighted, g_total], dim=1), layout.offsets,
                work.take("fa_grad", (M, 2 * h, R), torch.float32))
    g_v, g_att = g[:, :h], g[:, h:]
    g_att.add_(ctx.values.mul_(g_v))                              # d/d att: g_w * v + g_total
    g_v.mul_(ctx.att)                                             # d/d v: g_w * att
    torch.ops.aten.sigmoid_backward.grad_input(g_att, ctx.slope, grad_input=g_att)
    return out.copy_(g)

class StackTrainer:
    """Mixed-precision training of a stack of networks (see the module docstring).

    Parameters
    ----------
    net : MILNetwork
        Initial weights; :meth:`write_back` returns the trained ones into it.
    store : InstanceStore
    fold_mean, fold_scale : np.ndarray [shape=(n_models, n_features)]
        Each model's standardisation, fitted on its training bags in the store's space.
    pos_weight, neg_weight : np.ndarray [shape=(n_models, n_labels)]
    learning_rate : float

    Every tensor of the step lives on the network's device (:attr:`MILNetwork.device`),
    as must the store's; the same code runs on the CPU and on a GPU.
    """

    def __init__(self, net: MILNetwork, store: InstanceStore, fold_mean: np.ndarray, fold_scale: np.ndarray,
                 pos_weight: np.ndarray, neg_weight: np.ndarray, learning_rate: float):
        self.net, self.store, self.lr = net, store, float(learning_rate)
        self.dtype = net.compute_dtype
        self.device = dev = net.device
        self.M, self.d, self.h, self.c = net.n_models, net.n_features, net.hidden, net.n_labels
        self.da, self.ha = aligned(self.d), aligned(self.h)
        self.shift = torch.from_numpy(np.asarray(fold_mean, dtype=np.float32)).to(dev)            # (M, d)
        self.inv_scale = torch.from_numpy(1.0 / np.asarray(fold_scale, dtype=np.float32)).to(dev)   # (M, d)
        self.pos = torch.from_numpy(np.asarray(pos_weight, dtype=np.float32))[:, None, :].to(dev)   # (M, 1, c)
        self.neg = torch.from_numpy(np.asarray(neg_weight, dtype=np.float32))[:, None, :].to(dev)
        self._pool = make_pooling("attention" if net.pooling in ("attention", "multi_attention",
                                                                  "feature_attention") else net.pooling)
        self.shapes = self._segment_shapes()
        sizes = [int(np.prod(s)) for s in self.shapes.values()]
        self.offsets = dict(zip(self.shapes, np.concatenate([[0], np.cumsum(sizes)[:-1]]).tolist()))
        P = int(sum(sizes))
        self.flat = torch.zeros((self.M, P), dtype=torch.float32, device=dev)
        self.grad = torch.zeros_like(self.flat)
        self.exp_avg = torch.zeros_like(self.flat)
        self.exp_avg_sq = torch.zeros_like(self.flat)
        # The fused Adam kernel reads its step counts where the parameters are.
        self.steps = [torch.tensor(0.0, device=dev) for _ in range(self.M)]
        # Each model's row of the four buffers, as the fused kernel takes them (made once).
        self._rows = [list(t.unbind(0)) for t in (self.flat, self.grad, self.exp_avg, self.exp_avg_sq)]
        self.work = Workspace(dev)
        self.models_per_chunk = MODELS_PER_CHUNK
        self._load(net)

    # -- parameter layout -------------------------------------------------------------
    def _heads(self) -> dict[int, list[tuple[str, int]]]:
        """Instance heads by the embedding layer they read: ``{layer: [(name, width), ...]}``."""
        c, h = self.c, self.h
        pooling = self.net.pooling
        if pooling in ("max", "average", "linear_softmax"):
            return {3: [("cla", c)]}
        if pooling == "attention":
            return {3: [("cla", c), ("att", c)]}
        if pooling == "multi_attention":
            return {2: [("cla2", c), ("att2", c)], 3: [("cla3", c), ("att3", c)]}
        return {3: [("val", h), ("att", h)]}

    def _segment_shapes(self) -> dict[str, tuple[int, ...]]:
        shapes = {"emb1": (self.h, self.da), "emb2": (self.h, self.ha), "emb3": (self.h, self.ha)}
        for layer, heads in self._heads().items():
            shapes[f"head{layer}"] = (sum(w for _, w in heads), self.ha)
        if self.net.pooling == "multi_attention":
            shapes.update(out_w=(2 * self.c, self.c), out_b=(self.c,))
        elif self.net.pooling == "feature_attention":
            shapes.update(out_w=(self.h, self.c), out_b=(self.c,))
        return shapes

    def _view(self, buf: torch.Tensor, name: str) -> torch.Tensor:
        off = self.offsets[name]
        shape = self.shapes[name]
        return buf[:, off:off + int(np.prod(shape))].view(self.M, *shape)

    def _pairs(self):
        """(segment, row range, network weight name, input width) of every feature-major layer."""
        pairs = [("emb1", 0, self.h, "emb1", self.d), ("emb2", 0, self.h, "emb2", self.h),
                 ("emb3", 0, self.h, "emb3", self.h)]
        for layer, heads in self._heads().items():
            row = 0
            for name, width in heads:
                pairs.append((f"head{layer}", row, row + width, name, self.h))
                row += width
        return pairs

    @torch.no_grad()
    def _load(self, net: MILNetwork) -> None:
        p = net.params
        for seg, r0, r1, name, n_in in self._pairs():
            block = self._view(self.flat, seg)[:, r0:r1]
            block[:, :, :n_in] = p[f"{name}_w"].transpose(1, 2)
            block[:, :, n_in] = p[f"{name}_b"]
        for name in ("out_w", "out_b"):
            if name in self.shapes:
                self._view(self.flat, name).copy_(p[name])

    def network_layout(self, buf: torch.Tensor) -> dict[str, torch.Tensor]:
        """A flat ``(M, P)`` buffer (weights or gradients) as the network's named parameters.

        Parameters
        ----------
        buf : torch.Tensor [shape=(n_models, n_params), dtype=float32]
            :attr:`flat` or :attr:`grad`.

        Returns
        -------
        dict of str -> torch.Tensor
            Views of ``buf`` with :class:`MILNetwork`'s names and shapes (model axis first).
        """
        out = {}
        for seg, r0, r1, name, n_in in self._pairs():
            block = self._view(buf, seg)[:, r0:r1]
            out[f"{name}_w"] = block[:, :, :n_in].transpose(1, 2)
            out[f"{name}_b"] = block[:, :, n_in]
        for name in ("out_w", "out_b"):
            if name in self.shapes:
                out[name] = self._view(buf, name)
        return out

    @torch.no_grad()
    def write_back(self) -> MILNetwork:
        """Copy the trained weights into the network's own layout and return it.

        Returns
        -------
        MILNetwork
            The network given at construction, now holding the trained weights.
        """
        for name, value in self.network_layout(self.flat).items():
            self.net.params[name].copy_(value)
        return self.net

    # -- one step ---------------------------------------------------------------------
    def _forward_weights(self) -> dict[int, torch.Tensor]:
        """Each embedding layer as one ``(M, h, aligned(in))`` matrix in the compute dtype.

        The bias sits in the column that meets the input's row of ones; layer 1 has each
        model's standardisation folded in.
        """
        if not hasattr(self, "_augmented"):
            self._augmented = {layer: torch.zeros((self.M, self.h, aligned(n_in)), dtype=self.dtype,
                                                  device=self.device)
                               for layer, n_in in ((1, self.d), (2, self.h), (3, self.h))}
        h, d = self.h, self.d
        block = self._view(self.flat, "emb1")
        w = torch.mul(block[:, :, :d], self.inv_scale[:, None, :],
                      out=self.work.take("w1", (self.M, h, d), torch.float32))              # (M, h, d)
        # A sum along the innermost axis, not a batched GEMV: its rounding does not depend on M.
        shifted = torch.mul(w, self.shift[:, None, :], out=self.work.take("w1_shift", (self.M, h, d), torch.float32))
        b = block[:, :, d] - shifted.sum(dim=-1)                                             # (M, h)
        self._augmented[1][:, :h, :d].copy_(w)
        self._augmented[1][:, :h, d].copy_(b)
        for layer in (2, 3):
            self._augmented[layer].copy_(self._view(self.flat, f"emb{layer}"))
        return self._augmented

    def _chunks(self):
        """Slices of at most :attr:`models_per_chunk` models."""
        k = self.models_per_chunk
        return [slice(s, min(s + k, self.M)) for s in range(0, self.M, k)]

    def _pool_loss(self, z: dict, layout: ChunkLayout, y: torch.Tensor, valid: torch.Tensor, bag_params: dict):
        """Pooling, bag-level layers and the weighted BCE, from the heads' outputs (autograd part)."""
        B = len(layout.bags)
        L = layout.mask.shape[1]
        mask = layout.mask[None, None]                                        # (1, 1, B, L)

        def grid(t):   # (M, C, n_rows) -> (M, C, B, L): the padded bag grid, padding 0
            t = torch.nn.functional.pad(t, (0, 1))
            return t.index_select(2, layout.slots).view(t.shape[0], t.shape[1], B, L)

        def sig(t):
            return per_model(torch.sigmoid, t)

        pooling = self.net.pooling
        if pooling in ("max", "average", "linear_softmax"):
            pooled = self._pool.pool_last(grid(sig(z["cla"])), mask).pooled             # (M, c, B)
            proba = pooled.transpose(1, 2)
        elif pooling == "attention":
            pooled = self._pool.pool_last(grid(sig(z["cla"])), mask, grid(sig(z["att"]))).pooled
            proba = pooled.transpose(1, 2)
        elif pooling == "multi_attention":
            both = [self._pool.pool_last(grid(sig(z[f"cla{k}"])), mask, grid(sig(z[f"att{k}"]))).pooled
                    for k in (2, 3)]
            both = torch.cat(both, dim=1).transpose(1, 2)                            # (M, B, 2c)
            proba = sig(_linear(both, bag_params["out_w"], bag_params["out_b"]))
        else:
            # The attention-weighted and the plain sums over each bag's instances, from
            # :func:`feature_attention_sums`: rows :h and h: of one leaf.
            hidden = torch.relu(z["weighted"] / z["total"]).transpose(1, 2)          # (M, B, h)
            proba = sig(_linear(hidden, bag_params["out_w"], bag_params["out_b"]))
        p = proba.clamp(1e-7, 1 - 1e-7)
        bce = -(self.pos * y * per_model(torch.log, p) + self.neg * (1 - y) * per_model(torch.log, 1 - p))
        w = valid.to(torch.float32)
        n_valid = w.sum(dim=1)
        return (bce.mean(dim=2) * w).sum(dim=1) / n_valid.clamp_min(1.0), n_valid

    def step(self, layout: ChunkLayout, y: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        """Train every model on its share of one chunk of bags; return each model's loss.

        Parameters
        ----------
        layout : ChunkLayout
        y : torch.Tensor [shape=(n_bags, n_labels), dtype=float32]
            Labels of the chunk's bags (on the network's device).
        valid : torch.Tensor [shape=(n_models, n_bags), dtype=bool]
            Which of the chunk's bags each model trains on (on the network's device).

        Returns
        -------
        torch.Tensor [shape=(n_models,)]
            On the network's device.
        """
        M, h, R, da, ha = self.M, self.h, layout.n_rows, self.da, self.ha
        layout = layout.to(self.device)
        take, dt = self.work.take, self.dtype
        x1 = torch.index_select(self.store.x, 1, layout.columns, out=take("x1", (da, R), dt))   # (da, R)
        heads = self._heads()
        weights = self._forward_weights()
        # The step's copies of the weights go to Workspace buffers too: a fresh tensor of
        # megabytes each step costs its page faults (see Workspace).
        head_w = {layer: take(f"head_w{layer}", (M, *self.shapes[f"head{layer}"]), dt)
                  .copy_(self._view(self.flat, f"head{layer}")) for layer in heads}
        acts = {layer: take(f"e{layer}", (M, ha, R), dt) for layer in (1, 2, 3)}   # (M, ha, R) each
        for e in acts.values():      # the row of ones that carries the next layer's bias, then zeros
            e[:, h] = 1.0
            e[:, h + 1:] = 0.0
        z_all = {layer: take(f"z{layer}", (M, head_w[layer].shape[1], R), dt) for layer in heads}
        # Forward, a few models at a time (see MODELS_PER_CHUNK).
        for sl in self._chunks():
            m = sl.stop - sl.start
            prev = take("x", (m, da, R), dt)
            prev.copy_(x1.expand(m, da, R))
            for layer in (1, 2, 3):
                e = acts[layer][sl]
                # The product fills rows :h; a strided ``out`` costs a copy, still less
                # than a bias pass or the odd shapes of a (ha, ha) product.
                torch.bmm(weights[layer][sl], prev, out=e[:, :h])
                prev = _relu_(e)
            for layer in heads:
                torch.bmm(head_w[layer][sl], acts[layer][sl], out=z_all[layer][sl])
        # One autograd leaf per head (not slices of one leaf, whose backward would fill a
        # zero gradient of the whole tensor per slice), in float32 from here on; the
        # feature-level attention's wide part runs by hand, its per-bag sums are the leaf.
        z, row = {}, {}
        if self.net.pooling == "feature_attention":
            z["weighted"], z["total"], fa = feature_attention_sums(z_all[3], layout, self.work)
            z["weighted"].requires_grad_()
            z["total"].requires_grad_()
        else:
            for layer, named in heads.items():
                r = 0
                for name, width in named:
                    z[name] = z_all[layer][:, r:r + width].float().requires_grad_()
                    row[name] = (layer, r)
                    r += width
        bag_params = {k: self._view(self.flat, k).detach().requires_grad_() for k in ("out_w", "out_b")
                      if k in self.shapes}
        with torch.enable_grad():
            per_fold, n_valid = self._pool_loss(z, layout, y, valid, bag_params)
            leaves = list(z.values()) + list(bag_params.values())
            grads = torch.autograd.grad(per_fold.sum(), leaves)
        g_z = {layer: take(f"gz{layer}", tuple(z_all[layer].shape), dt) for layer in heads}
        if self.net.pooling == "feature_attention":
            feature_attention_backward(grads[0], grads[1], fa, layout, self.work, out=g_z[3])
        else:
            for name, g in zip(z, grads):
                layer, r = row[name]
                g_z[layer][:, r:r + g.shape[1]].copy_(g)
        for k, g in zip(bag_params, grads[len(z):]):
            self._view(self.grad, k).copy_(g)
        # Back through the heads and the embedding layers, by hand, chunk by chunk.
        transposed = {layer: take(f"w_t{layer}", (M, h, h), dt).copy_(weights[layer][:, :, :h].transpose(1, 2))
                      for layer in (2, 3)}
        head_t = {layer: take(f"head_t{layer}", (M, h, head_w[layer].shape[1]), dt)
                  .copy_(head_w[layer][:, :, :h].transpose(1, 2)) for layer in heads}
        for sl in self._chunks():
            m = sl.stop - sl.start
            g_e = {}
            for layer in heads:
                self._view(self.grad, f"head{layer}")[sl].copy_(
                    torch.bmm(g_z[layer][sl], acts[layer][sl].transpose(1, 2)))
                g_e[layer] = torch.bmm(head_t[layer][sl], g_z[layer][sl], out=take(f"g{layer}", (m, h, R), dt))
            g = g_e[3]
            for layer in (3, 2, 1):
                if layer != 3 and layer in g_e:
                    g.add_(g_e[layer])
                _relu_backward_(g, acts[layer][sl, :h])
                if layer > 1:
                    below = acts[layer - 1][sl]
                    self._view(self.grad, f"emb{layer}")[sl].copy_(torch.bmm(g, below.transpose(1, 2)))
                    g = torch.bmm(transposed[layer][sl], g,
                                  out=take("g_next" if g is not g_e[3] else "g_prev", (m, h, R), dt))
                else:
                    below = take("x", (m, da, R), dt)
                    below.copy_(x1.expand(m, da, R))
                    self._first_layer_grad(torch.bmm(g, below.transpose(1, 2)).float(), sl)
        active = (n_valid > 0).tolist()
        rows = [f for f, on in enumerate(active) if on]
        if rows:
            def pick(per_model_list):
                return per_model_list if len(rows) == self.M else [per_model_list[f] for f in rows]

            flat, grad, exp_avg, exp_avg_sq = (pick(r) for r in self._rows)
            steps = pick(self.steps)
            torch._foreach_add_(steps, 1.0)
            torch._fused_adam_(flat, grad, exp_avg, exp_avg_sq, [], steps, lr=self.lr, beta1=0.9, beta2=0.999,
                               weight_decay=0.0, eps=1e-8, amsgrad=False, maximize=False)
        return per_fold.detach()

    def _first_layer_grad(self, g_eff: torch.Tensor, sl: slice) -> None:
        """Chain the folded layer's gradient (models ``sl``) back to the fold-space weights and bias."""
        d = self.d
        g_b = g_eff[:, :, d]                                                      # (m, h)
        g_w = (g_eff[:, :, :d] - g_b[:, :, None] * self.shift[sl, None, :]) * self.inv_scale[sl, None, :]
        block = self._view(self.grad, "emb1")[sl]
        block[:, :, :d] = g_w
        block[:, :, d] = g_b
        block[:, :, d + 1:] = 0.0
