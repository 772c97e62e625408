import numpy as np
import pandas as pd
import pytest

from scorelens.analysis._data import bags_from_table, even_subsample
from scorelens.corpus import load_corpus
from scorelens.exceptions import FeatureError, ParameterError
from scorelens.stages._bags import feature_table
from scorelens.workspace import Workspace

NAMES = ["timbre/mfcc_00/mean", "timbre/mfcc_00/std"]


@pytest.fixture
def corpus(tmp_path):
    text = '[corpus]\ngenres = ["Action", "Drama"]\n' + "".join(
        f'[[film]]\nid = "{f}"\nfilm = "x.mkv"\nsoundtrack = "st/"\ngenres = {g}\n'
        for f, g in [("a", '["Action"]'), ("b", '["Drama"]'), ("c", '["Action", "Drama"]')])
    (tmp_path / "corpus.toml").write_text(text)
    return load_corpus(tmp_path / "corpus.toml", check_files=False)


def frames():
    rows = []
    for film, n_cues in (("b", 2), ("a", 1), ("zzz", 1)):
        for cue in range(n_cues):
            for t in range(3):
                rows.append({"film_id": film, "cue_id": cue, "time_s": 10.0 * cue + t,
                             NAMES[0]: float(10 * cue + t), NAMES[1]: 1.0})
    df = pd.DataFrame(rows)
    df[NAMES] = df[NAMES].astype(np.float32)
    return df


def test_cue_and_frame_bags(corpus):
    with pytest.warns(UserWarning, match="1 film\\(s\\) without any cue left out: c"):
        cues = bags_from_table(frames(), corpus, level="cue", kind="mir")
    assert cues.film_ids == ["a", "b"] and cues.missing == ["c"]          # manifest order; unknown 'zzz' ignored
    np.testing.assert_allclose(cues.bags[1], [[1.0, 1.0], [11.0, 1.0]])   # mean of each cue's frames
    np.testing.assert_array_equal(cues.Y, [[1, 0], [0, 1]])
    assert cues.feature_names == NAMES and list(cues.instance_keys[1]["cue_id"]) == [0, 1]
    with pytest.warns(UserWarning):
        fr = bags_from_table(frames(), corpus, level="frame", max_instances=4)
    assert fr.bags[1].shape == (4, 2) and list(fr.instance_keys[1].columns) == ["cue_id", "time_s"]
    assert fr.bags[0].shape == (3, 2)


def test_bad_tables(corpus):
    df = frames()
    df.loc[2, NAMES[0]] = np.nan
    with pytest.raises(FeatureError, match="non-finite feature value in row 2 \\(film 'b', cue 0\\)"):
        bags_from_table(df, corpus)
    with pytest.raises(FeatureError, match="no 'cue_id' column"):
        bags_from_table(frames().drop(columns="cue_id"), corpus)
    with pytest.raises(ParameterError, match="needs a frame-level table"):
        bags_from_table(frames().drop(columns="time_s"), corpus, level="frame")
    with pytest.raises(FeatureError, match="none of the manifest's 3 films has features"), pytest.warns(UserWarning):
        bags_from_table(frames().assign(film_id="other"), corpus)


def test_feature_table_path(tmp_path):
    ws = Workspace(tmp_path)
    (tmp_path / "features" / "mir").mkdir(parents=True)
    with pytest.raises(FeatureError, match="no cue-level 'mir' features in the workspace"):
        feature_table(ws, "mir", "cue")
    (tmp_path / "features" / "mir" / "frames.parquet").write_bytes(b"")
    assert feature_table(ws, "mir", "cue") == (tmp_path / "features" / "mir" / "frames.parquet", "mir")
    (tmp_path / "features" / "mir" / "cues.parquet").write_bytes(b"")
    assert feature_table(ws, "mir", "cue")[0].name == "cues.parquet"
    assert feature_table(ws, "mir", "frame")[0].name == "frames.parquet"
    with pytest.raises(FeatureError, match="no such feature table"):
        feature_table(ws, str(tmp_path / "nope.parquet"), "cue")


def test_even_subsample():
    assert list(even_subsample(10, 0)) == list(range(10))
    assert list(even_subsample(10, 3)) == [0, 4, 9]   # linspace(0, 9, 3) = 0, 4.5, 9 -> round half to even
