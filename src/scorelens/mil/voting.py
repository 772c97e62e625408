"""Instance majority voting (IMV): instances inherit their bag's labels, bags take a vote.

The study's "Instance majority voting" section: every cue is labelled with its film's
genres, a classifier is trained on all cues, and a film gets a genre when the majority
of its cues vote for it.

Multi-label strategy (the study does not say): binary relevance, one classifier per
genre, except for the random forest, which is grown once for all genres as a
multi-output forest (scikit-learn's native multi-label forest: each split scores the
genres' summed impurity). IMV trains on every cue of the corpus (~4,400 in the study's
shape), where six binary forests per leave-one-out fold cost about 28 s against 5 s for
one multi-output forest; kNN and SVM keep binary relevance (kNN's neighbours are the
same for every genre either way; the SVMs share one kernel matrix).
"""

from __future__ import annotations

import numpy as np
from sklearn.base import clone
from sklearn.ensemble import RandomForestClassifier
from sklearn.metrics.pairwise import rbf_kernel
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from scorelens.mil.base import BagClassifier, fit_binary, make_base_classifier

__all__ = ["InstanceMajorityVote"]

#: Above this many training instances the RBF SVM computes its kernel itself instead of
#: sharing one precomputed kernel matrix between the labels (n^2 doubles of memory).
SHARED_KERNEL_MAX_INSTANCES = 12_000


def _shared_rbf(template, n_instances: int) -> bool:
    return (type(template) is SVC and template.kernel == "rbf" and n_instances <= SHARED_KERNEL_MAX_INSTANCES)


class InstanceMajorityVote(BagClassifier):
    """Bag classifier by majority vote of instance-level classifiers.

    ``predict_proba`` is the share of a bag's instances voting for each label, and a
    label is predicted when at least half of the instances vote for it (``>= 0.5``, the
    same threshold as the networks; a tie counts as a yes).

    Parameters
    ----------
    estimator : {"knn", "svm", "rf"} or scikit-learn classifier, default="svm"
        Instance-level base classifier (one per label).
    random_state : int or None, default=None

    Attributes
    ----------
    scaler_ : StandardScaler
        Fitted on the training instances only.
    estimators_ : list [length n_labels, or 1 for a multi-output forest]
    multi_output_ : bool
        Whether ``estimators_`` holds one multi-output model for all labels.
    n_features_in_ : int
    n_labels_ : int
    """

    def __init__(self, estimator="svm", random_state=None):
        self.estimator = estimator
        self.random_state = random_state

    def _check_params(self) -> None:
        make_base_classifier(self.estimator, self.random_state)

    def _fit(self, bags, Y):
        template = make_base_classifier(self.estimator, self.random_state)
        X = np.concatenate(bags)
        sizes = [b.shape[0] for b in bags]
        Yi = np.repeat(Y, sizes, axis=0)  # (n_instances_total, n_labels): labels inherited from the bag
        self.scaler_ = StandardScaler().fit(X)
        Xs = self.scaler_.transform(X)
        self.kernel_X_ = None
        if _shared_rbf(template, len(Xs)):
            # The labels' SVMs share their training instances, so one RBF kernel matrix serves
            # them all (scikit-learn would recompute it per label): about twice as fast.
            gamma = template.gamma
            if gamma == "scale":
                gamma = 1.0 / (Xs.shape[1] * Xs.var()) if Xs.var() > 0 else 1.0
            elif gamma == "auto":
                gamma = 1.0 / Xs.shape[1]
            self.kernel_X_, self.gamma_ = Xs, float(gamma)
            template = clone(template).set_params(kernel="precomputed")
            Xs = rbf_kernel(Xs, gamma=self.gamma_)
        self.multi_output_ = isinstance(template, RandomForestClassifier)
        if self.multi_output_:
            self.estimators_ = [clone(template).fit(Xs, Yi if Yi.shape[1] > 1 else Yi[:, 0])]
        else:
            self.estimators_ = [fit_binary(template, Xs, Yi[:, k]) for k in range(Y.shape[1])]

    def instance_votes(self, bags) -> list[np.ndarray]:
        """Each instance's 0/1 vote for each label.

        Parameters
        ----------
        bags : list of np.ndarray [shape=(n_instances_i, n_features)]

        Returns
        -------
        list of np.ndarray [shape=(n_instances_i, n_labels), dtype=int64]
        """
        bags = self._checked(bags)
        X = self.scaler_.transform(np.concatenate(bags))
        if self.kernel_X_ is not None:
            X = rbf_kernel(X, self.kernel_X_, gamma=self.gamma_)
        if self.multi_output_:
            votes = np.asarray(self.estimators_[0].predict(X), dtype=np.int64).reshape(len(X), self.n_labels_)
        else:
            votes = np.stack([np.asarray(m.predict(X), dtype=np.int64) for m in self.estimators_], axis=1)
        return np.split(votes, np.cumsum([b.shape[0] for b in bags])[:-1])

    def _proba(self, bags):
        return np.stack([v.mean(axis=0) for v in self.instance_votes(bags)])
