"""Table 5 on planted corpora whose answers are known."""

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from scorelens.analysis._crossmodal import bonferroni, compare_groups, cross_modal, label_sources
from scorelens.exceptions import ParameterError

GENRES = ["Action", "Comedy", "Drama"]


@pytest.fixture
def planted(rng, make_predictions):
    """48 films, labels in a full factorial (genres independent); Comedy films' clips are brighter by 0.15."""
    ids = [f"f{i:02d}" for i in range(48)]
    true = np.array([[(i // 4) % 2, i % 2, (i // 2) % 2] for i in range(48)])
    rows = []
    for i, film in enumerate(ids):
        for cue in range(3):
            rows.append({"film_id": film, "cue_id": cue,
                         "brightness": 0.35 + 0.15 * true[i, 1] + rng.normal(0, 0.03),
                         "contrast": 0.40 + rng.normal(0, 0.03)})
    clips = pd.DataFrame(rows)
    return clips, make_predictions(ids, GENRES, true, true), true


def test_planted_brightness_difference_is_found_for_its_genre_only(planted):
    clips, predictions, true = planted
    result = cross_modal(clips, predictions, model="attention")
    assert (result.features, result.model) == ("vggish", "network:attention")
    row = result.table.set_index(["feature", "source", "genre"])
    comedy = row.loc[("brightness", "actual", "Comedy")]
    comedy_films = {f"f{i:02d}" for i in range(48) if true[i, 1]}
    inside = clips[clips["film_id"].isin(comedy_films)]["brightness"]
    outside = clips[~clips["film_id"].isin(comedy_films)]["brightness"]
    assert comedy["median"] == pytest.approx(np.median(inside))
    assert comedy["median_other"] == pytest.approx(np.median(outside))
    assert comedy["difference"] == pytest.approx(np.median(inside) - np.median(outside))
    assert 0.1 < comedy["difference"] < 0.2 and comedy["difference_x10"] == pytest.approx(10 * comedy["difference"])
    assert comedy["p"] == pytest.approx(stats.mannwhitneyu(inside, outside, alternative="two-sided").pvalue)
    assert comedy["significant"] and comedy["p_corrected"] == pytest.approx(min(1.0, 3 * comedy["p"]))
    assert (comedy["n_films"], comedy["n_clips"], comedy["n_clips_other"], comedy["m"]) == (24, 72, 72, 3)
    drama = row.loc[("brightness", "actual", "Drama")]
    assert not drama["significant"] and abs(drama["difference"]) < 0.05
    assert not row.loc["contrast"]["significant"].any()
    # Predictions equal to the truth: the Predicted column repeats the Actual one.
    actual = result.table[result.table["source"] == "actual"].reset_index(drop=True)
    predicted = result.table[result.table["source"] == "predicted"].reset_index(drop=True)
    pd.testing.assert_frame_equal(actual.drop(columns="source"), predicted.drop(columns="source"))


def test_no_false_positive_means_no_test(planted):
    clips, predictions, _ = planted
    result = cross_modal(clips, predictions, model="network:attention")
    fp = result.table[result.table["source"] == "false_positive"]
    assert fp["difference"].isna().all() and fp["p"].isna().all() and not fp["significant"].any()
    assert (fp["n_clips"] == 0).all() and fp["note"].str.startswith("no clips from films labeled").all()
    markdown = result.to_markdown()
    assert "| Comedy | **" in markdown and "| n/a |" in markdown
    assert "n/a, no clips from films with the label (False Positive: Action, Comedy, Drama)." in markdown
    drama_line = next(line for line in markdown.splitlines() if line.startswith("| Drama |"))
    assert "**" not in drama_line


def test_false_positive_leaves_out_true_positives(make_predictions):
    # Comedy is predicted for 4 true comedies (bright clips) and 4 non-comedies (dark clips): the predicted
    # labels look bright, the false positives alone look dark.
    ids = [f"f{i}" for i in range(16)]
    true = np.zeros((16, 2), int)
    pred = np.zeros((16, 2), int)
    true[:4, 0] = pred[:4, 0] = 1           # true positives
    pred[4:8, 0] = 1                        # false positives
    true[8:, 1] = 1                         # the rest are Drama, never predicted as such
    level = {**{f"f{i}": 0.9 for i in range(4)}, **{f"f{i}": 0.1 for i in range(4, 8)},
             **{f"f{i}": 0.5 for i in range(8, 16)}}
    clips = pd.DataFrame([{"film_id": f, "brightness": level[f] + 0.001 * c, "contrast": 0.3}
                          for f in ids for c in range(2)])
    result = cross_modal(clips, make_predictions(ids, ["Comedy", "Drama"], true, pred), model="attention", alpha=0.05)
    predicted = result.table.set_index(["feature", "source", "genre"]).loc[("brightness", "predicted", "Comedy")]
    fp = result.table.set_index(["feature", "source", "genre"]).loc[("brightness", "false_positive", "Comedy")]
    assert (predicted["n_films"], predicted["n_clips"]) == (8, 16)
    assert (fp["n_films"], fp["n_clips"], fp["n_clips_other"]) == (4, 8, 24)
    fp_values = clips[clips["film_id"].isin([f"f{i}" for i in range(4, 8)])]["brightness"]
    others = clips[~clips["film_id"].isin([f"f{i}" for i in range(4, 8)])]["brightness"]
    assert fp["difference"] == pytest.approx(np.median(fp_values) - np.median(others))
    assert fp["difference"] < -0.3 and fp["significant"]
    assert predicted["difference"] > fp["difference"]
    # Drama is never predicted: its Predicted and False Positive cells cannot be tested.
    drama_fp = result.table.set_index(["feature", "source", "genre"]).loc[("brightness", "false_positive", "Drama")]
    assert math.isnan(drama_fp["difference"]) and "no clips" in drama_fp["note"]


def _borderline(make_predictions, genres):
    # Genre "Action" (first column): 5 bright films against 7 others, two of them as bright: exact
    # Mann-Whitney p = 0.00505, under alpha = 0.01 alone but not after multiplying by 6.
    inside = [0.6, 0.7, 0.8, 0.9, 1.0]
    outside = list(np.linspace(0.1, 0.5, 6)) + [0.61]
    ids = [f"f{i:02d}" for i in range(12)]
    true = np.zeros((12, len(genres)), int)
    true[:5, 0] = 1
    if len(genres) > 1:
        true[5:, 1] = 1
    clips = pd.DataFrame({"film_id": ids, "brightness": inside + outside, "contrast": 0.5})
    return clips, make_predictions(ids, genres, true, true)


def test_bonferroni_turns_a_borderline_difference_insignificant(make_predictions):
    six = ["Action", "Comedy", "Drama", "Horror", "Romance", "Science Fiction"]
    clips, predictions = _borderline(make_predictions, six)
    row = cross_modal(clips, predictions).table.set_index(["feature", "source", "genre"]).loc[
        ("brightness", "actual", "Action")]
    assert 0.01 / 6 < row["p"] < 0.01                     # significant before the correction
    assert row["m"] == 6 and row["p_corrected"] == pytest.approx(6 * row["p"]) and not row["significant"]
    clips, predictions = _borderline(make_predictions, ["Action"])
    alone = cross_modal(clips, predictions).table.set_index(["feature", "source", "genre"]).loc[
        ("brightness", "actual", "Action")]
    # One genre, nothing to correct for: same p, now significant; no other clips for... none needed.
    assert alone["m"] == 1 and alone["p_corrected"] == pytest.approx(row["p"]) and alone["significant"]


def test_genre_on_every_film_has_no_other_clips(make_predictions):
    ids = ["a", "b", "c"]
    true = np.array([[1, 0], [1, 1], [1, 0]])
    clips = pd.DataFrame({"film_id": ids, "brightness": [0.1, 0.2, 0.3], "contrast": [0.1, 0.2, 0.3]})
    result = cross_modal(clips, make_predictions(ids, ["Drama", "Horror"], true, true))
    row = result.table.set_index(["feature", "source", "genre"]).loc[("contrast", "actual", "Drama")]
    assert math.isnan(row["difference"]) and math.isnan(row["p"]) and not row["significant"]
    assert row["note"] == "every clip is from a film labeled Drama" and row["n_clips_other"] == 0


def test_unknown_model_lists_the_runs(planted):
    clips, predictions, _ = planted
    with pytest.raises(ParameterError, match=r"model 'imv:rf' is not in the predictions; available runs .*"
                                             r"vggish/network:attention"):
        cross_modal(clips, predictions, model="imv:rf")
    with pytest.raises(ParameterError, match="no run of model 'network:attention' on features 'mir'"):
        cross_modal(clips, predictions, features="mir")


def test_model_on_several_kinds_needs_features(planted, make_predictions):
    clips, predictions, true = planted
    both = pd.concat([predictions, make_predictions(sorted(set(predictions["film_id"])), GENRES, true, true,
                                                    features="mir")])
    with pytest.raises(ParameterError, match=r"ran on several feature kinds \(vggish, mir\)"):
        cross_modal(clips, both)
    assert cross_modal(clips, both, features="mir").features == "mir"


def test_films_without_clips_or_predictions_are_left_out_with_a_warning(planted):
    clips, predictions, _ = planted
    clips = clips[clips["film_id"] != "f00"]
    clips = pd.concat([clips, pd.DataFrame({"film_id": ["stranger"], "brightness": [0.9], "contrast": [0.9]})])
    with pytest.warns(UserWarning) as record:
        result = cross_modal(clips, predictions)
    messages = [str(w.message) for w in record]
    assert any("no visual cue summary" in m and "f00" in m for m in messages)
    assert any("no predictions" in m and "stranger" in m for m in messages)
    assert result.films_without_clips == ("f00",) and result.films_without_predictions == ("stranger",)
    assert "f00" not in result.film_ids and result.n_clips == 47 * 3
    assert "left out: f00" in result.to_markdown()


def test_disjoint_film_ids_are_an_error(planted):
    clips, predictions, _ = planted
    clips = clips.assign(film_id="other_" + clips["film_id"])
    with pytest.raises(ParameterError, match="no film has both clips and predictions"):
        cross_modal(clips, predictions)


def test_true_labels_must_match_the_manifest(planted):
    clips, predictions, true = planted
    labels = {f"f{i:02d}": [g for g, on in zip(GENRES, true[i]) if on] for i in range(48)}
    cross_modal(clips, predictions, true_labels=labels)        # agrees: no error
    labels["f03"] = ["Drama"]
    with pytest.raises(ParameterError, match=r"differ from the manifest for 1 film\(s\): f03"):
        cross_modal(clips, predictions, true_labels=labels)
    del labels["f05"]
    with pytest.raises(ParameterError, match="not in the manifest: f05"):
        cross_modal(clips, predictions, true_labels=labels)


def test_bad_inputs_are_named(planted):
    clips, predictions, _ = planted
    with pytest.raises(ParameterError, match="alpha=1.5 must lie strictly between 0 and 1"):
        cross_modal(clips, predictions, alpha=1.5)
    with pytest.raises(ParameterError, match="missing column.*contrast"):
        cross_modal(clips.drop(columns="contrast"), predictions)
    with pytest.raises(ParameterError, match="missing column.*probability"):
        cross_modal(clips, predictions.drop(columns="probability"))


def test_small_pieces():
    sources = label_sources(np.array([[1, 0], [0, 1]]), np.array([[1, 1], [0, 0]]))
    assert sources["false_positive"].tolist() == [[False, True], [False, False]]
    assert bonferroni(0.004, 6) == pytest.approx(0.024) and bonferroni(0.5, 6) == 1.0
    assert math.isnan(bonferroni(float("nan"), 6))
    res = compare_groups(np.array([3.0, 4.0, 5.0]), np.array([1.0, 2.0]))
    assert res["difference"] == pytest.approx(4.0 - 1.5) and res["u"] == 6.0
    assert math.isnan(compare_groups(np.array([]), np.array([1.0]))["p"])


def test_clips_without_visual_values_are_not_counted():
    import numpy as np
    import pandas as pd

    from scorelens.analysis._crossmodal import cross_modal

    films = [f"f{i}" for i in range(6)]
    genres = ["A", "B"]
    clips = pd.DataFrame({"film_id": np.repeat(films, 2), "cue_id": np.tile([0, 1], 6),
                          "brightness": np.linspace(0.1, 0.9, 12), "contrast": np.linspace(0.2, 0.4, 12)})
    clips.loc[0, ["brightness", "contrast"]] = np.nan
    rows = [{"film_id": f, "features": "mir", "model": "network:attention", "genre": g,
             "probability": 0.9 if (i + k) % 2 else 0.1, "predicted": int((i + k) % 2), "true": int((i + k) % 2)}
            for i, f in enumerate(films) for k, g in enumerate(genres)]
    result = cross_modal(clips, pd.DataFrame(rows), model="network:attention")
    assert result.n_clips == 11


def test_mann_whitney_u_by_hand():
    """Table 5's U counted pair by pair, and its exact p from all splits of the ranks."""
    from itertools import combinations

    labeled, other = [1.0, 3.5, 5.0], [2.0, 3.0, 4.0, 0.5]
    # U of the labeled group: pairs (x, y) with x > y. 1.0 beats 0.5 (1); 3.5 beats 2.0,
    # 3.0, 0.5 (3); 5.0 beats all four (4): U = 8 of 3 * 4 = 12 pairs.
    res = compare_groups(np.array(labeled), np.array(other))
    assert res["u"] == 8.0
    assert res["median"] == 3.5 and res["median_other"] == 2.5 and res["difference"] == 1.0
    # Exact two-sided p without ties: every way of giving 3 of the 7 ranks to the labeled
    # group is equally likely; U = rank sum - 3 * 4 / 2. p = P(U >= 8) + P(U <= 12 - 8).
    us = [sum(c) - 6 for c in combinations(range(1, 8), 3)]
    assert len(us) == 35
    p = (sum(u >= 8 for u in us) + sum(u <= 4 for u in us)) / 35
    assert p == pytest.approx(22 / 35)                # 11 splits at each end (e.g. ranks {1,2,3}, sum 6: U = 0)
    assert res["p"] == pytest.approx(p, rel=1e-12)
    # A tie counts half a pair: 3.0 against 3.0.
    tied = compare_groups(np.array([1.0, 3.0, 5.0]), np.array([2.0, 3.0, 4.0, 0.5]))
    assert tied["u"] == 1 + (2 + 0.5) + 4
