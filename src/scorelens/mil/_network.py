"""The multiple-instance network of the study's Fig 2, with the six poolings of Table 3.

Three dense embedding layers (ReLU) map every instance to ``hidden`` units; a head
turns the embeddings into bag-level label probabilities:

``max``, ``average``, ``linear_softmax``
    a sigmoid classifier on each instance's embedding, pooled over instances
    (decision-level pooling, as in Kong et al.'s code the study adopted);
``attention``
    the same instance classifier, pooled with learned sigmoid attention (single attention);
``multi_attention``
    single attention applied to the 2nd and the 3rd embedding layers, the two pooled
    outputs concatenated and mapped to the labels by a sigmoid layer (Yu et al.);
``feature_attention``
    attention per hidden unit over instances, ``h = sum_x q(x) * u(x)``, then a ReLU and a
    sigmoid output layer (Kong et al.'s feature-level attention).

Differences from Kong et al.'s reference code, and why: no batch normalisation or
dropout (the study names neither; inputs are standardised by the estimator, and
without them a fold's numbers depend only on its own data and seed); multi-attention
uses a separate attention head per layer (the reference PyTorch code shares one by
mistake, its Keras code does not).

The module holds a *stack* of ``n_models`` independent networks: every parameter has
a leading model axis, and a forward pass runs all of them at once on their own
inputs. One network is a stack of one; leave-one-out trains its 110 folds as one
stack (see :mod:`scorelens.mil._training`).
"""

from __future__ import annotations

import math
import os
from typing import NamedTuple

import numpy as np
import torch
from torch import nn

from scorelens.exceptions import ParameterError
from scorelens.mil._pooling import make_pooling

__all__ = ["NETWORK_POOLINGS", "PRECISIONS", "NetworkOutput", "MILNetwork", "check_pooling", "per_model",
           "fast_bfloat16", "resolve_precision", "PrecisionChoice", "cpu_flags", "choose_precision", "gemm_rates",
           "cached_gemm_rates", "auto_precision", "DEVICES", "resolve_device"]

#: The six pooling functions of Table 3, by the names the estimator and CLI accept.
NETWORK_POOLINGS: tuple[str, ...] = ("max", "average", "linear_softmax", "attention", "multi_attention",
                                     "feature_attention")


def check_pooling(name) -> str:
    """Return ``name`` if it is one of :data:`NETWORK_POOLINGS`, else raise ParameterError.

    Parameters
    ----------
    name : str

    Returns
    -------
    str
        ``name``.

    Raises
    ------
    ParameterError
        ``name`` is not a Table 3 pooling (the message lists them).
    """
    if name not in NETWORK_POOLINGS:
        raise ParameterError(f"pooling={name!r} is unknown; choose one of {', '.join(NETWORK_POOLINGS)}")
    return name


class NetworkOutput(NamedTuple):
    """What :meth:`MILNetwork.forward` returns, for every pooling.

    Attributes
    ----------
    proba : torch.Tensor [shape=(n_models, n_bags, n_labels)]
        Bag-level probability of each label.
    weights : torch.Tensor [shape=(n_models, n_bags, n_instances, n_labels)]
        Weight of each instance in each label's pooled value (0 on padding). For
        ``feature_attention`` it is the attention averaged over hidden units, the same
        for every label; for ``multi_attention`` the mean of the two layers' attention.
    """

    proba: torch.Tensor
    weights: torch.Tensor


def _init_uniform(gen: torch.Generator, n_in: int, n_out: int) -> torch.Tensor:
    # He-uniform, as Kong et al.'s init_layer: U(-sqrt(6/n_in), +sqrt(6/n_in)).
    bound = math.sqrt(6.0 / n_in)
    return (torch.rand((n_in, n_out), generator=gen, dtype=torch.float32) * 2.0 - 1.0) * bound


_BLOCK = 64  # floats; a multiple of what PyTorch's CPU kernels process per vectorised iteration


