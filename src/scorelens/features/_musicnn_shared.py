"""musicnn on the patches of one long spectrogram, computing once what overlapping patches share.

:meth:`~scorelens.features._musicnn.MusicnnNet.embed_spectrogram` runs the network on
3-second patches one second apart, so every spectrogram frame lies in three patches, and
most of what the network computes from a frame does not depend on the patch. This module
computes the same outputs as running every patch separately (to float rounding, ~1e-6)
with about half the multiplications (0.73 instead of 1.36 Gflop per second of audio), in
plain matrix products on the tensors' device:

* **Timbral front end** (7-frame x 38- and 67-band filters, maximum over frequency):
  computed once per frame. A patch's first and last three frames, which see the patch's
  own zero padding, are recomputed per patch. Both are 96-point circular correlations
  along frequency evaluated in the DFT domain: per frequency bin a product over the 7
  time taps (a batched matrix product), then the inverse DFT as one matrix product. That
  takes 4.96 Mflop per frame where the direct convolution takes 12.1.
* **Temporal front end** (128-, 64- and 32-frame x 1-band filters, 'same' zero padding at
  the patch's ends): a frame further than half a kernel from both ends of its patch sees
  no padding, so it takes its value from one pass over the whole spectrogram; the frames
  near the ends are computed per patch from the patch's own frames, by blocks of
  a few output frames whose Toeplitz matrices skip the padding.
* **First mid-end convolution**: its share from the timbral features is computed once per
  frame, except in the 6 frames at each end of a patch, which see the patch's recomputed
  edge frames or its padding.

The per-patch rest (the temporal edges, the mid-end from its second half on, the pooling
and the back end) runs on ``batch_size`` patches at a time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

#: Output frames per Toeplitz block of the temporal convolutions: few enough that the blocks'
#: triangles waste little, enough for efficient matrix products (4, 16 and 32 measured slower).
_BLOCK = 8
#: Timbral filters per pass of the DFT-domain stage (a divisor of each block's 204): a pass reads
#: only its group's DFT-domain weights (0.56 MB), which stay in cache over the frames, where one
#: pass over all 408 filters streams 2.2 MB of them per column block (measured 10-15 % slower).
_TIMBRAL_GROUP = 102
#: Output frames per pass of the timbral stage (16, 32 and 128 measured slower with 102 filters).
_TIMBRAL_FRAMES = 64
#: Output frames whose 7-frame spectra are gathered at once, for every filter group in turn.
_TIMBRAL_COLUMNS = 1024
#: Spectrogram frames per pass of the whole-spectrogram temporal stage.
_TEMPORAL_FRAMES = 128
_EDGE = 3  # time padding of the 7-frame timbral and mid-end convolutions


@dataclass(frozen=True)
class _Temporal:
    """One temporal block's filters as a Toeplitz matrix over ``block`` output frames."""

    kernel: int
    before: int
    """Zero frames TensorFlow's 'same' padding puts before the patch, ``(kernel - 1) // 2``."""
    block: int
    toeplitz: torch.Tensor
    """[shape=(block * filters, block + kernel - 1)] rows (output frame, filter), columns input frames."""


@dataclass(frozen=True)
class _Plan:
    """The network's weights rearranged for the shared computation (see the module docstring)."""

    key: tuple
    n_freq: int
    timbral_filters: tuple[int, ...]
    valid: tuple[int, ...]
    """Frequency positions of each timbral block's 'valid' correlation (59 and 30)."""
    dft_weights: torch.Tensor
    """[shape=(n_groups, n_bins, 2 * _TIMBRAL_GROUP, 2 * 7)] per group of filters and bin:
    (re/im out, filter) x (tap, re/im in)."""
    inverse_dft: tuple[torch.Tensor, ...]
    """Per timbral block [shape=(2 * n_bins, columns)]: spectrum (bin, re/im) -> its valid positions,
    the last one repeated up to a multiple of 16 columns (a repeat leaves the maximum unchanged)."""
    temporal: tuple[_Temporal, ...]
    midend_timbral: torch.Tensor
    """[shape=(64, sum(timbral filters), 7)] the first mid-end convolution's timbral share."""
    midend_temporal: torch.Tensor
    """[shape=(64, sum(temporal filters), 7)] its temporal share."""


