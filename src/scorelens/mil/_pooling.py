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


class _Pooling(nn.Module):
    """Shared entry points: ``forward`` on ``(..., L, C)`` values, ``pool_last`` on ``(..., C, L)``."""

    def forward(self, values: torch.Tensor, mask: torch.Tensor, scores: torch.Tensor | None = None) -> PoolOutput:
        out = self.pool_last(_last(values), mask.unsqueeze(-2), None if scores is None else _last(scores))
        return PoolOutput(out.pooled, out.weights.transpose(-1, -2))

    def pool_last(self, values: torch.Tensor, mask: torch.Tensor, scores: torch.Tensor | None = None) -> PoolOutput:
        """Pool values laid out instances-last.

        Parameters
        ----------
        values : torch.Tensor [shape=(..., n_channels, n_instances)]
            Contiguous, so that sums over instances run along the innermost axis.
        mask : torch.Tensor [dtype=bool]
            Broadcastable to ``values`` with a channel axis of 1, e.g. ``(..., 1, n_instances)``.
        scores : torch.Tensor [shape=(..., n_channels, n_instances)], optional
            Attention values (attention pooling only).

        Returns
        -------
        PoolOutput
            ``pooled`` of shape ``(..., n_channels)`` and ``weights`` of the values' shape.
        """
        raise NotImplementedError


class MaxPooling(_Pooling):
    """``h_k = max_i x_ik`` (Table 3, "Max pooling"); the standard MI assumption."""

    def pool_last(self, values, mask, scores=None) -> PoolOutput:
        """Each channel's largest valid value; its instance gets weight 1, the others 0.

        Parameters
        ----------
        values : torch.Tensor [shape=(..., n_channels, n_instances)]
        mask : torch.Tensor [dtype=bool]
            Broadcastable to ``values``, e.g. ``(..., 1, n_instances)``.
        scores : None
            Unused.

        Returns
        -------
        PoolOutput
        """
        filled = values.masked_fill(~mask, float("-inf"))                       # (..., C, L)
        pooled, where = filled.max(dim=-1)                                      # (..., C)
        weights = torch.zeros_like(filled).scatter(-1, where.unsqueeze(-1), 1.0)
        return PoolOutput(pooled, weights)


class AveragePooling(_Pooling):
    """``h_k = (1/|B|) sum_i x_ik`` (Table 3, "Average pooling")."""

    def pool_last(self, values, mask, scores=None) -> PoolOutput:
        """Each channel's mean over the valid instances, which all weigh alike.

        Parameters
        ----------
        values : torch.Tensor [shape=(..., n_channels, n_instances)]
        mask : torch.Tensor [dtype=bool]
            Broadcastable to ``values``, e.g. ``(..., 1, n_instances)``.
        scores : None
            Unused.

        Returns
        -------
        PoolOutput
        """
        m = mask.to(values.dtype)
        weights = (m / m.sum(dim=-1, keepdim=True).clamp_min(1.0)).expand_as(values)
        return PoolOutput((weights * values).sum(dim=-1), weights)


class LinearSoftmaxPooling(_Pooling):
    """``h_k = sum_i x_ik^2 / sum_i x_ik`` (Table 3; Wang et al.), for values in (0, 1).

    Each instance weighs by its own value, so confident instances dominate without
    the winner-takes-all of max pooling.
    """

    def pool_last(self, values, mask, scores=None) -> PoolOutput:
        """``sum x^2 / sum x`` over the valid instances; each weighs ``x / sum x``.

        Parameters
        ----------
        values : torch.Tensor [shape=(..., n_channels, n_instances)]
            In (0, 1).
        mask : torch.Tensor [dtype=bool]
            Broadcastable to ``values``, e.g. ``(..., 1, n_instances)``.
        scores : None
            Unused.

        Returns
        -------
        PoolOutput
        """
        v = values * mask.to(values.dtype)                                      # (..., C, L)
        weights = v / v.sum(dim=-1, keepdim=True).clamp_min(_EPS)
        return PoolOutput((weights * v).sum(dim=-1), weights)


class AttentionPooling(_Pooling):
    """``h_k = sum_i w_ik x_ik / sum_i w_ik`` (Table 3, "Single attention"; Kong et al.).

    ``scores`` are the attention values ``w`` in (0, 1) (a sigmoid of a learned
    projection), one per instance and channel; they are clamped to ``[eps, 1-eps]`` and
    normalised over the bag's valid instances.
    """

    def pool_last(self, values, mask, scores=None) -> PoolOutput:
        """The attention-weighted mean of each channel over the valid instances.

        Parameters
        ----------
        values : torch.Tensor [shape=(..., n_channels, n_instances)]
        mask : torch.Tensor [dtype=bool]
            Broadcastable to ``values``, e.g. ``(..., 1, n_instances)``.
        scores : torch.Tensor [shape=(..., n_channels, n_instances)]
            Attention values in (0, 1).

        Returns
        -------
        PoolOutput

        Raises
        ------
        ParameterError
            ``scores`` is None.
        """
        if scores is None:
            raise ParameterError("AttentionPooling needs attention scores (scores=None given)")
        att = scores.clamp(_EPS, 1.0 - _EPS) * mask.to(scores.dtype)            # (..., C, L)
        weights = att / att.sum(dim=-1, keepdim=True)
        return PoolOutput((weights * values).sum(dim=-1), weights)


#: The parameter-free pooling operators by name (the networks of Table 3 combine them
#: with learned heads; see :data:`scorelens.mil._network.NETWORK_POOLINGS`).
POOLINGS: dict[str, type[nn.Module]] = {
    "max": MaxPooling,
    "average": AveragePooling,
    "linear_softmax": LinearSoftmaxPooling,
    "attention": AttentionPooling,
}


def make_pooling(name: str) -> nn.Module:
    """The pooling operator called ``name`` (ParameterError naming the choices otherwise).

    Parameters
    ----------
    name : {"max", "average", "linear_softmax", "attention"}

    Returns
    -------
    torch.nn.Module
        A new instance of the pooling in :data:`POOLINGS`.

    Raises
    ------
    ParameterError
        An unknown name (the message lists the choices).
    """
    try:
        return POOLINGS[name]()
    except KeyError:
        raise ParameterError(f"pooling={name!r} is unknown; choose one of {', '.join(POOLINGS)}") from None
