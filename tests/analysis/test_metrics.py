import numpy as np
import pytest

from scorelens.analysis._metrics import film_scores, genre_scores, paired_test
from scorelens.exceptions import ParameterError

Y = np.array([[1, 0, 1], [1, 1, 0], [0, 0, 1], [1, 0, 0]])
P = np.array([[1, 0, 0], [1, 0, 0], [1, 0, 1], [0, 0, 0]])


def test_genre_scores_by_hand():
    s = genre_scores(Y, P, ("Action", "Comedy", "Drama"))
    a = s["genres"]["Action"]
    assert a["precision"] == pytest.approx(2 / 3) and a["recall"] == pytest.approx(2 / 3)
    assert a["support"] == 3 and a["predicted"] == 3
    assert s["genres"]["Comedy"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1, "predicted": 0}
    assert s["genres"]["Drama"]["precision"] == 1.0 and s["genres"]["Drama"]["recall"] == 0.5
    assert s["macro"]["precision"] == pytest.approx((2 / 3 + 0 + 1) / 3)
    assert s["macro"]["f1"] == pytest.approx((2 / 3 + 0 + 2 / 3) / 3)
    with pytest.raises(ParameterError, match="3 label columns but 2 genres"):
        genre_scores(Y, P, ("Action", "Comedy"))
    with pytest.raises(ParameterError, match="equal shape"):
        genre_scores(Y, P[:, :2], ("Action", "Comedy", "Drama"))


def test_film_scores_by_hand():
    s = film_scores(Y, P)
    np.testing.assert_allclose(s["precision"], [1.0, 1.0, 0.5, 0.0])
    np.testing.assert_allclose(s["recall"], [0.5, 0.5, 1.0, 0.0])
    np.testing.assert_allclose(s["f1"], [2 / 3, 2 / 3, 2 / 3, 0.0])


def test_paired_test():
    rng = np.random.default_rng(0)
    Yb = (rng.random((60, 4)) < 0.4).astype(int)
    good = Yb.copy()
    good[:6] = 1 - good[:6]
    noise = (rng.random((60, 4)) < 0.4).astype(int)
    res = paired_test(Yb, good, noise)
    assert res["mean_model"] > res["mean_baseline"] and res["t"] > 0 and res["p"] < 1e-6
    assert paired_test(Yb, noise, noise)["p"] == 1.0
    with pytest.raises(ParameterError, match="metric='accuracy'"):
        paired_test(Yb, good, noise, metric="accuracy")
