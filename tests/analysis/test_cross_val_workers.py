"""cross_val_estimator in worker processes: the same numbers as in one process, and no leakage."""

import numpy as np
import pytest
from sklearn.ensemble import RandomForestClassifier
from sklearn.neighbors import KNeighborsClassifier

from scorelens.analysis._evaluation import cross_val_estimator, make_folds
from scorelens.analysis._metrics import genre_scores
from scorelens.config import ModelConfig
from scorelens.exceptions import ParameterError
from scorelens.mil import InstanceMajorityVote, SimpleMI


def shifted_bags(rng, n=18, d=5):
    Y = (rng.random((n, 3)) < 0.4).astype(np.int64)
    Y[Y.sum(axis=1) == 0, 0] = 1
    bags = []
    for y in Y:
        b = rng.normal(size=(int(rng.integers(2, 9)), d)).astype(np.float32)
        b[:, :3] += 1.2 * y
        bags.append(b)
    return bags, Y


@pytest.fixture
def rng():
    return np.random.default_rng(11)


@pytest.mark.parametrize("make", [lambda: SimpleMI(RandomForestClassifier(20, random_state=0)), lambda: SimpleMI("svm"),
                                  lambda: InstanceMajorityVote("svm"), lambda: InstanceMajorityVote("rf")],
                         ids=["smi-rf", "smi-svm", "imv-svm", "imv-rf"])
def test_workers_do_not_change_the_numbers(make, rng):
    # Six folds, not leave-one-out, and Simple MI's forests of 20 trees: threads run the
    # forests' GIL-bound Python code slowly.
    bags, Y = shifted_bags(rng)
    folds = make_folds(len(bags), ModelConfig(cv="kfold:6", seed=2))
    serial = cross_val_estimator(make(), bags, Y, folds, seed=5)
    processes = cross_val_estimator(make(), bags, Y, folds, seed=5, n_jobs=2)
    threads = cross_val_estimator(make(), bags, Y, folds, seed=5, n_jobs=2, prefer="threads")
    for other in (processes, threads):
        np.testing.assert_array_equal(other[0], serial[0])
        np.testing.assert_array_equal(other[1], serial[1])
    assert serial[0].shape == serial[1].shape == Y.shape and serial[1].dtype == np.int64


def test_seeded_folds_reproduce_and_depend_on_the_seed(rng):
    bags, Y = shifted_bags(rng)
    folds = make_folds(len(bags), ModelConfig(cv="kfold:6", seed=2))
    a, b, c = (cross_val_estimator(InstanceMajorityVote("rf"), bags, Y, folds, seed=s, n_jobs=2)[0] for s in (1, 1, 2))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


@pytest.mark.parametrize("model", ["simple_mi", "imv"])
def test_no_leakage_across_worker_processes(model, rng):
    # Each film's cues carry a one-hot identity feature and its labels are random: 1-NN
    # recognises a film it was trained on, and cannot do better than chance held out.
    n = 24
    Y = (rng.random((n, 2)) < 0.5).astype(np.int64)
    bags = [np.tile(np.eye(n, dtype=np.float32)[i], (3, 1)) + 0.01 * rng.normal(size=(3, n)).astype(np.float32)
            for i in range(n)]
    make = {"simple_mi": SimpleMI, "imv": InstanceMajorityVote}[model]
    one_nn = make(KNeighborsClassifier(n_neighbors=1))
    in_sample = genre_scores(Y, one_nn.fit(bags, Y).predict(bags), ("a", "b"))["macro"]["f1"]
    _, pred = cross_val_estimator(one_nn, bags, Y, make_folds(n, ModelConfig()), n_jobs=2)
    held_out = genre_scores(Y, pred, ("a", "b"))["macro"]["f1"]
    assert in_sample == 1.0 and held_out < 0.75, held_out


def test_prefer_is_checked(rng):
    bags, Y = shifted_bags(rng, n=6)
    with pytest.raises(ParameterError, match="prefer"):
        cross_val_estimator(SimpleMI("knn"), bags, Y, make_folds(6, ModelConfig()), n_jobs=2, prefer="fork")