def per_model(fn, t: torch.Tensor) -> torch.Tensor:
    """Apply an element-wise function so that no model's values fall in a kernel's scalar tail.

    PyTorch's CPU kernels run the bulk of a tensor through SIMD code and the last few
    elements through scalar code, and for transcendental functions (``exp``, ``log``,
    ``sigmoid``) the two round differently. Which elements land in the tail depends on
    the tensor's total size, hence on how many models are stacked. Padding each model's
    values to a whole number of blocks keeps every value on the SIMD path, so a model
    gets the same bits alone or in a stack.

    Parameters
    ----------
    fn : callable
        Element-wise torch function.
    t : torch.Tensor [shape=(n_models, ...)]

    Returns
    -------
    torch.Tensor [shape=t.shape]
        ``fn(t)``.
    """
    flat = t.reshape(t.shape[0], -1)                            # (M, k)
    k = flat.shape[1]
    pad = (-k) % _BLOCK
    if pad:
        flat = torch.nn.functional.pad(flat, (0, pad))          # (M, k + pad)
    return fn(flat)[:, :k].reshape(t.shape)


def _sigmoid(t: torch.Tensor) -> torch.Tensor:
    return per_model(torch.sigmoid, t)


class _StackedLinear(torch.autograd.Function):
    """``x @ w + b`` per model, with a backward made only of batched matrix products.

    Autograd's own backward of a broadcast bias sums the gradient over the rows axis,
    a reduction whose rounding may change with the number of stacked models; here the
    bias gradient is a product with a vector of ones instead, and every product is a
    GEMM per model (single-threaded during training, see :mod:`scorelens.mil._training`),
    so each model's gradient has the same bits alone or in a stack.
    """

    @staticmethod
    def forward(ctx, x, weight, bias):                      # x (M, R, n_in), weight (M, n_in, n_out)
        ctx.save_for_backward(x, weight)
        return torch.baddbmm(bias.unsqueeze(1), x, weight)  # (M, R, n_out), the bias added in the GEMM

    @staticmethod
    def backward(ctx, grad):                                # grad (M, R, n_out)
        x, weight = ctx.saved_tensors
        grad = grad.contiguous()
        grad_x = torch.bmm(grad, weight.transpose(1, 2)) if ctx.needs_input_grad[0] else None
        grad_w = torch.bmm(x.transpose(1, 2), grad)                      # (M, n_in, n_out)
        ones = torch.ones((grad.shape[0], 1, grad.shape[1]), dtype=grad.dtype, device=grad.device)
        grad_b = torch.bmm(ones, grad).squeeze(1)                         # (M, n_out)
        return grad_x, grad_w, grad_b


def _linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """Apply each model's own dense layer: x (M, ..., n_in), weight (M, n_in, n_out) -> (M, ..., n_out).

    The product runs in ``x``'s dtype: the float32 parameters are cast to it (and their
    gradients cast back by autograd), as in mixed-precision training.
    """
    lead = x.shape[:-1]
    flat = x.reshape(x.shape[0], -1, x.shape[-1]).contiguous()   # (M, rows, n_in)
    out = _StackedLinear.apply(flat, weight.to(x.dtype), bias.to(x.dtype))   # (M, rows, n_out)
    return out.reshape(*lead, weight.shape[-1])                   # (M, ..., n_out)


#: Arithmetic of the instance-level layers: ``float32``, ``bfloat16`` (mixed precision:
#: float32 parameters and optimiser, bfloat16 products and activations), or ``auto``.
PRECISIONS: tuple[str, ...] = ("auto", "float32", "bfloat16")

#: CPU flags (``/proc/cpuinfo``) of instructions that multiply bfloat16 in hardware: x86
#: AMX tiles and AVX-512 BF16 dot products, Arm's BF16 extension (``Features: bf16``).
NATIVE_BF16_FLAGS: frozenset[str] = frozenset({"amx_bf16", "avx512_bf16", "bf16"})

#: ``auto`` takes bfloat16 only when its measured GEMM rate is at least this many times
#: float32's: it rounds every product's inputs to 8 bits of mantissa, which a marginal gain
#: does not pay for.
BF16_MIN_SPEEDUP = 1.2

#: Shapes of the timed products: one step's first layer at the study's sizes, feature-major
#: as :mod:`scorelens.mil._step` multiplies (8 stacked models, 128 hidden units, 140 MIR
#: features plus the bias row padded to 144, a chunk of 16 bags of ~40 cues).
_TIMED_SHAPE = {"models": 8, "hidden": 128, "inputs": 144, "rows": 640}


