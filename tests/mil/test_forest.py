"""The compiled random-forest builder grows scikit-learn's own trees, bit for bit."""

import logging

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.ensemble import ExtraTreesClassifier, RandomForestClassifier
from sklearn.preprocessing import StandardScaler

from scorelens.mil import InstanceMajorityVote, SimpleMI
from scorelens.mil import _forest as forest
from scorelens.mil._forest import fit_binary_forests, supports


def awkward(rng, n=700, d=24, labels=3):
    """Features with ties, near-ties under scikit-learn's 1e-7 threshold, a constant and repeats."""
    X = rng.normal(size=(n, d)).astype(np.float32)
    X[:, 1] = np.round(X[:, 1] * 2)                      # few distinct values
    X[:, 2] = 3.0                                        # constant
    X[::5, 3] = X[0, 3] + np.float32(6e-8) * (np.arange(len(X[::5])) % 4)
    X[100:160] = X[0:60]                                 # repeated instances
    signal = X[:, 0] + 0.7 * X[:, 1] - 0.5 * X[:, 4]
    Y = np.stack([(signal + rng.normal(scale=1.0 + k, size=n) > k * 0.3).astype(np.int64)
                  for k in range(labels)], axis=1)
    return X, Y


def tree_arrays(model):
    out = []
    for t in model.estimators_:
        state = t.tree_.__getstate__()
        nodes = state["nodes"]
        inner = nodes["left_child"] != -1
        out.append((t.random_state, state["max_depth"], nodes["left_child"], nodes["right_child"], nodes["feature"],
                    nodes["threshold"], nodes["impurity"], nodes["n_node_samples"],
                    nodes["weighted_n_node_samples"], nodes["missing_go_to_left"][inner], state["values"]))
    return out


def assert_same_forest(a, b, X):
    assert a.get_params() == b.get_params()
    ta, tb = tree_arrays(a), tree_arrays(b)
    assert len(ta) == len(tb)
    for x, y in zip(ta, tb):
        for u, v in zip(x, y):
            assert np.array_equal(u, v)
    assert np.array_equal(a.predict_proba(X), b.predict_proba(X))
    assert np.array_equal(a.predict(X), b.predict(X))


@pytest.mark.parametrize("seed,max_features", [(0, "sqrt"), (5, "log2"), (11, 3), (2, 0.5), (7, None)])
def test_forests_equal_scikit_learns_tree_for_tree(seed, max_features):
    X, Y = awkward(np.random.default_rng(seed))
    template = RandomForestClassifier(n_estimators=8, random_state=seed, max_features=max_features)
    assert supports(template)
    ours = fit_binary_forests(template, X, Y)
    for k, model in enumerate(ours):
        assert_same_forest(model, clone(template).fit(X, Y[:, k]), X)


def test_study_shaped_instances(rng):
    # Standardised float64 input (converted to float32 as the forest converts it), ~1,000 instances.
    X = StandardScaler().fit_transform(rng.normal(size=(1000, 64)) * rng.uniform(0.1, 10, size=64))
    y = (X[:, :5].sum(axis=1) + rng.normal(size=1000) > 0.5).astype(np.int64)
    template = RandomForestClassifier(n_estimators=5, random_state=3)
    (ours,) = fit_binary_forests(template, X, y[:, None])
    assert_same_forest(ours, clone(template).fit(X, y), X)


@pytest.mark.parametrize("template", [RandomForestClassifier(n_estimators=3, random_state=1, max_depth=4),
                                      RandomForestClassifier(n_estimators=3, random_state=1, class_weight="balanced"),
                                      RandomForestClassifier(n_estimators=3, random_state=None),
                                      RandomForestClassifier(n_estimators=3, random_state=1, criterion="entropy"),
                                      ExtraTreesClassifier(n_estimators=3, random_state=1)])
def test_other_forests_are_left_to_scikit_learn(template, rng):
    assert not supports(template)
    X, Y = awkward(rng, n=200, d=6, labels=1)
    (ours,) = fit_binary_forests(template, X, Y)
    if template.random_state is not None:
        assert_same_forest(ours, clone(template).fit(X, Y[:, 0]), X)


