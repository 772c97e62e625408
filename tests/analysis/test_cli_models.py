"""``scorelens evaluate`` and ``scorelens train`` on a small workspace of synthetic features."""

import json

import numpy as np
import pandas as pd
import pytest

from scorelens.mil._artifact import load_artifact

GENRES = ["Action", "Comedy", "Drama"]


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    root = tmp_path_factory.mktemp("models_cli")
    rng = np.random.default_rng(3)
    films, rows = [], []
    for i in range(24):
        y = rng.random(3) < 0.4
        y[0] |= not y.any()
        films.append(f'[[film]]\nid = "f{i:02d}"\nfilm = "films/f{i:02d}.mkv"\nsoundtrack = "st/"\n'
                     f'genres = {json.dumps([g for g, on in zip(GENRES, y) if on])}\n')
        if i == 23:
            continue                                   # a film whose soundtrack was never found in it
        for cue in range(int(rng.integers(1, 6))):
            v = rng.normal(size=5) + np.r_[1.5 * y, 0, 0]
            rows.append({"film_id": f"f{i:02d}", "cue_id": cue, **{f"timbre/x{j}/mean": v[j] for j in range(5)}})
    (root / "corpus.toml").write_text('[corpus]\ngenres = ["Action", "Comedy", "Drama"]\n' + "\n".join(films))
    ws = root / "ws"
    (ws / "features" / "mir").mkdir(parents=True)
    (ws / ".scorelens-workspace").write_text("{}\n")
    df = pd.DataFrame(rows)
    df[df.columns[2:]] = df[df.columns[2:]].astype(np.float32)
    df.to_parquet(ws / "features" / "mir" / "cues.parquet")
    return root


def test_evaluate_writes_table4(workspace, cli):
    ws = workspace / "ws"
    res = cli("-q", "evaluate", "-w", ws, "-m", workspace / "corpus.toml", "--model", "baselines",
                 "--model", "simple_mi:knn", "--model", "average", "--epochs", "10", "--hidden", "8",
                 "--learning-rate", "0.01", "--seed", "5")
    assert res.exit_code == 0, res.output
    assert "Avg. Pooling" in res.output and "left out (no cues): f23" in res.output
    out = ws / "results" / "evaluation" / "cue"
    table = pd.read_csv(out / "table4.csv", keep_default_na=False)   # "None": the baselines use no features
    assert list(table["model"]) == ["Random Guess", "Plurality Label", "kNN - Simple MI", "Avg. Pooling"]
    assert list(table["features"]) == ["None", "None", "mir", "mir"]
    report = json.loads((out / "table4.json").read_text())
    assert report["films_without_cues"] == ["f23"] and len(report["films"]) == 23
    assert json.loads((ws / "settings" / "evaluate.json").read_text())["model"]["seed"] == 5
    assert (out / "table4.md.done.json").exists()


@pytest.mark.filterwarnings("ignore:.*without any cue left out")
def test_train_saves_a_loadable_artifact(workspace, cli):
    ws = workspace / "ws"
    target = workspace / "model.pt"
    res = cli("-q", "train", "-w", ws, "-m", workspace / "corpus.toml", "-f", "mir", "--model", "attention",
                 "--epochs", "5", "--hidden", "8", "-o", target)
    assert res.exit_code == 0, res.output
    model = load_artifact(target, feature_names=[f"timbre/x{j}/mean" for j in range(5)], kind="mir")
    assert model.key == "network:attention" and model.taxonomy == tuple(GENRES) and len(model.trained_on) == 23
    pred = model.predict_bag(np.zeros((3, 5), np.float32))
    assert set(pred.probabilities) == set(GENRES) and pred.instance_weights.shape == (3, 3)


def test_missing_features_is_one_line_error(workspace, tmp_path, run_cli):
    # Through the console-script entry, which turns a ScorelensError into one line on stderr.
    code, err = run_cli("evaluate", "-w", tmp_path / "empty", "-m", workspace / "corpus.toml")
    assert code == 1
    assert "no music features in the workspace" in err and "Traceback" not in err


