"""Shared builders of the report tests: predictions tables and clip tables from small matrices."""

import numpy as np
import pandas as pd
import pytest


def _frame(film_ids, genres, true, pred, proba=None, *, features="vggish", model="network:attention"):
    true, pred = np.asarray(true, int), np.asarray(pred, int)
    proba = np.where(pred == 1, 0.75, 0.25) if proba is None else np.asarray(proba, float)
    n, g = true.shape
    return pd.DataFrame({"film_id": np.repeat(list(film_ids), g), "features": features, "model": model,
                         "genre": np.tile(list(genres), n), "probability": proba.reshape(-1),
                         "predicted": pred.reshape(-1).astype(np.int8), "true": true.reshape(-1).astype(np.int8)})


@pytest.fixture
def make_predictions():
    """``make_predictions(film_ids, genres, true, pred, proba=None, features=..., model=...)`` -> long format."""
    return _frame


@pytest.fixture
def rng():
    return np.random.default_rng(20210421)
