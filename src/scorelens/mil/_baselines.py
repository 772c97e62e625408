"""The study's two reference points: a random guess by class frequencies and the plurality label set.

Both ignore the bags' content ("Results / Genre prediction": every model must beat them).
"""

from __future__ import annotations

import numpy as np
from sklearn.utils import check_random_state

from scorelens.mil._base import BagClassifier

__all__ = ["RandomGuess", "PluralityLabel"]


class RandomGuess(BagClassifier):
    """Guess each label at random with its training frequency.

    ``predict_proba`` is the training frequency of each label for every bag;
    ``predict`` draws independent Bernoulli guesses from ``random_state`` (so a seeded
    baseline is reproducible), one draw per call.

    Parameters
    ----------
    random_state : int, np.random.Generator-compatible seed or None

    Attributes
    ----------
    prior_ : np.ndarray [shape=(n_labels,)]
        Share of training bags with each label.
    """

    def __init__(self, random_state=None):
        self.random_state = random_state

    def _fit(self, bags, Y):
        self.prior_ = Y.mean(axis=0)
        self._rng = check_random_state(self.random_state)

    def _proba(self, bags):
        return np.tile(self.prior_, (len(bags), 1))

    def _predict(self, bags):
        return (self._rng.random_sample((len(bags), self.n_labels_)) < self.prior_).astype(np.int64)


class PluralityLabel(BagClassifier):
    """Predict the most common training label set for every bag (the study's "zero rule").

    Ties between equally common label sets go to the one seen first in training.

    Attributes
    ----------
    label_set_ : np.ndarray [shape=(n_labels,), dtype=int64]
    """

    def __init__(self):
        pass

    def _fit(self, bags, Y):
        sets, first, counts = np.unique(Y, axis=0, return_index=True, return_counts=True)
        best = max(range(len(sets)), key=lambda i: (counts[i], -first[i]))
        self.label_set_ = sets[best].astype(np.int64)

    def _proba(self, bags):
        return np.tile(self.label_set_.astype(float), (len(bags), 1))
