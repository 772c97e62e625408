"""Whole-index stamping of a corpus: through the library index, on one process and on a Dask
cluster with PostgreSQL, against the soundtrack stamping of the same films."""

import pandas as pd
import pytest

from scorelens.config import StamperConfig
from scorelens.corpus import load_corpus
from scorelens.stages.executor import DaskExecutor
from scorelens.stages.stamp import run_stamp
from scorelens.workspace import Workspace


def _cues(report):
    return {f: pd.read_parquet(p) for f, p in sorted(report.cue_tables.items())}


@pytest.fixture(scope="module")
def corpus(small_corpus):
    return load_corpus(small_corpus)


def test_whole_index_finds_each_films_own_cues(corpus, tmp_path):
    config = StamperConfig()
    own = run_stamp(Workspace(tmp_path / "own"), config, corpus)
    ws = Workspace(tmp_path / "whole")
    whole = run_stamp(ws, config, corpus, whole_index=True)
    assert sorted(whole.stamped) == sorted(f.id for f in corpus.films) and not whole.failed
    # Every film's tracks are in one library with the other films' tracks: the cues found are its own.
    a, b = _cues(own), _cues(whole)
    for film in a:
        pd.testing.assert_frame_equal(a[film], b[film], obj=film)
    # One library index, in the workspace; a second run reuses every cue table.
    folders = [p for p in (ws.root / "library").rglob("meta.json")]
    assert len(folders) == 1
    again = run_stamp(ws, config, corpus, whole_index=True)
    assert sorted(again.reused) == sorted(whole.stamped) and not again.stamped


@pytest.mark.postgres
def test_whole_index_on_dask_with_postgres_equals_one_process(corpus, tmp_path, fresh_postgres):
    config = StamperConfig()
    local = run_stamp(Workspace(tmp_path / "local"), config, corpus, whole_index=True)
    with DaskExecutor(workers=2) as executor:
        dist = run_stamp(Workspace(tmp_path / "dask"), config, corpus, whole_index=True, db=fresh_postgres,
                         executor=executor)
    assert not dist.failed
    a, b = _cues(local), _cues(dist)
    assert a.keys() == b.keys()
    for film in a:
        # Track ids differ between the two databases; the cues (titles, times, votes) do not.
        pd.testing.assert_frame_equal(a[film].drop(columns=["track_path"]), b[film].drop(columns=["track_path"]),
                                      check_exact=True, obj=film)
