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


@pytest.mark.parametrize("make", [
    lambda: SimpleMI("knn"), lambda: SimpleMI("svm"), lambda: SimpleMI("rf", random_state=0),
    lambda: InstanceMajorityVote("knn"), lambda: InstanceMajorityVote("svm"),
    lambda: InstanceMajorityVote("rf", random_state=0, multi_output=True),
    lambda: InstanceMajorityVote("rf", random_state=0),
], ids=["smi-knn", "smi-svm", "smi-rf", "imv-knn", "imv-svm", "imv-rf-multi", "imv-rf"])
def test_one_class_label_column(rng, planted, make):
    # A fold may lack every positive of a rare genre (or, in a small corpus, every
    # negative): each model must fit, give that genre its one class with certainty, and
    # learn the other genres exactly as it does without the one-class columns.
    bags, Y = planted.shift(rng, 20, n_labels=3, shift=2.0)
    Y[:, 1] = 0
    Y[:, 2] = 1
    clf = make().fit(bags, Y)
    P, proba = clf.predict(bags), clf.predict_proba(bags)
    assert (P[:, 1] == 0).all() and (P[:, 2] == 1).all()
    assert (proba[:, 1] == 0).all() and (proba[:, 2] == 1).all()
    alone = make().fit(bags, Y[:, [0]])
    np.testing.assert_array_equal(P[:, [0]], alone.predict(bags).reshape(-1, 1))
    np.testing.assert_allclose(proba[:, [0]], alone.predict_proba(bags).reshape(-1, 1))
    assert (P[:, 0] == Y[:, 0]).mean() >= 0.8          # and the informative genre is learned


def test_imv_svm_shared_kernel_matches_per_label_kernels(rng, planted, monkeypatch):
    from scorelens.mil import _voting as voting

    bags, Y = planted.shift(rng, 40)
    test_bags, _ = planted.shift(rng, 20)
    shared = InstanceMajorityVote("svm").fit(bags, Y)
    assert shared.kernel_X_ is not None
    monkeypatch.setattr(voting, "SHARED_KERNEL_MAX_INSTANCES", 0)
    plain = InstanceMajorityVote("svm").fit(bags, Y)
    assert plain.kernel_X_ is None
    np.testing.assert_array_equal(shared.predict(test_bags), plain.predict(test_bags))
    np.testing.assert_allclose(shared.predict_proba(test_bags), plain.predict_proba(test_bags))


@pytest.mark.parametrize("make", [
    lambda: SimpleMI("knn"), lambda: SimpleMI("svm"), lambda: SimpleMI("rf", random_state=0),
    lambda: SimpleMI(LogisticRegression()),
    lambda: InstanceMajorityVote("knn"), lambda: InstanceMajorityVote("svm"),
    lambda: InstanceMajorityVote("rf", random_state=0, multi_output=True),
    lambda: InstanceMajorityVote("rf", random_state=0),
    lambda: PluralityLabel(),
], ids=["smi-knn", "smi-svm", "smi-rf", "smi-logreg", "imv-knn", "imv-svm", "imv-rf-multi", "imv-rf", "plurality"])
@pytest.mark.parametrize("one_d", [False, True], ids=["matrix", "1d"])
def test_proba_and_predict_equal_the_public_methods(make, one_d, rng, planted):
    # Cross-validation takes both arrays from one pass; they must be those of the two public calls.
    bags, Y = planted.shift(rng, 40, shift=0.8)
    test_bags, _ = planted.shift(rng, 25, shift=0.8)
    y = Y[:, 0] if one_d else Y
    clf = make().fit(bags, y)
    proba, pred = clf.proba_and_predict(test_bags)
    np.testing.assert_array_equal(proba, clf.predict_proba(test_bags))
    np.testing.assert_array_equal(pred, clf.predict(test_bags))
    assert proba.shape == pred.shape == ((25,) if one_d else (25, 3)) and pred.dtype == np.int64


def test_binary_proba_and_predict_matches_sklearn(rng):
    from sklearn.ensemble import ExtraTreesClassifier, RandomForestClassifier
    from sklearn.svm import SVC

    from scorelens.mil._base import binary_proba, binary_proba_and_predict, fit_binary

    X = rng.normal(size=(120, 4))
    y = (X[:, 0] + 0.8 * rng.normal(size=120) > 0).astype(int)
    T = rng.normal(size=(300, 4))
    for template in (RandomForestClassifier(n_estimators=7, random_state=0),   # odd: vote shares of 0.5 impossible
                     RandomForestClassifier(n_estimators=8, random_state=0),   # even: ties go to class 0
                     ExtraTreesClassifier(n_estimators=8, random_state=0), SVC()):
        model = fit_binary(template, X, y)
        p, pred = binary_proba_and_predict(model, T)
        np.testing.assert_array_equal(p, binary_proba(model, T))
        np.testing.assert_array_equal(pred, model.predict(T))
    constant = fit_binary(RandomForestClassifier(n_estimators=3), X, np.ones(120, int))
    p, pred = binary_proba_and_predict(constant, T)
    assert (p == 1).all() and (pred == 1).all()


