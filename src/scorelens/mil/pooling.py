"""Pooling over a bag's instances: the operators of the study's Table 3.

Every pooling is a small parameter-free :class:`torch.nn.Module` acting on the last
two axes ``(..., n_instances, n_channels)`` with a boolean instance mask
``(..., n_instances)``, so one module serves one bag, a batch of padded bags, and a
stack of models trained side by side (leave-one-out folds). Each returns a
:class:`PoolOutput` holding the pooled values and the weight every instance received
(which cue drove a prediction).

Padding instances (``mask == False``) never contribute, and every pooling is a
symmetric function of the valid instances: invariant to their order.

Internally the instance axis is moved last and made contiguous before any sum over
instances, so that sums (and the sums autograd makes for their gradients) run along
the innermost axis; their rounding then does not depend on how many bags or models
are stacked, which keeps folds trained together bit-identical to folds trained alone.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from scorelens.exceptions import ParameterError

__all__ = ["PoolOutput", "MaxPooling", "AveragePooling", "LinearSoftmaxPooling", "AttentionPooling",
           "POOLINGS", "make_pooling"]

_EPS = 1e-7  # Kong et al.'s clamp of attention values; keeps the normalisation finite


class PoolOutput(NamedTuple):
    """What a pooling returns.

    Attributes
    ----------
    pooled : torch.Tensor [shape=(..., n_channels)]
    weights : torch.Tensor [shape=(..., n_instances, n_channels)]
        Share of each instance in the pooled value of each channel; sums to 1 over the
        valid instances (0 on padding).
    """

    pooled: torch.Tensor
    weights: torch.Tensor


def _last(t: torch.Tensor) -> torch.Tensor:
    return t.transpose(-1, -2).contiguous()   # (..., n_channels, n_instances)


def _mask(mask: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return mask.unsqueeze(-2).to(like.dtype)  # (..., 1, n_instances)


class MaxPooling(nn.Module):
    """``h_k = max_i x_ik`` (Table 3, "Max pooling"); the standard MI assumption."""

    def forward(self, values: torch.Tensor, mask: torch.Tensor, scores: torch.Tensor | None = None) -> PoolOutput:
        filled = _last(values).masked_fill(~mask.unsqueeze(-2), float("-inf"))   # (..., C, L)
        pooled, where = filled.max(dim=-1)                                       # (..., C)
        weights = torch.zeros_like(filled).scatter(-1, where.unsqueeze(-1), 1.0)
        return PoolOutput(pooled, weights.transpose(-1, -2))


class AveragePooling(nn.Module):
    """``h_k = (1/|B|) sum_i x_ik`` (Table 3, "Average pooling")."""

    def forward(self, values: torch.Tensor, mask: torch.Tensor, scores: torch.Tensor | None = None) -> PoolOutput:
        v = _last(values)                                                   # (..., C, L)
        m = _mask(mask, v)
        weights = (m / m.sum(dim=-1, keepdim=True).clamp_min(1.0)).expand_as(v)
        return PoolOutput((weights * v).sum(dim=-1), weights.transpose(-1, -2))


class LinearSoftmaxPooling(nn.Module):
    """``h_k = sum_i x_ik^2 / sum_i x_ik`` (Table 3; Wang et al.), for values in (0, 1).

    Each instance weighs by its own value, so confident instances dominate without
    the winner-takes-all of max pooling.
    """

    def forward(self, values: torch.Tensor, mask: torch.Tensor, scores: torch.Tensor | None = None) -> PoolOutput:
        v = _last(values)
        v = v * _mask(mask, v)                                              # (..., C, L)
        weights = v / v.sum(dim=-1, keepdim=True).clamp_min(_EPS)
        return PoolOutput((weights * v).sum(dim=-1), weights.transpose(-1, -2))


class AttentionPooling(nn.Module):
    """``h_k = sum_i w_ik x_ik / sum_i w_ik`` (Table 3, "Single attention"; Kong et al.).

    ``scores`` are the attention values ``w`` in (0, 1) (a sigmoid of a learned
    projection), one per instance and channel; they are clamped to ``[eps, 1-eps]`` and
    normalised over the bag's valid instances.
    """

    def forward(self, values: torch.Tensor, mask: torch.Tensor, scores: torch.Tensor | None = None) -> PoolOutput:
        if scores is None:
            raise ParameterError("AttentionPooling needs attention scores (scores=None given)")
        att = _last(scores).clamp(_EPS, 1.0 - _EPS)
        att = att * _mask(mask, att)                                        # (..., C, L)
        weights = att / att.sum(dim=-1, keepdim=True)
        return PoolOutput((weights * _last(values)).sum(dim=-1), weights.transpose(-1, -2))


#: The parameter-free pooling operators by name (the networks of Table 3 combine them
#: with learned heads; see :data:`scorelens.mil.network.NETWORK_POOLINGS`).
POOLINGS: dict[str, type[nn.Module]] = {
    "max": MaxPooling,
    "average": AveragePooling,
    "linear_softmax": LinearSoftmaxPooling,
    "attention": AttentionPooling,
}


def make_pooling(name: str) -> nn.Module:
    """The pooling operator called ``name`` (ParameterError naming the choices otherwise)."""
    try:
        return POOLINGS[name]()
    except KeyError:
        raise ParameterError(f"pooling={name!r} is unknown; choose one of {', '.join(POOLINGS)}") from None
