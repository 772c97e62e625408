"""Synthetic bags with planted structure, for the genre-model tests."""

from __future__ import annotations

import numpy as np
import pytest
import torch


def witness_bags(rng: np.random.Generator, n_bags: int, *, n_labels: int = 3, n_features: int = 8,
                 max_size: int = 12, p: float = 0.4):
    """Bags whose label k is on iff the bag holds at least one instance of type k.

    Background instances are N(0, 1); an instance of type k is the prototype ``4 e_k``
    plus noise. Positive bags hold 1-2 witnesses among 0-``max_size`` background instances,
    so a bag's mean carries only a diluted trace of its labels: the standard MI assumption.
    """
    Y = (rng.random((n_bags, n_labels)) < p).astype(np.int64)
    bags = []
    for y in Y:
        parts = [rng.normal(size=(int(rng.integers(0, max_size)), n_features))]
        for k in np.flatnonzero(y):
            w = rng.normal(scale=0.5, size=(int(rng.integers(1, 3)), n_features))
            w[:, k] += 4.0
            parts.append(w)
        bag = np.concatenate(parts)
        if len(bag) == 0:
            bag = rng.normal(size=(1, n_features))
        bags.append(rng.permutation(bag).astype(np.float32))
    return bags, Y


def shift_bags(rng: np.random.Generator, n_bags: int, *, n_labels: int = 3, n_features: int = 8,
               max_size: int = 12, shift: float = 1.0, p: float = 0.4):
    """Bags whose instances are N(shift * y, 1) on the first ``n_labels`` features: the mean tells."""
    Y = (rng.random((n_bags, n_labels)) < p).astype(np.int64)
    bags = []
    for y in Y:
        bag = rng.normal(size=(int(rng.integers(1, max_size + 1)), n_features))
        bag[:, :n_labels] += shift * y
        bags.append(bag.astype(np.float32))
    return bags, Y


@pytest.fixture(autouse=True)
def one_thread():
    """One intra-op thread per test worker: these tensors are tiny and pytest-xdist already
    runs one worker per core, so more threads only oversubscribe the CPU."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def planted():
    """The bag generators above (conftest modules are not importable under --import-mode=importlib)."""
    class Planted:
        witness = staticmethod(witness_bags)
        shift = staticmethod(shift_bags)
    return Planted


@pytest.fixture
def rng():
    torch.manual_seed(0)
    return np.random.default_rng(1234)