class PrecisionChoice(NamedTuple):
    """What ``precision="auto"`` resolved to on this machine, and why.

    Attributes
    ----------
    precision : {"float32", "bfloat16"}
    reason : str
        One sentence for the records (the evaluation's ``run_info``).
    gflops : dict of str -> float
        Measured single-thread GEMM rate of each precision at the networks' shapes
        (empty when the CPU flags alone decided).
    """

    precision: str
    reason: str
    gflops: dict


def cpu_flags(path: str = "/proc/cpuinfo") -> frozenset[str] | None:
    """The instruction-set flags the kernel reports for the first CPU.

    Parameters
    ----------
    path : str
        ``/proc/cpuinfo`` (Linux); elsewhere the file is missing.

    Returns
    -------
    frozenset of str or None
        The ``flags`` (x86) or ``Features`` (Arm) words, lower case; None when the file is
        missing or has neither line.
    """
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            for line in fh:
                key, sep, value = line.partition(":")
                if sep and key.strip().lower() in ("flags", "features"):
                    return frozenset(value.lower().split())
    except OSError:
        return None
    return None


def choose_precision(flags: frozenset[str] | None, measure) -> PrecisionChoice:
    """Decide ``auto``'s precision from the CPU's flags and, where they allow bfloat16, a timing.

    Without a native bfloat16 instruction (:data:`NATIVE_BF16_FLAGS`) oneDNN still runs
    bfloat16 products, by converting to float32 in software, several times slower than
    float32 itself: such a CPU runs float32 without timing anything. Where a native
    instruction is listed, or the flags are unknown (no ``/proc/cpuinfo``), both precisions
    are timed at the networks' shapes and bfloat16 is taken only when it is at least
    :data:`BF16_MIN_SPEEDUP` times faster.

    Parameters
    ----------
    flags : frozenset of str or None
        :func:`cpu_flags`'s answer (None: unknown).
    measure : callable
        ``measure() -> {"float32": flop/s, "bfloat16": flop/s}``; called only when the
        flags do not settle it.

    Returns
    -------
    PrecisionChoice
    """
    if flags is not None and not flags & NATIVE_BF16_FLAGS:
        return PrecisionChoice("float32", "the CPU lists no native bfloat16 instruction (amx_bf16, avx512_bf16, "
                                          "bf16): bfloat16 products would be emulated, slower than float32", {})
    rates = measure()
    gflops = {k: round(float(v) / 1e9, 1) for k, v in rates.items()}
    speedup = rates["bfloat16"] / rates["float32"]
    native = ", ".join(sorted(flags & NATIVE_BF16_FLAGS)) if flags is not None else "unknown CPU flags"
    rates_text = f"{gflops['bfloat16']:g} against {gflops['float32']:g} Gflop/s per core"
    if speedup >= BF16_MIN_SPEEDUP:
        return PrecisionChoice("bfloat16", f"{native}; bfloat16 GEMM measured {speedup:.2f}x float32's "
                                           f"({rates_text})", gflops)
    return PrecisionChoice("float32", f"{native}; bfloat16 GEMM measured only {speedup:.2f}x float32's "
                                      f"({rates_text}), below {BF16_MIN_SPEEDUP}x", gflops)


def gemm_rates(repeats: int = 7) -> dict[str, float]:
    """Single-thread batched-GEMM throughput of each precision at the networks' shapes.

    The two precisions are timed in alternating rounds, after one warm-up product each, so
    that a clock still ramping up or a burst of load elsewhere slows both alike instead of
    whichever was timed first (timed one after the other, float32 first, a cold start once
    recorded float32 at 34 Gflop/s on a core that gives it 63-87).

    Parameters
    ----------
    repeats : int
        Rounds (the best counts; each round is 4 products of each precision).

    Returns
    -------
    dict of str -> float
        ``{"float32": flop/s, "bfloat16": flop/s}``.
    """
    import time

    m, h, d, r = (_TIMED_SHAPE[k] for k in ("models", "hidden", "inputs", "rows"))
    gen = torch.Generator().manual_seed(0)
    saved = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        operands = {}
        for name, dtype in (("float32", torch.float32), ("bfloat16", torch.bfloat16)):
            w = torch.randn((m, h, d), generator=gen).to(dtype)
            x = torch.randn((m, d, r), generator=gen).to(dtype)
            out = torch.empty((m, h, r), dtype=dtype)
            torch.bmm(w, x, out=out)            # oneDNN builds its kernel for the shape here
            operands[name] = (w, x, out)
        best = dict.fromkeys(operands, float("inf"))
        for _ in range(repeats):
            for name, (w, x, out) in operands.items():
                t = time.perf_counter()
                for _ in range(4):
                    torch.bmm(w, x, out=out)
                best[name] = min(best[name], (time.perf_counter() - t) / 4)
    finally:
        torch.set_num_threads(saved)
    return {name: 2.0 * m * h * d * r / seconds for name, seconds in best.items()}


