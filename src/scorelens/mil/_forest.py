"""scikit-learn's random forest, grown faster: the same trees, bit for bit.

Instance majority voting with a random forest fits six binary forests of 100 trees per
leave-one-out fold on every cue of the corpus (the study's binary relevance): 66,000
trees per feature kind, ~40 ms each in scikit-learn, nearly all of it sorting each node's
samples by each feature it tries (introsort of (value, sample) pairs) and updating the
Gini counts sample by sample.

:func:`fit_binary_forests` grows the same trees with less repeated work:

* **the sorting done once per fold, not per node**: every feature is ranked once for all
  600 trees of a fold (the six genres' forests share the instances). A node of more than
  :data:`SMALL_NODE` samples then adds each sample (one sample, its bootstrap count, that
  count again if it is of class 1, packed in one integer) to a bucket per rank, marks the
  rank in a bitmap, and walks the marked ranks in order (one ``cttz`` per rank); a small
  node sorts integer keys (rank, count and class in one word) by insertion. No introsort
  of (float value, sample) pairs. (Corpora of 2^21 instances or more, whose bitmaps would
  be long, sort with a two-pass radix sort on the rank instead.);
* **counts per distinct value**: the Gini counts of a binary label advance by distinct
  feature value, with the split test of scikit-learn (a value must exceed the previous
  one by more than its ``FEATURE_THRESHOLD`` in float32); a candidate split that is
  clearly worse than the node's best so far is passed over by an exact integer test
  (``l1^2 wr + r1^2 wl`` against the best's bound) before any division;
* **the partition by rank**: the samples go left where their rank is at most the split's
  (the threshold lies strictly between two neighbouring ranks' values), reading the
  cached ranks instead of a column of the sample matrix;
* **no Python per node**: the tree builder is compiled (numba, which librosa already
  brings), and the forest object around it is scikit-learn's own.

What makes the trees identical rather than similar: the builder replays scikit-learn's
depth-first builder and best splitter step by step (``sklearn/tree/_tree.pyx``,
``_splitter.pyx``, ``_criterion.pyx``): the same xorshift random numbers
(``our_rand_r``) drawn in the same order, the same Fisher-Yates draw of candidate
features with its bookkeeping of constant features across nodes, the same Gini proxy
with the same floating-point operations in the same order, the same first-best rule
(a strictly larger proxy wins), the same thresholds (half of each neighbour's float32
value, summed in float64). The bootstrap weights are integer counts, so every class
count is an exact integer in float64 whatever the order of summation; the order of
samples inside a node (which differs from scikit-learn's introsort) changes nothing.
The forest, its trees' seeds and bootstraps come from scikit-learn itself.

The equality is checked, not assumed: the first call in a process grows a few trees
both ways on a small problem with ties, near-ties and a constant feature, and compares
every node; if any differs (another scikit-learn version changed its splitter), every
forest is fitted by scikit-learn instead, with a warning. ``tests/mil/test_forest.py``
compares whole forests on the study's shapes.

Only the study's forest is grown here: :class:`~sklearn.ensemble.RandomForestClassifier`
with the Gini criterion, bootstrap, no depth or leaf limits, no class or sample weights,
a binary label and finite features (``supports``); anything else goes to scikit-learn.
"""

from __future__ import annotations

import logging

import numpy as np
from sklearn.base import clone
from sklearn.ensemble import RandomForestClassifier

log = logging.getLogger(__name__)

__all__ = ["supports", "fit_binary_forests", "FeatureRanks", "rank_features"]

_RAND_R_MAX = 0x7FFFFFFF            # scikit-learn's RAND_R_MAX
_FEATURE_THRESHOLD = np.float32(1e-7)
_LEAF = -1

#: False has scikit-learn fit every forest (benchmarks compare the two this way).
ENABLED = True