def test_missing_values_go_to_scikit_learn(rng):
    X, Y = awkward(rng, n=200, d=6, labels=1)
    X[::9, 0] = np.nan
    template = RandomForestClassifier(n_estimators=3, random_state=4)
    (ours,) = fit_binary_forests(template, X, Y)
    assert_same_forest(ours, clone(template).fit(X, Y[:, 0]), X)


def test_a_builder_that_fails_its_self_check_hands_over_to_scikit_learn(rng, monkeypatch, caplog):
    def wrong(*args):
        grown = list(real(*args))
        grown[3] = grown[3] + 1.0                        # every threshold off
        return tuple(grown)

    real = forest._grow()
    monkeypatch.setattr(forest, "_GROW", wrong)
    monkeypatch.setattr(forest, "_VERIFIED", None)
    X, Y = awkward(rng, n=200, d=6, labels=2)
    template = RandomForestClassifier(n_estimators=3, random_state=4)
    with caplog.at_level(logging.WARNING, logger="scorelens.mil._forest"):
        ours = fit_binary_forests(template, X, Y)
    assert "fitted by scikit-learn itself" in caplog.text
    for k, model in enumerate(ours):
        assert_same_forest(model, clone(template).fit(X, Y[:, k]), X)


def test_instance_majority_vote_and_simple_mi_use_the_same_forests(rng):
    n_bags = 30
    Y = (rng.random((n_bags, 3)) < 0.4).astype(np.int64)
    Y[:, 2] = 1                                          # a genre every film has: a constant model
    bags = []
    for y in Y:
        bag = rng.normal(size=(int(rng.integers(3, 12)), 5))
        bag[: int(y[0]) * 2, 0] += 3.0
        bags.append(bag.astype(np.float32))
    rf = RandomForestClassifier(n_estimators=100, random_state=9)   # the base "rf" of both
    # The reference, by hand with scikit-learn alone: standardised instances labelled by
    # their bag, one forest per genre, a bag's share of yes votes.
    X = np.concatenate(bags)
    Yi = np.repeat(Y, [len(b) for b in bags], axis=0)
    Xs = StandardScaler().fit(X).transform(X)
    votes = np.stack([clone(rf).fit(Xs, Yi[:, k]).predict(Xs) for k in range(2)] + [np.ones(len(Xs))], axis=1)
    share = np.stack([v.mean(axis=0) for v in np.split(votes, np.cumsum([len(b) for b in bags])[:-1])])
    imv = InstanceMajorityVote(estimator="rf", random_state=9).fit(bags, Y)
    assert np.array_equal(imv.predict_proba(bags), share)
    means = StandardScaler().fit_transform(np.stack([b.mean(axis=0, dtype=np.float64) for b in bags]))
    proba = np.stack([clone(rf).fit(means, Y[:, k]).predict_proba(means)[:, 1] for k in range(2)]
                     + [np.ones(n_bags)], axis=1)
    assert np.array_equal(SimpleMI(estimator="rf", random_state=9).fit(bags, Y).predict_proba(bags), proba)


def test_wide_ranks_of_large_corpora_grow_the_same_trees(rng):
    # Above 65,536 instances the ranks are int32 rather than uint16; the same builder on int32
    # ranks of a small problem must give scikit-learn's trees too.
    X, Y = awkward(rng, n=300, d=8, labels=1)
    ranks = forest.rank_features(X)
    assert ranks.rank.dtype == np.uint16
    ranks.rank = ranks.rank.astype(np.int32)
    template = RandomForestClassifier(n_estimators=4, random_state=2)
    assert_same_forest(forest._fit_one(template, ranks, Y[:, 0]), clone(template).fit(X, Y[:, 0]), X)


def test_the_radix_sort_path_grows_the_same_trees(rng, monkeypatch):
    # Corpora of 2^21 instances or more sort large nodes by radix instead of scanning rank
    # buckets; the same trees either way.
    monkeypatch.setattr(forest, "RANK_BUCKETS", False)
    X, Y = awkward(rng, n=400, d=9, labels=1)
    template = RandomForestClassifier(n_estimators=5, random_state=4)
    assert_same_forest(forest._fit_one(template, forest.rank_features(X), Y[:, 0]), clone(template).fit(X, Y[:, 0]), X)
