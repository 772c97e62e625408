"""Instance majority voting (IMV): instances inherit their bag's labels, bags take a vote.

The study's "Instance majority voting" section: every cue is labelled with its film's
genres, a classifier is trained on all cues, and a film gets a genre when the majority
of its cues vote for it.

Multi-label strategy. The study decomposes the multi-label problem by binary relevance
for Simple MI and IMV alike ("Genre prediction model training procedure": independent
models for each genre), and so does every base here by default, the random forest
included: six binary forests. ``multi_output=True`` grows one multi-output forest for all
genres instead (scikit-learn's native multi-label forest: each split scores the genres'
summed impurity). It was about five times faster than scikit-learn's six binary forests
(IMV trains on every cue of the corpus, ~4,400 in the study's shape: about 24-29 s of CPU
per leave-one-out fold against 4.2 s for one multi-output forest); now that the binary
forests are grown by :mod:`scorelens.mil._forest` (about 4.8 s, the same forests) it saves
little. Either way a film's genre is the majority vote of its cues.

Why binary relevance is the default: the multi-output forest was the default until it
was compared with the study's form on the study-shaped synthetic corpus
(``benchmarks/bench_imv_rf.py``: 110 films, 5-fold cross-validation rather than
leave-one-out, to bound the cost; 3 corpus seeds x 2 feature kinds). Its Table 4 row was
lower in every one of the six comparisons: macro F1 by 0.001-0.014 (mean 0.009, on rows of
0.09-0.12), while refitting the multi-output forest with 4 forest seeds moved its F1 by an
SD of only 0.001-0.003; recall was lower in 5 of 6 (mean -0.005). Precision, which rests on
a handful of predicted genres, was too noisy to tell (forest-seed SD up to 0.08). So the
difference is small but not within noise, and the faster form is offered as an option,
not the default. (Film-level decisions agreed on 97-98.5 % of film-genre pairs; a paired
t-test of per-film F1 per seed did not separate them, p 0.3-0.9.)

Cost, and what was tried (leave-one-out, study-shaped corpus, CPU time per fold):

* Random forest, binary relevance (the default): six forests of 100 fully grown trees on
  ~2,800 distinct bootstrapped cues, about 28.7 s of CPU per fold when scikit-learn grows
  them and 4.8 s (6.0x less) when :mod:`scorelens.mil._forest` does (the same trees, node
  for node: the features ranked once per fold for the six genres, a compiled builder that
  replays scikit-learn's splitter; ``benchmarks/bench_imv_rf.py --speed 4``, 8 leave-one-out
  folds of both kinds on a shared 2-core AMD EPYC, probabilities and predictions identical
  on every fold). The sweep's 220 folds: about 9 min on 2 cores instead of 52. What remains is
  the splitter's own arithmetic: each node orders its samples by each of the ~11 features
  it tries (about 550,000 sample-feature visits per tree) and evaluates the Gini proxy at
  every distinct value. The multi-output forest: 4.2 s per fold with scikit-learn. Input
  is already float32 (what the trees use); the only cheaper forests are different forests
  (fewer trees, ``max_samples``, shallower or histogram trees), which the study gives no
  ground for, so none is offered. The forest's ``predict_proba`` and ``predict`` for a
  held-out film share one pass.
* RBF SVM, 1.55-1.65 s alone and 1.85-2.05 s with two folds side by side on a loaded
  machine (before: 1.9-2.1 s alone with one BLAS thread, 2.1-2.6 s in the threaded
  sweep): six libsvm fits (~1.45 s, thousands of SMO iterations with nearly every cue a
  support vector) on one shared kernel matrix. The matrix is computed once per fold in
  float64, as libsvm computes its own RBF kernel (``exp(-gamma ((|a|^2 + |b|^2) -
  2 a.b))``, one symmetric BLAS product, ~0.17 s), with ``gamma="scale"`` from the
  float64 variance as ``SVC`` computes it, and handed to the six SVCs without
  conversion. The earlier float32 matrix cost a float64 copy per genre and differed from
  ``SVC(kernel="rbf")`` by up to 8e-4 in decision values (one instance vote in ~16,000
  flipped on the study-shaped corpus); the float64 matrix agrees with it to 2e-9 (no
  flip), so IMV SVM's numbers can differ from the earlier code's in such rare votes,
  towards scikit-learn's own SVC. libsvm's ``cache_size`` (the whole Q matrix already
  fits in the default 200 MB) makes no difference; ``shrinking`` and ``tol`` would
  change the solution and are left at their defaults. The SVCs skip scikit-learn's
  finiteness scan of the kernel (``assume_finite``: the bags were checked finite and the
  kernel is built from them), about 0.06 s per fold.
* kNN, 0.03-0.08 s.
"""

from __future__ import annotations

import numpy as np
from sklearn import config_context, get_config
from sklearn.base import clone
from sklearn.ensemble import RandomForestClassifier
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from scorelens.mil._base import BagClassifier, fit_binary_columns, make_base_classifier

__all__ = ["InstanceMajorityVote"]

