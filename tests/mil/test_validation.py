import numpy as np
import pytest

from scorelens.exceptions import ParameterError
from scorelens.mil import InstanceMajorityVote, MILClassifier, SimpleMI
from scorelens.mil._validation import check_bag_labels, check_bags


def test_plain_matrix_is_bags_of_one():
    bags = check_bags(np.arange(6.0).reshape(3, 2))
    assert [b.shape for b in bags] == [(1, 2)] * 3
    assert bags[2].dtype == np.float32 and bags[2][0, 1] == 5.0


@pytest.mark.parametrize("bags, match", [
    ([], "0 bags"),
    ([np.zeros((2, 3)), np.zeros((0, 3))], r"bags\[1\]: empty bag"),
    ([np.zeros((2, 3)), np.zeros((2, 4))], "different numbers of features"),
    ([np.zeros((2, 3, 1))], "must be 2-D"),
    ([np.array([[0.0, np.nan]])], r"NaN or infinite value at instance 0, feature 1"),
    ([np.array([[np.inf, 0.0]])], "NaN or infinite"),
    (np.zeros((0, 3)), "0 bags"),
])
def test_bad_bags(bags, match):
    with pytest.raises(ParameterError, match=match):
        check_bags(bags)


def test_labels():
    Y, one_d = check_bag_labels([0, 1, 1], 3)
    assert one_d and Y.shape == (3, 1)
    with pytest.raises(ParameterError, match="y has 2 rows but there are 3 bags"):
        check_bag_labels([0, 1], 3)
    with pytest.raises(ParameterError, match="y has 4 label columns, expected 6"):
        check_bag_labels(np.zeros((3, 4)), 3, n_labels=6)
    with pytest.raises(ParameterError, match="0/1 labels"):
        check_bag_labels([0, 2, 1], 3)


@pytest.mark.parametrize("make", [lambda: SimpleMI("knn"), lambda: InstanceMajorityVote("knn"),
                                  lambda: MILClassifier("average", hidden=4, epochs=1)])
def test_estimators_check_inputs(make, rng):
    bags = [rng.normal(size=(3, 4)).astype(np.float32) for _ in range(12)]
    Y = np.tile([[0, 1], [1, 0]], (6, 1))
    clf = make().fit(bags, Y)
    with pytest.raises(ParameterError, match="bags have 5 features but the estimator was fitted with 4"):
        clf.predict([rng.normal(size=(2, 5))])
    with pytest.raises(ParameterError, match="NaN"):
        clf.predict_proba([np.full((2, 4), np.nan)])
    with pytest.raises(ParameterError, match="y has 12 rows but there are 11 bags"):
        make().fit(bags[:11], Y)


def test_unknown_pooling_and_base():
    bags, Y = [np.zeros((1, 2))] * 4, np.array([0, 1, 0, 1])
    with pytest.raises(ParameterError, match="pooling='mean' is unknown; choose one of max, average"):
        MILClassifier(pooling="mean").fit(bags, Y)
    with pytest.raises(ParameterError, match="estimator='tree' is not a known base classifier"):
        SimpleMI(estimator="tree").fit(bags, Y)
    with pytest.raises(ParameterError, match="hidden=0 must be a positive integer"):
        MILClassifier(hidden=0).fit(bags, Y)
