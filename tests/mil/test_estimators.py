import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score

from scorelens.mil import InstanceMajorityVote, MILClassifier, PluralityLabel, RandomGuess, SimpleMI


def macro_f1(Y, P):
    return f1_score(Y, P, average="macro", zero_division=0)


def baseline_f1(bags, Y, test_bags, Y_test):
    rand = np.mean([macro_f1(Y_test, RandomGuess(random_state=s).fit(bags, Y).predict(test_bags))
                    for s in range(5)])
    plural = macro_f1(Y_test, PluralityLabel().fit(bags, Y).predict(test_bags))
    return max(rand, plural)


@pytest.mark.parametrize("make", [
    lambda: SimpleMI("knn"), lambda: SimpleMI("svm"), lambda: SimpleMI("rf", random_state=0),
    lambda: SimpleMI(LogisticRegression()),
    lambda: InstanceMajorityVote("knn"), lambda: InstanceMajorityVote("svm"),
    lambda: MILClassifier("average", hidden=16, epochs=25, learning_rate=1e-2, random_state=0),
    lambda: MILClassifier("feature_attention", hidden=16, epochs=25, learning_rate=1e-2, random_state=0),
], ids=["smi-knn", "smi-svm", "smi-rf", "smi-logreg", "imv-knn", "imv-svm", "net-average", "net-fl-attn"])
def test_mean_structure_is_learned(make, rng, planted):
    bags, Y = planted.shift(rng, 80, shift=1.2)
    test_bags, Y_test = planted.shift(rng, 60, shift=1.2)
    base = baseline_f1(bags, Y, test_bags, Y_test)
    score = macro_f1(Y_test, make().fit(bags, Y).predict(test_bags))
    assert score > base + 0.25, (score, base)


@pytest.mark.parametrize("pooling", ["max", "linear_softmax", "attention", "multi_attention"])
def test_witness_structure_is_learned(pooling, rng, planted):
    bags, Y = planted.witness(rng, 80)
    test_bags, Y_test = planted.witness(rng, 60)
    clf = MILClassifier(pooling, hidden=16, epochs=25, learning_rate=1e-2, random_state=0).fit(bags, Y)
    score = macro_f1(Y_test, clf.predict(test_bags))
    assert score > baseline_f1(bags, Y, test_bags, Y_test) + 0.3, score
    assert clf.loss_curve_.shape == (25,) and clf.loss_curve_[-1] < clf.loss_curve_[0]


def test_attention_points_at_the_witness(rng, planted):
    bags, Y = planted.witness(rng, 80, n_labels=2, p=0.5)
    clf = MILClassifier("attention", hidden=16, epochs=30, learning_rate=1e-2, random_state=0).fit(bags, Y)
    bag = np.concatenate([rng.normal(size=(9, 8)), np.eye(8)[[0]] * 4.0]).astype(np.float32)   # witness of label 0 last
    w = clf.instance_weights([bag])[0]
    assert w.shape == (10, 2)
    np.testing.assert_allclose(w.sum(axis=0), 1.0, atol=1e-5)
    assert int(np.argmax(w[:, 0])) == 9


def test_one_d_labels_and_single_instance_bags(rng):
    X = rng.normal(size=(60, 3)).astype(np.float32)
    y = (X[:, 0] > 0).astype(int)
    for clf in (SimpleMI("knn"), InstanceMajorityVote("knn"),
                MILClassifier("max", hidden=8, epochs=20, learning_rate=1e-2, random_state=0)):
        clf.fit(X, y)                       # a plain matrix: 60 bags of one instance
        assert clf.predict_proba(X).shape == (60,) and clf.predict(X).shape == (60,)
        assert clf.score(X, y) > 0.8
        assert clf.predict([X[:1]]).shape == (1,)


def test_same_seed_same_numbers(rng, planted):
    bags, Y = planted.witness(rng, 30)
    make = lambda s: MILClassifier("multi_attention", hidden=8, epochs=5, learning_rate=1e-2, random_state=s)
    a, b, c = (make(s).fit(bags, Y).predict_proba(bags) for s in (3, 3, 4))
    assert np.array_equal(a, b)
    assert not np.allclose(a, c)


def test_sklearn_conventions(rng, planted):
    clf = MILClassifier("attention", hidden=8, epochs=2, random_state=0)
    assert clone(clf).get_params() == clf.get_params()
    assert clf.set_params(hidden=4).hidden == 4
    assert not hasattr(clf, "network_")
    with pytest.raises(NotFittedError):
        clf.predict([np.zeros((2, 3))])
    bags, Y = planted.witness(rng, 20)
    assert clf.fit(bags, Y) is clf
    assert clf.n_features_in_ == 8 and clf.n_labels_ == 3


def test_baselines(rng):
    bags = [np.zeros((1, 1))] * 6
    Y = np.array([[1, 0], [1, 0], [0, 1], [1, 1], [1, 0], [0, 0]])
    np.testing.assert_array_equal(PluralityLabel().fit(bags, Y).predict(bags[:2]), [[1, 0], [1, 0]])
    rg = RandomGuess(random_state=0).fit(bags, Y)
    np.testing.assert_allclose(rg.predict_proba(bags[:1]), [[4 / 6, 2 / 6]])
    draws = RandomGuess(random_state=0).fit(bags, Y).predict(bags * 500)
    np.testing.assert_allclose(draws.mean(axis=0), [4 / 6, 2 / 6], atol=0.03)
    assert np.array_equal(draws, RandomGuess(random_state=0).fit(bags, Y).predict(bags * 500))


def test_one_class_label_column(rng, planted):
    # A fold may lack every positive of a rare genre: the base classifiers must cope.
    bags, Y = planted.shift(rng, 20)
    Y[:, 1] = 0
    for clf in (SimpleMI("svm"), InstanceMajorityVote("rf", random_state=0)):
        P = clf.fit(bags, Y).predict(bags)
        assert (P[:, 1] == 0).all()


def test_imv_svm_shared_kernel_matches_per_label_kernels(rng, planted, monkeypatch):
    from scorelens.mil import voting

    bags, Y = planted.shift(rng, 40)
    test_bags, _ = planted.shift(rng, 20)
    shared = InstanceMajorityVote("svm").fit(bags, Y)
    assert shared.kernel_X_ is not None
    monkeypatch.setattr(voting, "SHARED_KERNEL_MAX_INSTANCES", 0)
    plain = InstanceMajorityVote("svm").fit(bags, Y)
    assert plain.kernel_X_ is None
    np.testing.assert_array_equal(shared.predict(test_bags), plain.predict(test_bags))
    np.testing.assert_allclose(shared.predict_proba(test_bags), plain.predict_proba(test_bags))
