"""Whole-index stamping of a corpus: through the library index, on one process and on a Dask
cluster with PostgreSQL, against the films' known cues and the soundtrack stamping of the same films."""

import pandas as pd
import pytest

from scorelens.config import StudyConfig
from scorelens.corpus import load_corpus
from scorelens.stages._executor import DaskExecutor
from scorelens.stages._stamp import run_stamp
from scorelens.stamp._cuetable import read_cue_table
from scorelens.stamp._evaluate import evaluate_cues
from scorelens.workspace import Workspace

WHOLE = StudyConfig().merged({"run.whole_index": True})


def _cues(report):
    return {f: pd.read_parquet(p) for f, p in sorted(report.result.items())}


def _against_truth(corpus, cues: dict) -> pd.DataFrame:
    """Each film's second-level scores against the cues the corpus was made with (its annotations)."""
    truth = pd.concat([read_cue_table(f.cues, film_id=f.id, annotation=True) for f in corpus.films],
                      ignore_index=True)
    return evaluate_cues(truth, pd.concat(list(cues.values()), ignore_index=True))


@pytest.fixture(scope="module")
def corpus(small_corpus):
    return load_corpus(small_corpus)


def test_whole_index_finds_each_films_own_cues(corpus, tmp_path):
    own = run_stamp(Workspace(tmp_path / "own"), StudyConfig(), corpus)
    ws = Workspace(tmp_path / "whole")
    whole = run_stamp(ws, WHOLE, corpus)
    assert sorted(whole.result) == sorted(f.id for f in corpus.films) and not whole.failures
    a, b = _cues(own), _cues(whole)
    # Not only equal to soundtrack stamping (two empty tables would be): every film has cues, and
    # they are the ones the film was made with.
    assert all(len(t) > 0 for t in b.values())
    scores = _against_truth(corpus, b)
    assert (scores[["second_precision", "second_recall"]] >= 0.8).all().all(), scores
    assert scores["second_precision"].mean() >= 0.9, scores
    # Every film's tracks are in one library with the other films' tracks: the cues found are its own.
    for film in a:
        pd.testing.assert_frame_equal(a[film], b[film], obj=film)
    # One library index, in the workspace; a second run reuses every cue table.
    folders = [p for p in (ws.root / "library").rglob("meta.json")]
    assert len(folders) == 1
    again = run_stamp(ws, WHOLE, corpus)
    assert sorted(again.reused) == sorted(whole.result) and again.status == "reused"


@pytest.mark.postgres
def test_whole_index_on_dask_with_postgres_equals_one_process(corpus, tmp_path, fresh_postgres):
    local = run_stamp(Workspace(tmp_path / "local"), WHOLE, corpus)
    with DaskExecutor(workers=2) as executor:
        dist = run_stamp(Workspace(tmp_path / "dask"), WHOLE.merged({"run.db": fresh_postgres}), corpus,
                         executor=executor)
    assert not dist.failures
    a, b = _cues(local), _cues(dist)
    assert a.keys() == b.keys() and all(len(t) > 0 for t in b.values())
    scores = _against_truth(corpus, b)
    assert (scores[["second_precision", "second_recall"]] >= 0.8).all().all(), scores
    assert scores["second_precision"].mean() >= 0.9, scores
    for film in a:
        # Track ids differ between the two databases; the cues (titles, times, votes) do not.
        pd.testing.assert_frame_equal(a[film].drop(columns=["track_path"]), b[film].drop(columns=["track_path"]),
                                      check_exact=True, obj=film)
