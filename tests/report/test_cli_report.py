"""``scorelens crossmodal`` and ``scorelens figures`` on a small workspace of made-up stage outputs."""

import json
import shutil

import numpy as np
import pandas as pd
import pytest

GENRES = ["Action", "Comedy", "Drama"]
RUNS = [("none", "random"), ("vggish", "network:attention"), ("vggish", "network:average"),
        ("mir", "network:average"), ("mir", "simple_mi:svm")]


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """A manifest and a workspace holding what stamp, visual and evaluate would have written."""
    root = tmp_path_factory.mktemp("report_cli")
    rng = np.random.default_rng(7)
    ids = [f"f{i:02d}" for i in range(12)]
    true = np.array([[(i // 4) % 2, i % 2, (i // 2) % 2] for i in range(12)])
    true[:, 0] |= ~true.any(axis=1) & 1
    films = [f'[[film]]\nid = "{f}"\nfilm = "films/{f}.mkv"\nsoundtrack = "st/"\n'
             f'genres = {json.dumps([g for g, on in zip(GENRES, true[i]) if on])}\n' for i, f in enumerate(ids)]
    (root / "corpus.toml").write_text('[corpus]\ngenres = ["Action", "Comedy", "Drama"]\n' + "\n".join(films))
    ws = root / "ws"
    ws.mkdir()
    (ws / ".scorelens-workspace").write_text("{}\n")
    frames = []
    for features, model in RUNS:
        proba = np.clip(0.45 * true + rng.random(true.shape) * 0.6, 0, 1)
        frames.append(pd.DataFrame({
            "film_id": np.repeat(ids, 3), "features": features, "model": model, "genre": np.tile(GENRES, 12),
            "probability": proba.reshape(-1), "predicted": (proba >= 0.5).reshape(-1).astype(np.int8),
            "true": true.reshape(-1).astype(np.int8)}))
    (ws / "results" / "evaluation" / "cue").mkdir(parents=True)
    pd.concat(frames).to_parquet(ws / "results" / "evaluation" / "cue" / "predictions.parquet")
    (ws / "cues").mkdir()
    clips, grid = [], []
    for i, film in enumerate(ids):
        starts = np.array([30.0, 200.0, 420.0])
        pd.DataFrame({"film_id": film, "cue_id": np.arange(3), "track_id": "x", "track": ["a", "b", "a"],
                      "track_path": "st/a.wav", "start_s": starts, "end_s": starts + 60, "track_offset_s": 0.0,
                      "windows": 12, "votes": 40, "confidence": 0.5}).to_parquet(ws / "cues" / f"{film}.parquet")
        for c, s in enumerate(starts):
            clips.append({"film_id": film, "cue_id": c, "start_s": s, "end_s": s + 60, "n_frames": 60,
                          "brightness": 0.3 + 0.2 * true[i, 1] + rng.normal(0, 0.01), "contrast": 0.4})
        grid.append(pd.DataFrame({"film_id": film, "time_s": np.arange(600) + 0.5, "brightness": 0.3,
                                  "contrast": 0.4}))
    (ws / "features" / "visual").mkdir(parents=True)
    pd.DataFrame(clips).to_parquet(ws / "features" / "visual" / "cues.parquet")
    pd.concat(grid).to_parquet(ws / "features" / "visual" / "frames.parquet")
    return root


def test_crossmodal_writes_table5(project, cli):
    ws = project / "ws"
    res = cli("crossmodal", "-w", ws, "-m", project / "corpus.toml", "--alpha", "0.05")
    assert res.exit_code == 0, res.output
    assert "Table 5 · brightness" in res.output and "Table 5 · contrast" in res.output
    out = ws / "results" / "crossmodal"
    table = pd.read_csv(out / "table5.csv")
    assert len(table) == 2 * 3 * 3 and set(table["source"]) == {"actual", "predicted", "false_positive"}
    comedy = table[(table["feature"] == "brightness") & (table["source"] == "actual") & (table["genre"] == "Comedy")]
    assert comedy["significant"].item() and comedy["difference_x10"].item() > 1.5
    report = json.loads((out / "table5.json").read_text())
    assert (report["features"], report["model"], report["alpha"], report["m"]) == ("vggish", "network:attention",
                                                                                   0.05, 3)
    assert report["n_clips"] == 36 and len(report["films"]) == 12
    assert "| Comedy | **" in (out / "table5.md").read_text()
    assert (out / "table5.csv.done.json").exists()
    settings = json.loads((ws / "settings" / "crossmodal.json").read_text())["crossmodal"]
    assert (settings["model"], settings["alpha"], settings["level"]) == ("network:attention", 0.05, "cue")


def test_crossmodal_unknown_model_is_one_line_error(project, run_cli):
    code, err = run_cli("crossmodal", "-w", project / "ws", "-m", project / "corpus.toml",
                        "--model", "imv:rf")
    assert code == 1 and "Traceback" not in err
    assert "model 'imv:rf' is not in the predictions" in err and "vggish/network:attention" in err
    # A model that ran on several kinds: as in `scorelens run`, VGGish's run labels the clips (the study's).
    code, err = run_cli("crossmodal", "-w", project / "ws", "-m", project / "corpus.toml", "--model", "average")
    assert code == 0, err
    assert json.loads((project / "ws" / "settings" / "crossmodal.json").read_text())["crossmodal"]["features"] == \
        "vggish"


def _copy(project, tmp_path):
    """The stage outputs of the shared workspace, without what earlier tests of this module wrote."""
    ws = tmp_path / "ws"
    shutil.copytree(project / "ws", ws, ignore=shutil.ignore_patterns("crossmodal", "figures", "settings"))
    return ws


def _copy_without(project, tmp_path, *parts):
    ws = _copy(project, tmp_path)
    (ws.joinpath(*parts)).unlink()
    return ws


def test_crossmodal_without_predictions(project, tmp_path, run_cli):
    ws = _copy_without(project, tmp_path, "results", "evaluation", "cue", "predictions.parquet")
    code, err = run_cli("crossmodal", "-w", ws, "-m", project / "corpus.toml")
    assert code == 1 and "Traceback" not in err
    assert "predictions.parquet: no cross-validated predictions; run `scorelens evaluate --level cue` first" in err
    assert not (ws / "results" / "crossmodal").exists()


def test_crossmodal_without_visual_cues(project, tmp_path, run_cli):
    ws = _copy_without(project, tmp_path, "features", "visual", "cues.parquet")
    code, err = run_cli("crossmodal", "-w", ws, "-m", project / "corpus.toml")
    assert code == 1 and "Traceback" not in err
    assert "visual/cues.parquet: no visual cue summaries; run `scorelens stamp` and then `scorelens visual" in err


def test_figures_default_runs(project, cli):
    ws = project / "ws"
    res = cli("-q", "figures", "-w", ws, "-m", project / "corpus.toml")
    assert res.exit_code == 0, res.output
    out = ws / "results" / "figures"
    for name in ("pr_curves.png", "per_film_scatter.png", "cue_timeline.png"):
        assert (out / name).read_bytes()[:4] == b"\x89PNG", name
    scatter = pd.read_csv(out / "per_film_scores.csv")
    # S3: the average pooling model of each music feature kind; the baselines ("none") are left out.
    assert sorted(set(zip(scatter["features"], scatter["model"]))) == [("mir", "network:average"),
                                                                      ("vggish", "network:average")]
    ap = pd.read_csv(out / "average_precision.csv")
    assert sorted(set(ap["features"])) == ["mir", "vggish"] and len(ap) == 2 * 3


def test_figures_chosen_runs_and_formats(project, tmp_path, cli):
    ws = _copy(project, tmp_path)
    res = cli("figures", "-w", ws, "--features", "vggish", "--model", "attention", "--model", "average",
                 "--figure", "pr", "--format", "svg", "--format", "pdf")
    assert res.exit_code == 0, res.output
    out = ws / "results" / "figures"
    assert sorted(p.name for p in out.iterdir() if not p.name.endswith(".done.json")) == [
        "average_precision.csv", "pr_curves.pdf", "pr_curves.svg"]
    ap = pd.read_csv(out / "average_precision.csv")
    assert list(dict.fromkeys(ap["model"])) == ["network:attention", "network:average"]
    assert "Average precision per genre" in res.output


def test_figures_timeline_needs_only_cue_tables(project, tmp_path, cli, run_cli):
    ws = _copy_without(project, tmp_path, "results", "evaluation", "cue", "predictions.parquet")
    res = cli("-q", "figures", "-w", ws, "--figure", "timeline")
    assert res.exit_code == 0, res.output
    assert (ws / "results" / "figures" / "cue_timeline.png").exists()
    code, err = run_cli("figures", "-w", ws)
    assert code == 1 and "predictions.parquet: no cross-validated predictions" in err
    shutil.rmtree(ws / "cues")
    code, err = run_cli("figures", "-w", ws, "--figure", "timeline")
    assert code == 1 and "cues: no cue tables; run `scorelens stamp` first" in err
