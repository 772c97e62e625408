"""The figures' contents against values computed independently of them."""

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import average_precision_score, precision_recall_curve

from scorelens.exceptions import ParameterError
from scorelens.report._figures import (
    average_precisions,
    cue_timeline,
    film_scatter,
    per_film_scores,
    pr_curves,
    save_figure,
)

GENRES = ["Action", "Comedy", "Drama"]


@pytest.fixture
def two_runs(rng, make_predictions):
    ids = [f"f{i:02d}" for i in range(20)]
    true = (rng.random((20, 3)) < 0.4).astype(int)
    true[0] = 1                                       # every genre has a positive film
    frames = []
    for features, model in (("vggish", "network:attention"), ("mir", "network:average")):
        proba = np.clip(0.5 * true + rng.random((20, 3)) * 0.7, 0, 1)
        frames.append(make_predictions(ids, GENRES, true, (proba >= 0.5).astype(int), proba,
                                       features=features, model=model))
    return pd.concat(frames, ignore_index=True), ids


def _matrix(df, features, model, column):
    rows = df[(df["features"] == features) & (df["model"] == model)]
    return rows.pivot(index="film_id", columns="genre", values=column)[GENRES].to_numpy(float)


def test_pr_curves_one_line_per_genre_with_sklearn_average_precision(two_runs):
    df, _ = two_runs
    runs = [("vggish", "network:attention"), ("mir", "network:average")]
    fig = pr_curves(df, runs)
    assert len(fig.axes) == 2
    for ax, (features, model) in zip(fig.axes, runs):
        y, p = _matrix(df, features, model, "true"), _matrix(df, features, model, "probability")
        lines = [line for line in ax.lines if line.get_gid()]
        assert [line.get_gid() for line in lines] == GENRES
        labels = [t.get_text() for t in ax.get_legend().get_texts()]
        for k, (genre, line) in enumerate(zip(GENRES, lines)):
            ap = average_precision_score(y[:, k], p[:, k])
            assert labels[k] == f"{genre} (AP {ap:.2f})"
            precision, recall, _ = precision_recall_curve(y[:, k], p[:, k])
            np.testing.assert_allclose(line.get_xdata(), recall)
            np.testing.assert_allclose(line.get_ydata(), precision)
    table = average_precisions(df, runs)
    for row in table.itertuples(index=False):
        k = GENRES.index(row.genre)
        expected = average_precision_score(_matrix(df, row.features, row.model, "true")[:, k],
                                           _matrix(df, row.features, row.model, "probability")[:, k])
        assert row.average_precision == pytest.approx(expected, abs=1e-12)


def test_pr_curve_skips_a_genre_without_positive_film(make_predictions):
    true = np.array([[1, 0], [0, 0], [1, 0]])
    df = make_predictions(["a", "b", "c"], ["Action", "Horror"], true, true, [[0.9, 0.2], [0.1, 0.3], [0.6, 0.1]])
    ax = pr_curves(df, [("vggish", "network:attention")]).axes[0]
    assert [line.get_gid() for line in ax.lines if line.get_gid()] == ["Action"]
    assert "Horror (no positive film)" in [t.get_text() for t in ax.get_legend().get_texts()]
    assert np.isnan(average_precisions(df, [("vggish", "network:attention")])["average_precision"].iloc[1])


def test_scatter_points_are_the_films_precision_and_recall(two_runs):
    df, ids = two_runs
    runs = [("vggish", "network:attention"), ("mir", "network:average")]
    fig = film_scatter(df, runs)
    for ax, (features, model) in zip(fig.axes, runs):
        y, p = _matrix(df, features, model, "true"), _matrix(df, features, model, "predicted")
        expected = {}
        for i in range(len(ids)):
            tp = int((y[i] * p[i]).sum())
            point = (tp / y[i].sum() if y[i].sum() else 0.0, tp / p[i].sum() if p[i].sum() else 0.0)
            expected[point] = expected.get(point, 0) + 1
        (coll,) = [c for c in ax.collections if c.get_gid() == "films"]
        drawn = [tuple(map(float, xy)) for xy in coll.get_offsets()]
        assert sorted(drawn) == pytest.approx(sorted(expected))
        # Overlapping films are counted: each shared point carries its number, sizes grow with it.
        counts = {tuple(map(float, a.xy)): int(a.get_text()) for a in ax.texts}
        assert counts == {pt: n for pt, n in expected.items() if n > 1}
        sizes = dict(zip(drawn, coll.get_sizes()))
        single = [s for pt, s in sizes.items() if expected[pt] == 1]
        assert all(sizes[pt] > max(single, default=0) for pt in counts)
    scores = per_film_scores(df, runs)
    assert len(scores) == 2 * len(ids) and set(scores.columns) >= {"film_id", "precision", "recall"}


