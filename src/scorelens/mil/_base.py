"""What every bag classifier shares: label-shape handling, thresholds, base classifiers.

Shapes follow ``y``: an estimator fitted on a 1-D ``y`` of shape ``(n_bags,)``
returns 1-D probabilities and predictions; one fitted on a label matrix
``(n_bags, n_labels)`` returns matrices. (This departs from scikit-learn's binary
``predict_proba`` of shape ``(n, 2)`` on purpose: a film's genres are independent
yes/no questions and every model here answers them the same way.)

Cross-validation needs both the probabilities and the 0/1 predictions of each held-out
film. ``BagClassifier.proba_and_predict`` returns both; Simple MI and instance voting
override it to compute their features and their base classifiers' outputs once instead
of twice (a random forest's ``predict`` is the arg-max of its ``predict_proba``, so
:func:`binary_proba_and_predict` derives one from the other exactly as scikit-learn
does). The numbers are those of ``predict_proba`` and ``predict`` called separately.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, clone, is_classifier
from sklearn.ensemble import ExtraTreesClassifier, RandomForestClassifier
from sklearn.neighbors import KNeighborsClassifier
from sklearn.svm import SVC
from sklearn.utils.validation import check_is_fitted

from scorelens.exceptions import ParameterError
from scorelens.mil._validation import check_bag_labels, check_bags

__all__ = ["BagClassifier", "BASE_CLASSIFIERS", "make_base_classifier", "fit_binary", "fit_binary_columns",
           "binary_proba", "binary_proba_and_predict"]

#: Names accepted for the base classifier of Simple MI and instance majority voting
#: (the three the study tried, "Model architectures").
BASE_CLASSIFIERS: tuple[str, ...] = ("knn", "svm", "rf")


def make_base_classifier(estimator, random_state=None):
    """Build an unfitted base classifier from a name or a scikit-learn classifier.

    Parameters
    ----------
    estimator : {"knn", "svm", "rf"} or scikit-learn classifier
        ``"knn"``: 5 nearest neighbours; ``"svm"``: RBF support vector machine (its
        probability is a logistic squashing of the margin, 0.5 on the decision boundary;
        scikit-learn 1.9 deprecates Platt scaling inside SVC); ``"rf"``: random forest of
        100 trees. scikit-learn's defaults otherwise, as the study gives no other
        settings. An estimator object is cloned; if it has a ``random_state`` left at
        ``None``, the clone gets ``random_state`` (so cross-validation's per-fold seeds reach
        it too), while one the user set stays as set.
    random_state : int or None

    Returns
    -------
    scikit-learn classifier (unfitted)

    Raises
    ------
    ParameterError
        An unknown name, or an object that is not a scikit-learn classifier.
    """
    if isinstance(estimator, str):
        if estimator == "knn":
            return KNeighborsClassifier(n_neighbors=5)
        if estimator == "svm":
            return SVC(kernel="rbf", random_state=random_state)
        if estimator == "rf":
            return RandomForestClassifier(n_estimators=100, random_state=random_state)
        raise ParameterError(f"estimator={estimator!r} is not a known base classifier "
                             f"(choose one of {', '.join(BASE_CLASSIFIERS)} or pass a scikit-learn classifier)")
    if not is_classifier(estimator):
        raise ParameterError(f"estimator={estimator!r} is not a scikit-learn classifier")
    est = clone(estimator)
    if random_state is not None and est.get_params().get("random_state", 0) is None:
        est.set_params(random_state=random_state)
    return est


class _Constant:
    """Stands in for a base classifier when a training column holds one class only."""

    def __init__(self, value: int):
        self.value = int(value)

    def predict(self, X):
        return np.full(len(X), self.value, dtype=np.int64)

    def predict_proba(self, X):
        p = np.full((len(X), 2), 0.0)
        p[:, self.value] = 1.0
        return p


def fit_binary(template, X: np.ndarray, y: np.ndarray):
    """Fit a clone of ``template`` on one 0/1 column; a one-class column gives a constant model.

    A fold of a small corpus can lack every positive of a rare genre (11 Horror films
    in the study), and most classifiers refuse one-class data.

    Parameters
    ----------
    template : scikit-learn classifier
        Cloned, never fitted itself.
    X : np.ndarray [shape=(n_samples, n_features)]
    y : np.ndarray [shape=(n_samples,)]
        0/1 labels.

    Returns
    -------
    classifier
        The fitted clone, or a constant model predicting ``y``'s one class.
    """
    if np.unique(y).size < 2:
        return _Constant(y[0])
    model = clone(template)
    if isinstance(model, KNeighborsClassifier) and model.n_neighbors > len(X):
        # A tiny corpus (a demo, a leave-one-out fold of a handful of films) has fewer
        # training samples than neighbours: use them all rather than fail.
        model.set_params(n_neighbors=len(X))
    return model.fit(X, y)


def fit_binary_columns(template, X: np.ndarray, Y: np.ndarray) -> list:
    """:func:`fit_binary` for every column of ``Y`` (binary relevance), sharing work between the columns.

    A random forest's columns are grown by :func:`scorelens.mil._forest.fit_binary_forests`
    (the features sorted once for all columns, the trees by a compiled builder): the same
    forests as scikit-learn's, several times faster. Other classifiers are fitted column by
    column.

    Parameters
    ----------
    template : scikit-learn classifier
    X : np.ndarray [shape=(n_samples, n_features)]
    Y : np.ndarray [shape=(n_samples, n_labels)]
        0/1 labels.

    Returns
    -------
    list [length n_labels]
        Fitted clones, or constant models for one-class columns.
    """
    from scorelens.mil._forest import fit_binary_forests, supports

    models: list = [None] * Y.shape[1]
    if supports(template):
        both = [k for k in range(Y.shape[1]) if np.unique(Y[:, k]).size == 2]
        for k, forest in zip(both, fit_binary_forests(template, X, Y[:, both])):
            models[k] = forest
    return [m if m is not None else fit_binary(template, X, Y[:, k]) for k, m in enumerate(models)]


def binary_proba(model, X: np.ndarray) -> np.ndarray:
    """Probability of the positive class, shape ``(n_samples,)``.

    Uses ``predict_proba`` when the classifier has it, else a logistic squashing of
    ``decision_function`` (a score, not a calibrated probability).

    Parameters
    ----------
    model : fitted classifier
    X : np.ndarray [shape=(n_samples, n_features)]

    Returns
    -------
    np.ndarray [shape=(n_samples,)]
        In [0, 1]; 0 everywhere for a model that never saw the positive class.
    """
    if hasattr(model, "predict_proba"):
        proba = model.predict_proba(X)
        classes = list(getattr(model, "classes_", [0, 1]))
        return proba[:, classes.index(1)] if 1 in classes else np.zeros(len(X))
    return 1.0 / (1.0 + np.exp(-model.decision_function(X)))


def binary_proba_and_predict(model, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``binary_proba(model, X)`` and ``model.predict(X)``, with one pass of a forest.

    A scikit-learn forest classifier's ``predict`` is the arg-max of its
    ``predict_proba`` (``ForestClassifier.predict``, shared by the random and the
    extremely randomised forests); when a model uses that method the probabilities are
    computed once and the prediction derived from them by the same formula, which
    halves the trees' prediction work and gives the same arrays. Other models are
    asked twice.

    Parameters
    ----------
    model : fitted binary classifier (or the constant stand-in of :func:`fit_binary`)
    X : np.ndarray [shape=(n_samples, n_features)]

    Returns
    -------
    proba : np.ndarray [shape=(n_samples,)]
        Probability of the positive class, as :func:`binary_proba`.
    pred : np.ndarray [shape=(n_samples,)]
        As ``model.predict(X)``.
    """
    if isinstance(model, (RandomForestClassifier, ExtraTreesClassifier)) \
            and type(model).predict is RandomForestClassifier.predict and model.n_outputs_ == 1:
        proba = model.predict_proba(X)
        classes = list(model.classes_)
        positive = proba[:, classes.index(1)] if 1 in classes else np.zeros(len(X))
        return positive, model.classes_.take(np.argmax(proba, axis=1), axis=0)
    return binary_proba(model, X), model.predict(X)


