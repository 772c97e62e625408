"""``scorelens demo`` end to end, as a user runs it (a real process), with small model settings."""

import json
import subprocess
import sys

import pandas as pd
import pytest

pytestmark = pytest.mark.slow


def scorelens(*args):
    return subprocess.run([sys.executable, "-m", "scorelens", *map(str, args)], capture_output=True, text=True,
                          timeout=600, check=False)


def test_demo_end_to_end_then_its_corpus_through_run(tmp_path, fast_sets):
    ws = tmp_path / "demo"
    r = scorelens("-q", "demo", "-w", ws, "--films", 2, "--minutes", 0.5, *fast_sets)
    assert r.returncode == 0, r.stderr[-2000:]
    results = ws / "results"
    assert (results / "report" / "report.html").is_file() and (results / "report" / "report.md").is_file()
    # Table 4: the two baselines, and with run.kinds=mir and one base classifier (kNN) and two poolings,
    # four MIR models: every model asked for, once.
    table4 = pd.read_csv(results / "evaluation" / "cue" / "table4.csv")
    assert list(zip(table4["features"].fillna("None"), table4["key"])) == [
        ("None", "random"), ("None", "plurality"), ("mir", "simple_mi:knn"), ("mir", "imv:knn"),
        ("mir", "network:average"), ("mir", "network:attention")]
    assert table4[["precision", "recall", "f1"]].stack().between(0, 1).all()
    # The stamper against the demo's known cues (the corpus's truth, not the stamper's output).
    scores = json.loads((results / "stamp_eval.json").read_text())
    assert len(scores["per_film"]) == 2
    assert scores["mean"]["second_precision"] > 0.9 and scores["mean"]["cue_recall"] == 1.0
    assert 0.5 < scores["mean"]["second_recall"] <= 1.0
    record = json.loads((results / "run.json").read_text())
    assert record["exit_code"] == 0 and record["settings"]["model"]["epochs"] == 3

    # --corpus-only writes the same films (same seed) and a manifest that `scorelens run` accepts; its
    # stamp gives the cue tables the demo got.
    corpus = tmp_path / "corpus"
    r = scorelens("demo", "--corpus-only", corpus, "--films", 2, "--minutes", 0.5)
    assert r.returncode == 0, r.stderr
    # CI has espeak-ng: the dialogue is speech, and the demo and its manifest say so.
    assert "dialogue: espeak-ng speech" in r.stdout and "babble" not in r.stderr
    assert (corpus / "corpus.toml").read_text().startswith("# dialogue: espeak-ng speech\n")
    assert sorted(p.name for p in (corpus / "films").iterdir()) == sorted(
        p.name for p in (ws / "corpus" / "films").iterdir())
    r = scorelens("-q", "run", corpus / "corpus.toml", "-w", tmp_path / "ws", "--stage", "index", "--stage", "stamp")
    assert r.returncode == 0, r.stderr[-2000:]
    for film in ("film01", "film02"):
        # Everything but where the files are (the two corpora are in different folders).
        a, b = (pd.read_parquet(w / "cues" / f"{film}.parquet") for w in (tmp_path / "ws", ws))
        paths = [c for c in a.columns if c.endswith("_path")]
        assert paths and len(a) >= 2
        pd.testing.assert_frame_equal(a.drop(columns=paths), b.drop(columns=paths), check_exact=True)
    # --corpus-only refuses a folder that holds something.
    r = scorelens("demo", "--corpus-only", corpus, "--films", 2, "--minutes", 0.5)
    assert r.returncode == 1 and "not empty" in r.stderr and "Traceback" not in r.stderr


def test_demo_refuses_an_unknown_setting_before_making_films(tmp_path):
    r = scorelens("demo", "-w", tmp_path / "demo", "--set", "model.epoch=3")
    assert r.returncode == 1 and "unknown setting model.epoch" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "demo" / "corpus").exists()