def test_imv_svm_shared_kernel_is_svc_rbf(rng, planted):
    # The shared float64 kernel reproduces what SVC(kernel="rbf") computes for itself:
    # the same gamma and the same decision values (to solver rounding), label by label.
    from sklearn.svm import SVC

    from scorelens.mil._voting import rbf_gram

    bags, Y = planted.shift(rng, 40)
    test_bags, _ = planted.shift(rng, 20)
    clf = InstanceMajorityVote("svm").fit(bags, Y)
    Xs = clf.scaler_.transform(np.concatenate(bags))
    Ts = clf.scaler_.transform(np.concatenate(test_bags)).astype(np.float64)
    K = rbf_gram(Ts, clf.kernel_X_, clf.gamma_)
    Yi = np.repeat(Y, [len(b) for b in bags], axis=0)
    for k, shared in enumerate(clf.estimators_):
        plain = SVC().fit(Xs, Yi[:, k])
        assert clf.gamma_ == plain._gamma
        np.testing.assert_allclose(shared.decision_function(K), plain.decision_function(Ts), rtol=0, atol=1e-8)


def test_rbf_gram_is_the_rbf_kernel(rng):
    from sklearn.metrics.pairwise import rbf_kernel

    from scorelens.mil._voting import rbf_gram

    A, B = rng.normal(size=(50, 6)), rng.normal(size=(7, 6))
    K = rbf_gram(A, None, 0.3)
    assert K.dtype == np.float64 and np.array_equal(K, K.T)
    np.testing.assert_allclose(K, rbf_kernel(A, gamma=0.3), rtol=0, atol=1e-12)
    np.testing.assert_allclose(rbf_gram(B, A, 0.3), rbf_kernel(B, A, gamma=0.3), rtol=0, atol=1e-12)


def test_imv_forest_multi_output_or_binary_relevance(rng, planted):
    from sklearn.ensemble import RandomForestClassifier

    bags, Y = planted.shift(rng, 30, shift=1.5)
    test_bags, _ = planted.shift(rng, 10, shift=1.5)
    assert InstanceMajorityVote("rf").multi_output is False       # the study's binary relevance by default
    joint = InstanceMajorityVote("rf", random_state=3, multi_output=True).fit(bags, Y)
    assert joint.multi_output_ and len(joint.estimators_) == 1 and joint.estimators_[0].n_outputs_ == 3
    binary = InstanceMajorityVote("rf", random_state=3, multi_output=False).fit(bags, Y)
    assert not binary.multi_output_ and len(binary.estimators_) == 3
    # Binary relevance: label k's forest is the forest a user would grow on the cues and column k.
    Xs = binary.scaler_.transform(np.concatenate(bags))
    Yi = np.repeat(Y, [len(b) for b in bags], axis=0)
    T = binary.scaler_.transform(np.concatenate(test_bags))
    votes = np.concatenate(binary.instance_votes(test_bags))
    for k in range(3):
        own = RandomForestClassifier(n_estimators=100, random_state=3).fit(Xs, Yi[:, k])
        np.testing.assert_array_equal(votes[:, k], own.predict(T))
    assert InstanceMajorityVote("knn", multi_output=True).fit(bags, Y).multi_output_ is False


def test_estimator_objects_take_the_wrappers_seed_unless_they_have_their_own(rng, planted):
    from sklearn.ensemble import RandomForestClassifier

    bags, Y = planted.shift(rng, 40, shift=0.8)
    make = lambda s, inner=None: SimpleMI(RandomForestClassifier(n_estimators=5, random_state=inner), random_state=s)
    a, b, c = (make(s).fit(bags, Y).predict_proba(bags) for s in (1, 1, 2))
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    # A seed the user gave the base classifier is kept: the wrapper's seed no longer matters.
    d, e = (make(s, inner=7).fit(bags, Y).predict_proba(bags) for s in (1, 2))
    assert np.array_equal(d, e)
    assert make(1, inner=None).get_params()["estimator"].random_state is None   # the given object is untouched