#: Part of the cache key: a new way of timing measures again instead of reading old figures.
_TIMING_METHOD = "alternating-rounds-1"


def _machine_key(flags: frozenset[str] | None) -> str:
    import hashlib
    import platform

    model = ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
            model = next((line.partition(":")[2].strip() for line in fh if line.startswith("model name")), "")
    except OSError:
        pass
    text = "|".join([platform.machine(), model, " ".join(sorted(flags or ())), torch.__version__, _TIMING_METHOD])
    return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()


def _cache_file():
    import os
    from pathlib import Path

    root = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(root) / "scorelens" / "precision.json"


def cached_gemm_rates() -> dict[str, float]:
    """:func:`gemm_rates`, measured once per machine and kept in ``$XDG_CACHE_HOME/scorelens/precision.json``.

    The entry is keyed by the CPU model, its flags, the PyTorch version and the timing
    method; an unreadable or unwritable cache only costs a new measurement (~0.2 s). To
    measure again (after a measurement on a busy machine), delete the file.

    Returns
    -------
    dict of str -> float
    """
    import json

    key = _machine_key(cpu_flags())
    path = _cache_file()
    try:
        entries = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        entries = {}
    entries = entries if isinstance(entries, dict) else {}
    try:
        rates = entries[key]
        return {"float32": float(rates["float32"]), "bfloat16": float(rates["bfloat16"])}
    except (KeyError, TypeError, ValueError):
        pass
    rates = gemm_rates()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        entries[key] = rates
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(entries, indent=1), encoding="utf-8")
        os.replace(tmp, path)
    except OSError:
        pass
    return rates


_AUTO: PrecisionChoice | None = None


def auto_precision() -> PrecisionChoice:
    """What ``auto`` means on this machine: :func:`choose_precision` on its flags and cached timing.

    Returns
    -------
    PrecisionChoice
        Decided once per process.
    """
    global _AUTO
    if _AUTO is None:
        _AUTO = choose_precision(cpu_flags(), cached_gemm_rates)
    return _AUTO


def fast_bfloat16() -> bool:
    """Whether this CPU lists a native bfloat16 instruction (AMX, AVX-512 BF16, Arm BF16).

    Returns
    -------
    bool
        False where the flags cannot be read.
    """
    flags = cpu_flags()
    return bool(flags and flags & NATIVE_BF16_FLAGS)


def resolve_precision(precision: str) -> str:
    """``"float32"`` or ``"bfloat16"``: ``"auto"`` is :func:`auto_precision`'s choice.

    Parameters
    ----------
    precision : {"auto", "float32", "bfloat16"}

    Returns
    -------
    {"float32", "bfloat16"}

    Raises
    ------
    ParameterError
        For a name not in :data:`PRECISIONS`.
    """
    if precision not in PRECISIONS:
        raise ParameterError(f"precision={precision!r} is unknown; choose one of {', '.join(PRECISIONS)}")
    if precision == "auto":
        return auto_precision().precision
    return precision


#: Device settings the networks accept (and ``"cuda:N"``).
DEVICES: tuple[str, ...] = ("auto", "cpu", "cuda")


def resolve_device(name="auto") -> torch.device:
    """The device a ``device`` setting names: ``"auto"`` is CUDA where PyTorch sees a GPU, else the CPU.

    Parameters
    ----------
    name : {"auto", "cpu", "cuda"}, "cuda:N" or torch.device

    Returns
    -------
    torch.device
        ``cpu`` or ``cuda:N`` (``"cuda"`` resolves to the current GPU's index).

    Raises
    ------
    ParameterError
        An unknown name, or a CUDA device that PyTorch does not see (no GPU, a CPU-only
        PyTorch build, or an index past the last GPU).
    """
    if isinstance(name, torch.device):
        name = str(name)
    if not isinstance(name, str) or not (name in DEVICES or (name.startswith("cuda:") and name[5:].isdigit())):
        raise ParameterError(f"device={name!r} is unknown; choose one of auto, cpu, cuda, cuda:N")
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cpu":
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise ParameterError(f"device={name!r} (model.device): PyTorch sees no CUDA GPU here; use 'cpu' or 'auto'")
    index = torch.cuda.current_device() if name == "cuda" else int(name[5:])
    if index >= torch.cuda.device_count():
        raise ParameterError(f"device={name!r} (model.device): PyTorch sees only {torch.cuda.device_count()} GPU(s)")
    return torch.device("cuda", index)


