"""Simple MI: summarise each bag by the mean of its instances, then classify bags.

The study's "Simple MI" section: the arithmetic mean is the summarisation function,
then kNN, an SVM or a random forest; multi-label problems are decomposed into one
binary classifier per label (binary relevance, "Genre prediction model training
procedure").

Cost (leave-one-out on the study's shape, 109 training bags per fold): kNN and the SVM
take milliseconds per fold; the random forest, six forests of 100 trees on 109 bag
means, about 0.6 s of CPU per fold, nearly all of it scikit-learn's per-tree Python
work (cloning, seeding and validating each tree), so it holds the GIL: its folds run in
worker processes (:func:`scorelens.analysis._evaluation.cross_val_estimator`), not
threads. A held-out film's probabilities and predictions come from one pass
(``proba_and_predict``): the bag means are standardised once and each forest's
``predict`` is derived from its ``predict_proba`` as scikit-learn does, the same numbers
as the two public calls. Skipping scikit-learn's input validation
(``config_context(assume_finite=True, skip_parameter_validation=True)``) was measured
and left out: under 2 % of a fold.
"""

from __future__ import annotations

import numpy as np
from sklearn.preprocessing import StandardScaler

from scorelens.mil._base import (
    BagClassifier,
    binary_proba,
    binary_proba_and_predict,
    fit_binary_columns,
    make_base_classifier,
)

__all__ = ["SimpleMI", "bag_means"]


def bag_means(bags: list[np.ndarray]) -> np.ndarray:
    """Mean instance of each bag.

    Parameters
    ----------
    bags : list of np.ndarray [shape=(n_instances_i, n_features)]

    Returns
    -------
    np.ndarray [shape=(n_bags, n_features), dtype=float64]
    """
    return np.stack([b.mean(axis=0, dtype=np.float64) for b in bags])


class SimpleMI(BagClassifier):
    """Mean-of-instances bag classifier with binary relevance.

    Parameters
    ----------
    estimator : {"knn", "svm", "rf"} or scikit-learn classifier, default="svm"
        Base classifier, fitted once per label on the standardised bag means.
    random_state : int or None, default=None
        Seed of the base classifier (the forest's bootstrap).

    Attributes
    ----------
    scaler_ : StandardScaler
        Fitted on the training bags' means only.
    estimators_ : list [length n_labels]
        One fitted base classifier per label.
    n_features_in_ : int
    n_labels_ : int

    Examples
    --------
    >>> clf = SimpleMI(estimator="knn").fit(bags, Y)      # doctest: +SKIP
    >>> clf.predict_proba(bags).shape                     # doctest: +SKIP
    (110, 6)
    """

    def __init__(self, estimator="svm", random_state=None):
        self.estimator = estimator
        self.random_state = random_state

    def _check_params(self) -> None:
        make_base_classifier(self.estimator, self.random_state)

    def _fit(self, bags, Y):
        template = make_base_classifier(self.estimator, self.random_state)
        X = bag_means(bags)
        self.scaler_ = StandardScaler().fit(X)
        X = self.scaler_.transform(X)
        self.estimators_ = fit_binary_columns(template, X, Y)

    def _features(self, bags):
        return self.scaler_.transform(bag_means(bags))

    def _proba(self, bags):
        X = self._features(bags)
        return np.stack([binary_proba(m, X) for m in self.estimators_], axis=1)

    def _predict(self, bags):
        # Each base classifier's own decision, as the study used them (a forest's vote
        # share of exactly 0.5 is a no here, where thresholding the probability says yes).
        X = self._features(bags)
        return np.stack([np.asarray(m.predict(X), dtype=np.int64) for m in self.estimators_], axis=1)

    def proba_and_predict(self, bags):
        X = self._features(self._checked(bags))
        pairs = [binary_proba_and_predict(m, X) for m in self.estimators_]
        proba = np.stack([p for p, _ in pairs], axis=1)
        pred = np.stack([np.asarray(y, dtype=np.int64) for _, y in pairs], axis=1)
        return self._shape(proba), self._shape(pred)