class BagClassifier(ClassifierMixin, BaseEstimator):
    """Base class: label bookkeeping shared by every bag classifier.

    Subclasses implement ``_fit(bags, Y)`` (``Y`` always 2-D) and ``_proba(bags)``
    returning ``(n_bags, n_labels)`` probabilities; ``predict`` thresholds them unless
    the subclass overrides ``_predict``.
    """

    threshold = 0.5

    def fit(self, bags, y):
        """Fit on bags and their labels.

        Parameters
        ----------
        bags : list of np.ndarray [shape=(n_instances_i, n_features)] or np.ndarray [shape=(n_bags, n_features)]
        y : np.ndarray [shape=(n_bags,) or (n_bags, n_labels)]
            0/1 labels.

        Returns
        -------
        self
        """
        self._check_params()
        bags = check_bags(bags)
        Y, one_d = check_bag_labels(y, len(bags))
        self.n_features_in_ = bags[0].shape[1]
        self.n_labels_ = Y.shape[1]
        self.one_d_ = one_d
        self.classes_ = np.array([0, 1])
        self._fit(bags, Y)
        return self

    def _check_params(self) -> None:
        """Validate hyper-parameters (called by ``fit``, never by ``__init__``)."""

    def _checked(self, bags) -> list[np.ndarray]:
        check_is_fitted(self, "n_labels_")
        return check_bags(bags, n_features=self.n_features_in_)

    def _shape(self, M: np.ndarray) -> np.ndarray:
        return M[:, 0] if self.one_d_ else M

    def predict_proba(self, bags) -> np.ndarray:
        """Probability of each label for each bag.

        Parameters
        ----------
        bags : list of np.ndarray [shape=(n_instances_i, n_features)]

        Returns
        -------
        np.ndarray [shape=(n_bags,) or (n_bags, n_labels)]
        """
        return self._shape(self._proba(self._checked(bags)))

    def predict(self, bags) -> np.ndarray:
        """0/1 labels of each bag, shape ``(n_bags,)`` or ``(n_bags, n_labels)``.

        Parameters
        ----------
        bags : list of np.ndarray [shape=(n_instances_i, n_features)]

        Returns
        -------
        np.ndarray [shape=(n_bags,) or (n_bags, n_labels), dtype=int64]
            A label is 1 when its probability reaches ``threshold``.
        """
        return self._shape(self._predict(self._checked(bags)))

    def _predict(self, bags: list[np.ndarray]) -> np.ndarray:
        return (self._proba(bags) >= self.threshold).astype(np.int64)

    def proba_and_predict(self, bags) -> tuple[np.ndarray, np.ndarray]:
        """``predict_proba(bags)`` and ``predict(bags)``, for cross-validation.

        Subclasses that can compute both in one pass override this; the arrays must be
        those of the two public methods.

        Parameters
        ----------
        bags : list of np.ndarray [shape=(n_instances_i, n_features)]

        Returns
        -------
        proba : np.ndarray [shape=(n_bags,) or (n_bags, n_labels)]
        pred : np.ndarray [shape=(n_bags,) or (n_bags, n_labels), dtype=int64]
        """
        return self.predict_proba(bags), self.predict(bags)

    def score(self, bags, y, sample_weight=None) -> float:
        """Macro-averaged F1 over labels (the study's headline metric).

        Parameters
        ----------
        bags : list of np.ndarray [shape=(n_instances_i, n_features)]
        y : np.ndarray [shape=(n_bags,) or (n_bags, n_labels)]
            True 0/1 labels.
        sample_weight : np.ndarray [shape=(n_bags,)], optional

        Returns
        -------
        float
            F1 of the positive class for one label; the macro average over labels
            otherwise (a label never predicted scores 0).
        """
        from sklearn.metrics import f1_score

        Y = np.asarray(y)
        P = self.predict(bags)
        if Y.ndim == 1:
            return float(f1_score(Y, P, zero_division=0, sample_weight=sample_weight))
        return float(f1_score(Y, P, average="macro", zero_division=0, sample_weight=sample_weight))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        return tags