class MILNetwork(nn.Module):
    """A stack of ``n_models`` independent MIL networks (Fig 2).

    Parameters
    ----------
    n_features : int
    n_labels : int
    hidden : int
        Units of each embedding layer (the study: 64 or 128).
    pooling : str
        One of :data:`NETWORK_POOLINGS`.
    seeds : sequence of int
        One seed per model; model ``m`` is initialised from ``torch.Generator`` seeded
        with ``seeds[m]`` alone, so its weights do not depend on the other models.
    precision : {"float32", "bfloat16", "auto"}
        Arithmetic of the instance-level layers (embeddings and instance heads), where
        nearly all the work is. ``bfloat16`` keeps float32 parameters, optimiser state,
        pooling, bag-level layers and loss, and runs the instance-level products and
        activations in bfloat16 (mixed precision, as ``torch.autocast`` does); on CPUs with
        AMX it trains several times faster. ``auto`` picks bfloat16 only where the CPU has a
        native bfloat16 instruction and a timing finds it faster (:func:`choose_precision`).
    device : str or torch.device
        Where the parameters live (:func:`resolve_device`). The initial weights are drawn on
        the CPU and then moved, so they are the same on every device.
    """

    def __init__(self, n_features: int, n_labels: int, hidden: int, pooling: str, seeds,
                 precision: str = "float32", device="cpu"):
        super().__init__()
        self.pooling = check_pooling(pooling)
        self.precision = resolve_precision(precision)
        self.n_features, self.n_labels, self.hidden = int(n_features), int(n_labels), int(hidden)
        shapes = self.parameter_shapes()
        per_model = []
        for seed in seeds:
            gen = torch.Generator().manual_seed(int(seed))
            # Parameters are drawn in a fixed order (sorted names) so that each model's
            # initial weights are a function of its seed only.
            per_model.append({name: (_init_uniform(gen, *shape) if name.endswith("_w")
                                     else torch.zeros(shape, dtype=torch.float32))
                              for name, shape in sorted(shapes.items())})
        device = resolve_device(device)
        self.params = nn.ParameterDict({name: nn.Parameter(torch.stack([p[name] for p in per_model]).to(device))
                                        for name in sorted(shapes)})
        self._pool = make_pooling("attention" if pooling in ("attention", "multi_attention", "feature_attention")
                                  else pooling)

    @staticmethod
    def dtype_of(precision: str) -> torch.dtype:
        """dtype of the instance-level products and activations for a precision setting.

        Parameters
        ----------
        precision : {"auto", "float32", "bfloat16"}

        Returns
        -------
        torch.dtype
            ``torch.bfloat16`` or ``torch.float32``.
        """
        return torch.bfloat16 if resolve_precision(precision) == "bfloat16" else torch.float32

    @property
    def compute_dtype(self) -> torch.dtype:
        """dtype of the instance-level products and activations."""
        return self.dtype_of(self.precision)

    @property
    def device(self) -> torch.device:
        """Where the parameters live."""
        return next(iter(self.params.values())).device

    @property
    def n_models(self) -> int:
        return next(iter(self.params.values())).shape[0]

    def parameter_shapes(self) -> dict[str, tuple[int, ...]]:
        """Shape of each parameter of one model (without the model axis).

        Returns
        -------
        dict of str -> tuple of int
            ``emb1_w``, ``emb1_b`` … and the pooling's heads (weights ``(n_in, n_out)``).
        """
        d, h, c = self.n_features, self.hidden, self.n_labels
        shapes = {"emb1_w": (d, h), "emb1_b": (h,), "emb2_w": (h, h), "emb2_b": (h,),
                  "emb3_w": (h, h), "emb3_b": (h,)}
        if self.pooling in ("max", "average", "linear_softmax"):
            shapes.update(cla_w=(h, c), cla_b=(c,))
        elif self.pooling == "attention":
            shapes.update(cla_w=(h, c), cla_b=(c,), att_w=(h, c), att_b=(c,))
        elif self.pooling == "multi_attention":
            shapes.update(cla2_w=(h, c), cla2_b=(c,), att2_w=(h, c), att2_b=(c,),
                          cla3_w=(h, c), cla3_b=(c,), att3_w=(h, c), att3_b=(c,),
                          out_w=(2 * c, c), out_b=(c,))
        else:  # feature_attention
            shapes.update(val_w=(h, h), val_b=(h,), att_w=(h, h), att_b=(h,), out_w=(h, c), out_b=(c,))
        return shapes

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> NetworkOutput:
        """Bag probabilities and instance weights of every model.

        Parameters
        ----------
        x : torch.Tensor [shape=(n_models, n_bags, n_instances, n_features)]
            Padded bags (standardised), each model's own.
        mask : torch.Tensor [shape=(n_models, n_bags, n_instances), dtype=bool]
            True for real instances; every bag needs at least one.

        Returns
        -------
        NetworkOutput
        """
        p = self.params
        x = x.to(self.compute_dtype)
        e1 = torch.relu(_linear(x, p["emb1_w"], p["emb1_b"]))    # (M, B, L, hidden)
        e2 = torch.relu(_linear(e1, p["emb2_w"], p["emb2_b"]))   # (M, B, L, hidden)
        e3 = torch.relu(_linear(e2, p["emb3_w"], p["emb3_b"]))   # (M, B, L, hidden)

        def head(e, name):   # an instance-level layer, its output back in float32
            return _linear(e, p[f"{name}_w"], p[f"{name}_b"]).float()

        if self.pooling in ("max", "average", "linear_softmax"):
            cla = _sigmoid(head(e3, "cla"))                       # (M, B, L, labels)
            out = self._pool(cla, mask)
            return NetworkOutput(out.pooled, out.weights)
        if self.pooling == "attention":
            cla = _sigmoid(head(e3, "cla"))                       # (M, B, L, labels)
            att = _sigmoid(head(e3, "att"))                       # (M, B, L, labels)
            out = self._pool(cla, mask, att)
            return NetworkOutput(out.pooled, out.weights)
        if self.pooling == "multi_attention":
            outs = []
            for layer, e in (("2", e2), ("3", e3)):
                cla = _sigmoid(head(e, f"cla{layer}"))
                att = _sigmoid(head(e, f"att{layer}"))
                outs.append(self._pool(cla, mask, att))
            both = torch.cat([o.pooled for o in outs], dim=-1)               # (M, B, 2 * labels)
            proba = _sigmoid(_linear(both, p["out_w"], p["out_b"]))     # (M, B, labels)
            return NetworkOutput(proba, 0.5 * (outs[0].weights + outs[1].weights))
        # feature_attention
        val = head(e3, "val")                                          # (M, B, L, hidden)
        att = _sigmoid(head(e3, "att"))                                # (M, B, L, hidden)
        out = self._pool(val, mask, att)                               # pooled: (M, B, hidden)
        proba = _sigmoid(_linear(torch.relu(out.pooled), p["out_w"], p["out_b"]))  # (M, B, labels)
        weights = out.weights.mean(dim=-1, keepdim=True).expand(*out.weights.shape[:-1], self.n_labels)
        return NetworkOutput(proba, weights)

    def select(self, models) -> "MILNetwork":
        """A new stack holding copies of the given models (e.g. one fold out of many).

        Parameters
        ----------
        models : sequence of int
            Positions in this stack.

        Returns
        -------
        MILNetwork
            A stack of ``len(models)`` networks with copied (detached) parameters.
        """
        new = MILNetwork.__new__(MILNetwork)
        nn.Module.__init__(new)
        new.pooling, new.n_features, new.precision = self.pooling, self.n_features, self.precision
        new.n_labels, new.hidden = self.n_labels, self.hidden
        index = torch.as_tensor(np.asarray(models, dtype=np.int64), device=self.device)
        new.params = nn.ParameterDict({k: nn.Parameter(v.detach()[index].clone()) for k, v in self.params.items()})
        new._pool = self._pool
        return new