def _plan_key(net: nn.Module) -> tuple:
    # A tensor's version counter moves with every in-place change (load_state_dict included);
    # inference tensors (a net built under torch.inference_mode) have none, and their storage names them.
    return tuple((t.data_ptr(), None if t.is_inference() else t._version, t.device)
                 for t in [*net.parameters(), *net.buffers()])


def plan(net: nn.Module, n_freq: int) -> _Plan:
    """The weights of ``net`` rearranged for :func:`embed_patches`, cached until they change.

    Parameters
    ----------
    net : MusicnnNet
    n_freq : int
        Mel bands of the spectrogram (96).

    Returns
    -------
    _Plan
    """
    key = (n_freq, *_plan_key(net))
    cached = getattr(net, "_shared_plan", None)
    if cached is not None and cached.key == key:
        return cached
    with torch.no_grad():
        built = _build_plan(net, key, n_freq)
    net._shared_plan = built
    return built


def _build_plan(net: nn.Module, key: tuple, n_freq: int) -> _Plan:
    taps = net.timbral[0].conv.weight.shape[2]  # 7
    n_bins = n_freq // 2 + 1
    spectra, valid, filters = [], [], []
    for block in net.timbral:
        w = block.signed_weight()[:, 0].double()  # (filters, 7, kernel_freq)
        # circular correlation: spectrum of the output = spectrum of the input x conj(spectrum of the filter)
        spectra.append(torch.fft.rfft(w, n=n_freq, dim=2).conj())  # (filters, 7, bins)
        valid.append(n_freq - w.shape[2] + 1)
        filters.append(w.shape[0])
    spec = torch.cat(spectra).permute(2, 0, 1)  # (bins, filters, 7)
    a, b = spec.real, spec.imag
    # (xr + i xi)(a + i b) = (xr a - xi b) + i (xr b + xi a)
    dft_weights = torch.stack([torch.stack([a, -b], dim=3), torch.stack([b, a], dim=3)], dim=1)  # (bins, 2, f, 7, 2)
    if any(f % _TIMBRAL_GROUP for f in filters):
        raise RuntimeError(f"musicnn port: timbral filters {filters} are not multiples of {_TIMBRAL_GROUP}")
    n_groups = sum(filters) // _TIMBRAL_GROUP
    dft_weights = dft_weights.reshape(n_bins, 2, n_groups, _TIMBRAL_GROUP, 2 * taps)
    dft_weights = dft_weights.permute(2, 0, 1, 3, 4).reshape(n_groups, n_bins, 2 * _TIMBRAL_GROUP, 2 * taps)

    bins = torch.arange(n_bins, dtype=torch.float64, device=spec.device)
    weight = torch.full((n_bins,), 2.0, dtype=torch.float64, device=spec.device)
    weight[0] = 1.0  # DC and Nyquist appear once in the full spectrum, the others twice
    weight[-1] = 1.0 if n_freq % 2 == 0 else 2.0
    inverse = []
    for n_valid in valid:
        columns = -(-n_valid // 16) * 16
        position = torch.arange(columns, device=spec.device).clamp(max=n_valid - 1).double()
        angle = 2.0 * math.pi * bins[:, None] * position[None, :] / n_freq  # (bins, columns)
        inv = torch.stack([weight[:, None] * torch.cos(angle), -weight[:, None] * torch.sin(angle)], dim=1)
        inverse.append((inv / n_freq).reshape(2 * n_bins, columns).float().contiguous())

    temporal = []
    for block in net.temporal:
        w = block.signed_weight()[:, 0, :, 0]  # (filters, kernel)
        k = w.shape[1]
        size = _BLOCK
        toeplitz = w.new_zeros(size, w.shape[0], size + k - 1)
        for row in range(size):
            toeplitz[row, :, row:row + k] = w
        temporal.append(_Temporal(k, (k - 1) // 2, size, toeplitz.reshape(size * w.shape[0], size + k - 1)))

    first = net.midend.convs[0].weight  # (64, 561, 7)
    n_timbral = sum(filters)
    return _Plan(key=key, n_freq=n_freq, timbral_filters=tuple(filters), valid=tuple(valid),
                 dft_weights=dft_weights.float().contiguous(), inverse_dft=tuple(inverse),
                 temporal=tuple(temporal), midend_timbral=first[:, :n_timbral].contiguous(),
                 midend_temporal=first[:, n_timbral:].contiguous())


# --------------------------------------------------------------------------- timbral front end

def _timbral_pooled(plan: _Plan, taps, n_columns: int, out: torch.Tensor) -> None:
    """Maxima over frequency of the sign-folded timbral responses, in the DFT domain.

    Parameters
    ----------
    plan : _Plan
    taps : callable
        ``taps(first, count)`` gives the spectra the responses of ``count`` columns need,
        [shape=(n_bins, 7 * 2, count)]: per column, its 7 input frames' (re, im).
    n_columns : int
        Columns (output frames) to compute.
    out : torch.Tensor [shape=(sum(timbral filters), n_columns)]
        Written with the maxima, filter by filter.
    """
    n_groups, n_bins, rows, _ = plan.dft_weights.shape
    group = rows // 2
    per_block = [f // group for f in plan.timbral_filters]
    inverses = [inverse for inverse, count in zip(plan.inverse_dft, per_block) for _ in range(count)]
    step = _TIMBRAL_FRAMES
    product = out.new_empty(n_bins * rows * step)
    response = out.new_empty(group * step * max(inverse.shape[1] for inverse in plan.inverse_dft))
    for start in range(0, n_columns, _TIMBRAL_COLUMNS):
        block = taps(start, min(_TIMBRAL_COLUMNS, n_columns - start))  # (bins, 14, columns)
        for g, (weights, inverse) in enumerate(zip(plan.dft_weights, inverses)):
            for first in range(0, block.shape[2], step):
                count = min(step, block.shape[2] - first)
                spectrum = product[:n_bins * rows * count].view(n_bins, rows, count)
                torch.bmm(weights, block[:, :, first:first + count], out=spectrum)  # (bins, (re/im, filter), count)
                y = response[:group * count * inverse.shape[1]].view(group * count, inverse.shape[1])
                # ((bin, re/im), (filter, column)) -> ((filter, column), valid position)
                torch.mm(spectrum.view(2 * n_bins, group * count).t(), inverse, out=y)
                out[g * group:(g + 1) * group, start + first:start + first + count] = y.amax(dim=1).view(group, count)


def _frame_spectra(x: torch.Tensor, n_freq: int) -> torch.Tensor:
    """[shape=(n_bins, 2, n + 6)] DFT along frequency of the frames, zero-padded by 3 in time."""
    padded = F.pad(x, (0, 0, _EDGE, _EDGE))  # (n + 6, freq)
    return torch.view_as_real(torch.fft.rfft(padded, n=n_freq, dim=1)).permute(1, 2, 0).contiguous()


def _finish_timbral(net: nn.Module, pooled: torch.Tensor) -> torch.Tensor:
    """[shape=(sum(filters), m)] the timbral features from their signed maxima (in place)."""
    row = 0
    for block in net.timbral:
        filters = block.conv.out_channels
        pooled[row:row + filters] = block.finish(pooled[row:row + filters], channel_dim=0)
        row += filters
    return pooled


def _shared_timbral(net: nn.Module, plan: _Plan, spectra: torch.Tensor, n: int) -> torch.Tensor:
    """[shape=(sum(filters), n)] timbral features of every frame, with the spectrogram's zero padding."""
    taps_time = 2 * _EDGE + 1
    s0, s1, s2 = spectra.stride()

    def taps(first: int, count: int) -> torch.Tensor:
        # column t needs padded frames first + t .. first + t + 6
        view = spectra.as_strided((spectra.shape[0], taps_time, 2, count), (s0, s2, s1, s2),
                                  spectra.storage_offset() + first * s2)
        return view.reshape(spectra.shape[0], 2 * taps_time, count)

    out = spectra.new_empty(sum(plan.timbral_filters), n)
    _timbral_pooled(plan, taps, n, out)
    return _finish_timbral(net, out)


def _edge_timbral(net: nn.Module, plan: _Plan, spectra: torch.Tensor, starts: torch.Tensor,
                  patch_frames: int) -> torch.Tensor:
    """[shape=(sum(filters), n_patches, 6)] each patch's first and last 3 frames, with the patch's padding."""
    taps_time = 2 * _EDGE + 1
    frames = torch.tensor([*range(_EDGE), *range(patch_frames - _EDGE, patch_frames)], device=starts.device)
    tap = torch.arange(taps_time, device=starts.device)
    padded = starts[:, None, None] + frames[None, :, None] + tap[None, None, :]  # (patches, 6, 7), padded index
    inside = (padded - _EDGE >= starts[:, None, None]) & (padded - _EDGE < starts[:, None, None] + patch_frames)
    gathered = spectra[:, :, padded.reshape(-1)].view(spectra.shape[0], 2, *padded.shape)  # (bins, 2, P, 6, 7)
    gathered = gathered * inside.to(spectra.dtype)
    columns = gathered.permute(0, 4, 1, 2, 3).reshape(spectra.shape[0], 2 * taps_time, -1)  # (bins, 14, P * 6)
    out = spectra.new_empty(sum(plan.timbral_filters), columns.shape[2])
    _timbral_pooled(plan, lambda first, count: columns[:, :, first:first + count].contiguous(), columns.shape[2], out)
    return _finish_timbral(net, out).view(out.shape[0], len(starts), 2 * _EDGE)


# --------------------------------------------------------------------------- temporal front end

def _temporal_global(temporal: _Temporal, x: torch.Tensor) -> torch.Tensor:
    """[shape=(filters, n)] signed maxima over frequency of a temporal block on the whole spectrogram."""
    n, n_freq = x.shape
    block = temporal.block
    k, width = temporal.kernel, block + temporal.kernel - 1
    filters = temporal.toeplitz.shape[0] // block
    n_blocks = -(-n // block)
    padded = F.pad(x, (0, 0, temporal.before, k - 1 - temporal.before + n_blocks * block - n))
    pooled = x.new_empty(block, filters, n_blocks)
    per_pass = max(1, _TEMPORAL_FRAMES // block)
    product = x.new_empty(block * filters * per_pass * n_freq)
    for first in range(0, n_blocks, per_pass):
        count = min(per_pass, n_blocks - first)
        rows = padded[first * block:(first + count) * block + k - 1]
        windows = rows.unfold(0, width, block)  # (count, freq, width)
        windows = windows.permute(2, 0, 1).reshape(width, count * n_freq)
        y = product[:block * filters * count * n_freq].view(block * filters, count * n_freq)
        torch.mm(temporal.toeplitz, windows, out=y)  # ((frame, filter), (block, freq))
        pooled[:, :, first:first + count] = y.view(block, filters, count, n_freq).amax(dim=3)
    return pooled.permute(1, 2, 0).reshape(filters, n_blocks * block)[:, :n]


def _temporal_edges(temporal: _Temporal, patches: torch.Tensor, out: torch.Tensor) -> None:
    """Signed maxima of a temporal block in the frames near a patch's ends, with the patch's padding.

    Parameters
    ----------
    temporal : _Temporal
    patches : torch.Tensor [shape=(patch_frames, batch * n_freq)]
        Normalised patches, frame by frame.
    out : torch.Tensor [shape=(patch_frames, filters, batch)]
        Written in frames ``[0, before)`` and ``[patch_frames - after, patch_frames)``.
    """
    length = patches.shape[0]
    block = temporal.block
    k, before = temporal.kernel, temporal.before
    filters = temporal.toeplitz.shape[0] // block
    batch = out.shape[2]
    product = patches.new_empty(block * filters * patches.shape[1])
    for start, stop in ((0, before), (length - (k - 1 - before), length)):
        for first in range(start, stop, block):
            count = min(block, stop - first)
            shift = first - before  # input frame of the Toeplitz matrix's first column
            lo, hi = max(0, shift), min(length, shift + count + k - 1)  # the rest is the patch's zero padding
            y = product[:count * filters * patches.shape[1]].view(count * filters, patches.shape[1])
            torch.mm(temporal.toeplitz[:count * filters, lo - shift:hi - shift], patches[lo:hi], out=y)
            out[first:first + count] = y.view(count, filters, batch, -1).amax(dim=3)


# --------------------------------------------------------------------------- the whole network

def embed_patches(net: nn.Module, logmel: torch.Tensor, starts: list[int], *, patch_frames: int,
                  batch_size: int):
    """musicnn's outputs for patches of one spectrogram, sharing the work they have in common.

    Parameters
    ----------
    net : MusicnnNet
    logmel : torch.Tensor [shape=(n_frames, n_freq)]
        Log-mel spectrogram, not normalised.
    starts : list of int
        First frame of each patch, inside the spectrogram (checked by the caller).
    patch_frames : int
        Frames per patch (187).
    batch_size : int
        Patches per pass through the per-patch stages.

    Returns
    -------
    MusicnnOutput
        One row per patch, in the order of ``starts``.
    """
    n, n_freq = logmel.shape
    weights = plan(net, n_freq)
    device = logmel.device
    x = net.normalise(logmel)  # (n, freq)
    spectra = _frame_spectra(x, n_freq)  # (bins, 2, n + 6)
    shared = _shared_timbral(net, weights, spectra, n)  # (408, n)
    start = torch.as_tensor(starts, dtype=torch.long, device=device)
    edges = _edge_timbral(net, weights, spectra, start, patch_frames)  # (408, P, 6)
    edge_frames = [*range(_EDGE), *range(patch_frames - _EDGE, patch_frames)]
    temporal_global = torch.cat([block.finish(_temporal_global(t, x), channel_dim=0)
                                 for block, t in zip(net.temporal, weights.temporal)])  # (153, n)
    midend_timbral = F.conv1d(F.pad(shared[None], (_EDGE, _EDGE)), weights.midend_timbral)[0]  # (64, n)
    first_conv = net.midend.convs[0]
    context = 2 * _EDGE  # mid-end frames that see a recomputed timbral frame or the patch's padding

    outputs = []
    for b in range(0, len(starts), batch_size):
        batch = starts[b:b + batch_size]

        def windows(features: torch.Tensor, dim: int = 1) -> torch.Tensor:
            return torch.stack([features.narrow(dim, s, patch_frames) for s in batch], dim=1 - dim)

        timbral = windows(shared)  # (batch, 408, time)
        timbral[:, :, edge_frames] = edges[:, b:b + batch_size].permute(1, 0, 2)
        patches = windows(x, dim=0).view(patch_frames, -1)  # (time, batch * freq)
        temporal_front = windows(temporal_global)  # (batch, 153, time), right away from the ends
        row = 0
        for block, t in zip(net.temporal, weights.temporal):
            filters = block.conv.out_channels
            pooled = x.new_empty(patch_frames, filters, len(batch))  # (time, filters, batch)
            _temporal_edges(t, patches, pooled)
            for lo, hi in ((0, t.before), (patch_frames - (t.kernel - 1 - t.before), patch_frames)):
                temporal_front[:, row:row + filters, lo:hi] = block.finish(pooled[lo:hi].permute(2, 1, 0))
            row += filters
        first = windows(midend_timbral)  # (batch, 64, time)
        first[:, :, :context] = F.conv1d(F.pad(timbral[:, :, :context + _EDGE], (_EDGE, 0)), weights.midend_timbral)
        first[:, :, -context:] = F.conv1d(F.pad(timbral[:, :, -context - _EDGE:], (0, _EDGE)), weights.midend_timbral)
        first += F.conv1d(F.pad(temporal_front, (_EDGE, _EDGE)), weights.midend_temporal, first_conv.bias)
        parts = [timbral, temporal_front, *net.midend.after_first_conv(first)]
        max_pool = torch.cat([p.amax(dim=2) for p in parts], dim=1)  # (batch, 753)
        mean_pool = torch.cat([p.mean(dim=2) for p in parts], dim=1)  # (batch, 753)
        outputs.append(net.backend.from_pools(max_pool, mean_pool))
    return type(outputs[0])(*(torch.cat(parts) for parts in zip(*outputs)))