#: Nodes of at most this many samples sort their keys by insertion, larger ones go through
#: the rank buckets (measured on the study-shaped corpus: 16-48 within noise for the radix
#: sort that preceded the buckets; walking a feature's presorted order over all instances
#: instead, for nodes holding a quarter of them or more, was 10-20 % slower than the radix
#: sort; the buckets grow the study's forests about 1.2x faster than the radix sort, with
#: the cheaper pre-test and the partition by rank).
SMALL_NODE = 32

#: False has every node of more than SMALL_NODE samples radix-sorted instead of scanned
#: through rank buckets (what corpora of 2^21 instances or more do; the tests check both).
RANK_BUCKETS = True


def supports(template) -> bool:
    """Whether :func:`fit_binary_forests` grows ``template``'s forest itself.

    Parameters
    ----------
    template : estimator

    Returns
    -------
    bool
        True for a :class:`~sklearn.ensemble.RandomForestClassifier` (exactly that class)
        with the Gini criterion, bootstrap without ``max_samples``, fully grown trees
        (no depth, leaf-count, impurity-decrease or pruning limits, one sample per leaf),
        no class weights, monotonic constraints or out-of-bag score, and an integer seed.
    """
    if type(template) is not RandomForestClassifier:
        return False
    p = template.get_params()
    return (p["criterion"] == "gini" and p["bootstrap"] is True and p["max_samples"] is None
            and p["max_depth"] is None and p["max_leaf_nodes"] is None and p["min_samples_leaf"] == 1
            and p["min_samples_split"] == 2 and p["min_weight_fraction_leaf"] == 0.0
            and p["min_impurity_decrease"] == 0.0 and p["ccp_alpha"] == 0.0 and p["class_weight"] is None
            and p["monotonic_cst"] is None and not p["oob_score"] and not p["warm_start"]
            and isinstance(p["random_state"], (int, np.integer)) and not isinstance(p["random_state"], bool)
            and (p["max_features"] in ("sqrt", "log2", None)
                 or isinstance(p["max_features"], (int, np.integer, float))))