def test_a_large_corpus_is_announced_before_hours_of_work(caplog):
    import logging

    caplog.set_level(logging.WARNING)   # an earlier `-q` command may have raised the root level to ERROR
    from scorelens.analysis._data import CorpusBags
    from scorelens.stages._bags import LARGE_CORPUS_INSTANCES
    from scorelens.stages._bags import warn_if_large as _warn_if_large

    def corpus(n):
        return CorpusBags(["a", "b"], [np.zeros((n, 2), np.float32)] * 2, np.ones((2, 1)), ("A",),
                          ["x/y/z", "x/y/w"], "frame", kind="vggish")

    _warn_if_large([corpus(LARGE_CORPUS_INSTANCES // 2)])
    assert not caplog.records
    _warn_if_large([corpus(LARGE_CORPUS_INSTANCES)])
    assert "--max-instances" in caplog.text and "vggish" in caplog.text


def test_evaluate_tries_each_hidden_size(workspace, cli):
    ws = workspace / "ws"
    res = cli("-q", "evaluate", "-w", ws, "-m", workspace / "corpus.toml", "--model", "average", "--epochs", "4",
              "--hidden", "4", "--hidden", "8", "--learning-rate", "0.01")
    assert res.exit_code == 0, res.output
    out = ws / "results" / "evaluation" / "cue"
    table = pd.read_csv(out / "table4.csv", keep_default_na=False)
    assert table.loc[table["model"] == "Avg. Pooling", "hidden"].item() in ("4", "8")
    assert table.loc[table["model"] == "Random Guess", "hidden"].item() == ""
    runs = json.loads((out / "table4.json").read_text())["runs"]
    assert sorted(r["hidden"] for r in runs if r["key"] == "network:average") == [4, 8]
    assert json.loads((ws / "settings" / "evaluate.json").read_text())["model"]["hidden_sizes"] == [4, 8]


@pytest.mark.filterwarnings("ignore:.*without any cue left out")
def test_imv_forest_is_binary_relevance_unless_asked(workspace, cli):
    ws = workspace / "ws"
    for flag, multi in ((), False), (("--imv-multi-output",), True):
        target = workspace / f"imv-{multi}.pt"
        res = cli("-q", "train", "-w", ws, "-m", workspace / "corpus.toml", "-f", "mir", "--model", "imv:rf",
                  *flag, "-o", target)
        assert res.exit_code == 0, res.output
        est = load_artifact(target, feature_names=[f"timbre/x{j}/mean" for j in range(5)], kind="mir").estimator
        assert est.multi_output is multi and est.multi_output_ is multi
        assert len(est.estimators_) == (1 if multi else len(GENRES))


def test_device_flag_sets_model_device(workspace, cli, run_cli, monkeypatch):
    import torch

    ws = workspace / "ws"
    res = cli("-q", "train", "-w", ws, "-m", workspace / "corpus.toml", "-f", "mir", "--model", "average",
              "--epochs", "2", "--hidden", "4", "--device", "cpu", "-o", workspace / "cpu.pt")
    assert res.exit_code == 0, res.output
    model = load_artifact(workspace / "cpu.pt", kind="mir")
    assert model.settings["ModelConfig"]["device"] == "cpu"
    if torch.cuda.is_available():
        return
    # Through the console-script entry: a CUDA device without a GPU is one line on stderr.
    code, err = run_cli("train", "-w", ws, "-m", workspace / "corpus.toml", "-f", "mir", "--model", "average",
                        "--epochs", "1", "--hidden", "4", "--device", "cuda", "-o", workspace / "cuda.pt")
    assert code == 1 and "Traceback" not in err
    (line,) = [t for t in err.splitlines() if "model.device" in t]
    assert line.startswith("error: device='cuda' (model.device): PyTorch sees no CUDA GPU")
    code, err = run_cli("evaluate", "-w", ws, "-m", workspace / "corpus.toml", "--model", "average",
                        "--device", "gpu")
    assert code == 1 and "device='gpu'" in err and "Traceback" not in err
