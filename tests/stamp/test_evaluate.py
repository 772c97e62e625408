import numpy as np
import pandas as pd
import pytest

from scorelens.exceptions import AnnotationError
from scorelens.stamp._cuetable import read_cue_table
from scorelens.stamp._evaluate import evaluate_cues, summarise


def _cues(rows, film="f"):
    return pd.DataFrame([{"film_id": film, "track": t, "start_s": s, "end_s": e} for t, s, e in rows])


def test_hand_computed_second_and_cue_scores():
    truth = _cues([("A", 10, 20), ("B", 30, 40)])
    # A found exactly; B found for 4 of its 10 s; a wrong-track prediction C for 5 s.
    pred = _cues([("a.mp3", 10, 20), ("B", 36, 40), ("C", 50, 55)])
    row = evaluate_cues(truth, pred).iloc[0]
    assert row["second_precision"] == pytest.approx(14 / 19)
    assert row["second_recall"] == pytest.approx(14 / 20)
    assert row["cue_recall"] == pytest.approx(0.5)       # B only 40 % covered
    assert row["cue_precision"] == pytest.approx(2 / 3)  # C is not music of the film
    assert row["true_cues"] == 2 and row["predicted_cues"] == 3


def test_wrong_track_counts_against_both():
    row = evaluate_cues(_cues([("A", 0, 10)]), _cues([("B", 0, 10)])).iloc[0]
    assert row["second_precision"] == 0 and row["second_recall"] == 0


def test_no_prediction_gives_undefined_precision_and_zero_recall():
    empty = _cues([], film="f").reindex(columns=["film_id", "track", "start_s", "end_s"])
    row = evaluate_cues(_cues([("A", 0, 10)]), empty).iloc[0]
    assert np.isnan(row["second_precision"]) and row["second_recall"] == 0


def test_summary_is_mean_and_sd_over_films():
    truth = pd.concat([_cues([("A", 0, 10)], "f1"), _cues([("A", 0, 10)], "f2")])
    pred = pd.concat([_cues([("A", 0, 10)], "f1"), _cues([("A", 0, 5)], "f2")])
    summary = summarise(evaluate_cues(truth, pred))
    assert summary.loc["second_recall", "mean"] == pytest.approx(0.75)
    assert summary.loc["second_recall", "sd"] == pytest.approx(np.std([1.0, 0.5], ddof=1))


def test_bad_annotation_files(tmp_path):
    p = tmp_path / "a.csv"
    p.write_text("track,start_s\nA,1\n")
    with pytest.raises(AnnotationError, match=r"a\.csv: cue table lacks column\(s\) end_s"):
        read_cue_table(p, annotation=True)
    p.write_text("track,start_s,end_s\nA,5,3\nB,x,9\n")
    with pytest.raises(AnnotationError, match="start_s has missing, non-numeric or negative values"):
        read_cue_table(p, annotation=True)
    p.write_text("track,start_s,end_s\nA,5,3\n")
    with pytest.raises(AnnotationError, match=r"end_s must be after start_s \(rows 2\)"):
        read_cue_table(p, annotation=True)
    with pytest.raises(AnnotationError, match="no such cue table"):
        read_cue_table(tmp_path / "missing.csv")