def test_timeline_one_bar_per_cue_in_minutes():
    cues = pd.DataFrame({"film_id": ["a", "a", "b", "a"], "track": ["t1", "t2", "t9", "t1"],
                         "start_s": [60.0, 300.0, 30.0, 600.0], "end_s": [120.0, 390.0, 45.0, 630.0]})
    fig = cue_timeline(cues, {"a": 1200.0}, films=["a", "b", "c"], labels={"a": "Film A"})
    ax = fig.axes[0]
    assert len(ax.patches) == len(cues)
    bars = {p.get_gid(): p for p in ax.patches}
    assert bars["a#0"].get_x() == pytest.approx(1.0) and bars["a#0"].get_width() == pytest.approx(1.0)
    assert bars["a#2"].get_x() == pytest.approx(10.0) and bars["a#2"].get_width() == pytest.approx(0.5)
    assert bars["a#0"].get_facecolor() == bars["a#2"].get_facecolor() != bars["a#1"].get_facecolor()
    assert bars["b#0"].get_x() == pytest.approx(0.5)
    # Rows top to bottom: a, b, then c (no cues, empty row); a's film length sets the axis.
    assert [t.get_text() for t in ax.get_yticklabels()] == ["c", "b", "Film A"]
    assert bars["a#0"].get_y() > bars["b#0"].get_y()
    assert ax.get_xlim()[1] == pytest.approx(20.0 * 1.01)


def test_timeline_rejects_bad_cues():
    with pytest.raises(ParameterError, match="lacks column.*end_s"):
        cue_timeline(pd.DataFrame({"film_id": ["a"], "start_s": [1.0]}))
    with pytest.raises(ParameterError, match=r"film a: cue ends \(t=1.000s\) before it starts \(t=2.000s\)"):
        cue_timeline(pd.DataFrame({"film_id": ["a"], "start_s": [2.0], "end_s": [1.0]}))


def test_save_figure_by_suffix(tmp_path, two_runs):
    df, _ = two_runs
    fig = pr_curves(df, [("vggish", "network:attention")])
    assert save_figure(fig, tmp_path / "pr.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert b"<svg" in save_figure(fig, tmp_path / "pr.svg").read_bytes()[:500]
    assert save_figure(fig, tmp_path / "pr.pdf").read_bytes()[:5] == b"%PDF-"
    with pytest.raises(ParameterError, match="figure format 'jpg' is not one of png, svg, pdf"):
        save_figure(fig, tmp_path / "pr.jpg")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pr.pdf", "pr.png", "pr.svg"]   # no temporary left


def test_unknown_run_is_named(two_runs):
    df, _ = two_runs
    with pytest.raises(ParameterError, match="no run mir/network:attention.*vggish/network:attention"):
        pr_curves(df, [("mir", "network:attention")])


def test_probabilities_that_are_not_numbers_in_0_1_are_named(two_runs):
    # A damaged or hand-edited predictions table: a one-line error naming the column and the
    # source, not scikit-learn's "Input contains NaN" from deep inside the PR curve.
    df, _ = two_runs
    for bad in (np.nan, 1.5, "high"):
        broken = df.astype({"probability": object})
        broken.loc[3, "probability"] = bad
        with pytest.raises(ParameterError, match=r"predictions: column probability must hold numbers in \[0, 1\]"):
            pr_curves(broken, [("vggish", "network:attention")])