class FeatureRanks:
    """Every feature of a sample matrix sorted once, shared by all the trees grown on it.

    Attributes
    ----------
    X : np.ndarray [shape=(n_samples, n_features), dtype=float32]
    rank : np.ndarray [shape=(n_features, n_samples), dtype=uint16 or int32]
        Each sample's dense rank among the feature's distinct values.
    value : np.ndarray [shape=(n_features, n_samples), dtype=float32]
        The feature's distinct values by rank (padded with the largest).
    """

    def __init__(self, X: np.ndarray):
        X = np.ascontiguousarray(X, dtype=np.float32)
        n, d = X.shape
        order = np.argsort(X, axis=0, kind="stable").T.astype(np.int32)     # (d, n)
        sorted_values = np.take_along_axis(X.T, order, axis=1)                 # (d, n)
        new = np.ones((d, n), dtype=bool)
        new[:, 1:] = sorted_values[:, 1:] != sorted_values[:, :-1]
        dense = np.cumsum(new, axis=1) - 1                                      # rank along the sorted order
        rank = np.empty((d, n), dtype=np.int64)
        np.put_along_axis(rank, order.astype(np.int64), dense, axis=1)
        value = np.empty((d, n), dtype=np.float32)
        for f in range(d):
            distinct = sorted_values[f, new[f]]
            value[f, :len(distinct)] = distinct
            value[f, len(distinct):] = distinct[-1]
        # The narrowest integers that hold the indices: the builder's random reads of ranks
        # stay in cache (uint16 ranks grew the study's trees 27 % faster than int64).
        self.X, self.value = X, value
        self.rank = rank.astype(np.uint16 if n <= 1 << 16 else np.int32)
        # Features whose neighbouring distinct values are all more than the split threshold
        # apart need no value comparison when scanning a node.
        gaps = value[:, 1:] > value[:, :-1] + _FEATURE_THRESHOLD
        n_distinct = new.sum(axis=1)
        self.apart = np.array([gaps[f, :n_distinct[f] - 1].all() for f in range(d)], dtype=np.uint8)
        # Radix digits for the ranks: as few passes of at most 8 bits as cover the largest.
        bits = max(1, int(rank.max()).bit_length()) if rank.size else 1
        self.passes = -(-bits // 8)
        self.digit = -(-bits // self.passes)


def rank_features(X: np.ndarray) -> FeatureRanks:
    """:class:`FeatureRanks` of ``X`` (converted to float32, as the forest converts it).

    Parameters
    ----------
    X : np.ndarray [shape=(n_samples, n_features)]

    Returns
    -------
    FeatureRanks
    """
    return FeatureRanks(X)


_GROW = None


def _grow():
    global _GROW
    if _GROW is None:
        from scorelens.mil._forest_kernels import grow

        _GROW = grow
    return _GROW


def _tree_state(nodes_dtype, grown) -> dict:
    left, right, feature, threshold, impurity, n_node, w_node, miss_left, val, max_depth = grown
    nodes = np.zeros(len(left), dtype=nodes_dtype)
    nodes["left_child"], nodes["right_child"], nodes["feature"] = left, right, feature
    nodes["threshold"], nodes["impurity"], nodes["n_node_samples"] = threshold, impurity, n_node
    nodes["weighted_n_node_samples"] = w_node
    if "missing_go_to_left" in nodes.dtype.names:
        nodes["missing_go_to_left"] = miss_left
    return {"max_depth": int(max_depth), "node_count": len(left), "nodes": nodes,
            "values": np.ascontiguousarray(val.reshape(len(left), 1, 2))}


def _fit_one(template, ranks: FeatureRanks, y: np.ndarray):
    """One forest grown by the compiled builder, in scikit-learn's own forest object."""
    import copy

    from sklearn.tree._tree import Tree

    X = ranks.X
    n, d = X.shape
    classes, y_enc = np.unique(y, return_inverse=True)
    # scikit-learn fits a forest of one tree around a root that may not split
    # (min_samples_split above n): the forest's and the tree's attributes are its own. The
    # trees' seeds are the forest generator's first draws, as its fit draws them.
    n_trees, split = template.n_estimators, template.min_samples_split
    forest = clone(template).set_params(n_estimators=1, min_samples_split=n + 1)
    forest.fit(X, y)
    forest.set_params(n_estimators=n_trees, min_samples_split=split)
    shell = forest.estimators_[0]
    shell.set_params(min_samples_split=split)
    nodes_dtype = shell.tree_.__getstate__()["nodes"].dtype
    seeds = np.random.RandomState(template.random_state)
    y8 = y_enc.astype(np.int8)
    n_boot = forest._n_samples_bootstrap
    grow = _grow()
    # The builder's sort buffers, shared by the forest's trees (32-bit keys measured no faster).
    keys = (np.empty(n, np.int64), np.empty(n, np.int64))
    n_ranks = (int(ranks.rank.max()) + 1 if ranks.rank.size else 1) if RANK_BUCKETS else 0
    bucket = np.zeros(n_ranks, np.int64)                    # left all zero by every scan
    bitmap = np.zeros(-(-n_ranks // 64), np.uint64)
    draw = np.random.RandomState(0)                         # reseeded for every tree
    trees = []
    for _ in range(n_trees):
        tree = copy.copy(shell)
        tree.random_state = seeds.randint(np.iinfo(np.int32).max)
        # scikit-learn draws the bootstrap and the splitter's seed from two fresh
        # RandomState(seed); reseeding one generator gives the same streams without the
        # ~90 us a new RandomState spends on OS entropy it then discards.
        draw.seed(tree.random_state)
        w = np.bincount(draw.randint(0, n, n_boot), minlength=n).astype(np.float64)
        draw.seed(tree.random_state)
        splitter_seed = draw.randint(0, _RAND_R_MAX)
        grown = grow(X, ranks.rank, ranks.value, ranks.apart, y8, w, int(shell.max_features_), int(splitter_seed),
                     SMALL_NODE, ranks.digit, ranks.passes, keys[0], keys[1], bucket, bitmap)
        tree.tree_ = Tree(d, np.array([len(classes)], dtype=np.intp), 1)
        tree.tree_.__setstate__(_tree_state(nodes_dtype, grown))
        trees.append(tree)
    forest.estimators_ = trees
    return forest


def _same_trees(a, b) -> bool:
    for ta, tb in zip(a.estimators_, b.estimators_):
        if ta.get_params() != tb.get_params():
            return False
        sa, sb = ta.tree_.__getstate__(), tb.tree_.__getstate__()
        if sa["node_count"] != sb["node_count"] or sa["max_depth"] != sb["max_depth"]:
            return False
        na, nb = sa["nodes"], sb["nodes"]
        for name in na.dtype.names:
            if name == "missing_go_to_left":      # left unset on leaves by scikit-learn
                inner = na["left_child"] != _LEAF
                if not np.array_equal(na[name][inner], nb[name][inner]):
                    return False
            elif not np.array_equal(na[name], nb[name]):
                return False
        if not np.array_equal(sa["values"], sb["values"]):
            return False
    return len(a.estimators_) == len(b.estimators_) and a.get_params() == b.get_params()


_VERIFIED: bool | None = None


def _verified() -> bool:
    """Grow a few trees both ways on a small awkward problem and compare every node (once per process)."""
    global _VERIFIED
    if _VERIFIED is None:
        try:
            rng = np.random.default_rng(12345)
            X = rng.normal(size=(300, 13)).astype(np.float32)
            X[:, 3] = np.round(X[:, 3])                          # ties
            X[:, 5] = 2.0                                        # a constant feature
            X[::7, 8] = X[0, 8] + np.float32(5e-8) * (np.arange(len(X[::7])) % 3)   # near-ties below 1e-7
            X[20:40] = X[0:20]                                   # repeated instances
            y = (X[:, 0] + 0.5 * X[:, 3] + rng.normal(scale=1.0, size=300) > 0).astype(np.int64)
            template = RandomForestClassifier(n_estimators=4, random_state=7)
            _VERIFIED = _same_trees(_fit_one(template, rank_features(X), y), clone(template).fit(X, y))
        except Exception as exc:   # noqa: BLE001 - any failure means: use scikit-learn
            log.warning("the compiled random-forest builder failed its self-check (%s)", exc)
            _VERIFIED = False
        if not _VERIFIED:
            log.warning("random forests are fitted by scikit-learn itself: the compiled builder does not "
                        "reproduce this scikit-learn version's trees")
    return _VERIFIED


def fit_binary_forests(template, X: np.ndarray, Y: np.ndarray) -> list:
    """One fitted clone of ``template`` per column of ``Y``, as ``clone(template).fit(X, Y[:, k])`` gives.

    The features are ranked once for all columns and the trees grown by the compiled
    builder where :func:`supports` allows it (and the process's self-check passed);
    otherwise scikit-learn fits each forest. Either way the forests are the same.

    Parameters
    ----------
    template : scikit-learn classifier
        A random forest (other classifiers are fitted by scikit-learn).
    X : np.ndarray [shape=(n_samples, n_features)]
    Y : np.ndarray [shape=(n_samples, n_labels)]
        Every column holds two classes (a one-class column is the caller's to handle).

    Returns
    -------
    list of fitted classifiers [length n_labels]
    """
    X = np.asarray(X)
    Y = np.asarray(Y)
    fast = (ENABLED and supports(template) and X.ndim == 2 and X.shape[0] > 1 and np.isfinite(X).all()
            and all(np.unique(Y[:, k]).size == 2 for k in range(Y.shape[1])) and _verified())
    if not fast:
        return [clone(template).fit(X, Y[:, k]) for k in range(Y.shape[1])]
    ranks = rank_features(X)
    return [_fit_one(template, ranks, Y[:, k]) for k in range(Y.shape[1])]