#: Above this many training instances the RBF SVM computes its kernel itself instead of
#: sharing one precomputed kernel matrix between the labels (n^2 doubles of memory).
SHARED_KERNEL_MAX_INSTANCES = 12_000


def _shared_rbf(template, n_instances: int) -> bool:
    return (type(template) is SVC and template.kernel == "rbf" and n_instances <= SHARED_KERNEL_MAX_INSTANCES)


def _svc_gamma(template: SVC, X: np.ndarray) -> float:
    """The ``gamma`` ``SVC.fit`` would use on ``X`` (float64), following its rules."""
    gamma = template.gamma
    if gamma == "scale":
        var = X.var()
        return float(1.0 / (X.shape[1] * var)) if var != 0 else 1.0
    if gamma == "auto":
        return 1.0 / X.shape[1]
    return float(gamma)


def rbf_gram(A: np.ndarray, B: np.ndarray | None, gamma: float) -> np.ndarray:
    """RBF kernel matrix in float64, by libsvm's expansion of the squared distance.

    Parameters
    ----------
    A : np.ndarray [shape=(n_a, n_features), dtype=float64]
    B : np.ndarray [shape=(n_b, n_features), dtype=float64] or None
        ``None`` for ``A`` against itself (one symmetric product, exactly symmetric).
    gamma : float

    Returns
    -------
    np.ndarray [shape=(n_a, n_b), dtype=float64]
        ``exp(-gamma * (|a_i|^2 + |b_j|^2 - 2 a_i . b_j))``, unclamped like libsvm's own
        kernel (a diagonal entry may exceed 1 by a rounding error).
    """
    sq_a = np.einsum("ij,ij->i", A, A)
    if B is None:
        K = A @ A.T                 # numpy hands A @ A.T to BLAS syrk: half the products
        sq_b = sq_a
    else:
        K = A @ B.T
        sq_b = np.einsum("ij,ij->i", B, B)
    # libsvm's association, (|a|^2 + |b|^2) - 2 a.b, which keeps A against itself exactly
    # symmetric; by blocks of rows so that the sums need no second n_a x n_b matrix.
    step = max(1, (1 << 20) // max(1, K.shape[1]))
    for start in range(0, K.shape[0], step):
        block = K[start:start + step]
        block *= -2.0
        block += sq_a[start:start + step, None] + sq_b[None, :]
        block *= -gamma
        np.exp(block, out=block)
    return K


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
    multi_output : bool, default=False
        A random-forest base grows one binary forest per label, the study's binary
        relevance; ``True`` grows one multi-output forest for all labels instead (a little
        less CPU time, and a slightly lower F1 on the study-shaped corpus; see
        the module docstring). Other bases always use binary relevance.

    Attributes
    ----------
    scaler_ : StandardScaler
        Fitted on the training instances only.
    estimators_ : list [length n_labels, or 1 for a multi-output forest]
    multi_output_ : bool
        Whether ``estimators_`` holds one multi-output model for all labels.
    kernel_X_ : np.ndarray [shape=(n_instances, n_features), dtype=float64] or None
        RBF SVM: the standardised training instances the shared kernel is computed
        against (``None`` when the SVMs compute their own kernels).
    gamma_ : float
        RBF SVM with a shared kernel: its ``gamma``.
    n_features_in_ : int
    n_labels_ : int
    """

    def __init__(self, estimator="svm", random_state=None, multi_output=False):
        self.estimator = estimator
        self.random_state = random_state
        self.multi_output = multi_output

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
            # them all (scikit-learn would recompute it per label). Float64, as SVC itself
            # converts its input and computes its kernel.
            X64 = Xs.astype(np.float64)
            self.kernel_X_, self.gamma_ = X64, _svc_gamma(template, X64)
            template = clone(template).set_params(kernel="precomputed")
            Xs = rbf_gram(X64, None, self.gamma_)
        self.multi_output_ = bool(self.multi_output) and isinstance(template, RandomForestClassifier)
        if self.multi_output_:
            self.estimators_ = [clone(template).fit(Xs, Yi if Yi.shape[1] > 1 else Yi[:, 0])]
        else:
            # A kernel computed here from validated (finite) bags is finite: each SVC need not
            # scan its n^2 entries again.
            with config_context(assume_finite=self.kernel_X_ is not None or get_config()["assume_finite"]):
                self.estimators_ = fit_binary_columns(template, Xs, Yi)

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
            X = rbf_gram(X.astype(np.float64), self.kernel_X_, self.gamma_)
        if self.multi_output_:
            votes = np.asarray(self.estimators_[0].predict(X), dtype=np.int64).reshape(len(X), self.n_labels_)
        else:
            votes = np.stack([np.asarray(m.predict(X), dtype=np.int64) for m in self.estimators_], axis=1)
        return np.split(votes, np.cumsum([b.shape[0] for b in bags])[:-1])

    def _proba(self, bags):
        return np.stack([v.mean(axis=0) for v in self.instance_votes(bags)])

    def proba_and_predict(self, bags):
        # One vote of the instances serves both: the prediction thresholds the vote share.
        proba = self._proba(self._checked(bags))
        return self._shape(proba), self._shape((proba >= self.threshold).astype(np.int64))
