"""`scorelens run`: every stage in order, resumable, recorded, and refusing a busy workspace."""

import json
import shutil

import pandas as pd
import pytest

import scorelens
from scorelens.exceptions import WorkspaceError
from scorelens.workspace import Workspace

STAGES = ["index", "stamp", "features", "visual", "evaluate", "importance", "crossmodal", "figures", "report"]


def statuses(report):
    return {s.stage: s.status for s in report.stages}


def outputs(ws):
    """Every committed output of a workspace (relative path -> bytes), records and volatile files aside."""
    root = ws.root if hasattr(ws, "root") else ws
    skip = (".done.json", ".lock", "run.json", "report.md", "report.html", ".png", ".pdf", ".svg")
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and not p.name.endswith(skip) and "settings" not in p.parts
            and p.name != "fingerprints.sqlite" and not p.name.startswith(".")}


def test_whole_run_then_a_second_run_reuses_everything(small_corpus, tmp_path, default_kinds_settings):
    fast_settings = default_kinds_settings  # the product's kinds: mir and musicnn
    ws = tmp_path / "ws"
    report = scorelens.run(small_corpus, workspace=ws, overrides=fast_settings)
    assert [s.stage for s in report.stages] == STAGES
    assert set(statuses(report).values()) == {"done"}, statuses(report)
    assert report.exit_code == 0 and report.failures == []
    layout = Workspace(ws).layout
    for path in (layout.table4("cue", "md"), layout.predictions(), layout.table5("csv"), layout.report("html"),
                 layout.figure("cue_timeline"), layout.stamp_eval(), layout.features("mir", "cue")):
        assert path.is_file(), path
    record = json.loads(layout.run_record().read_text())
    assert [s["status"] for s in record["stages"]] == ["done"] * len(STAGES)
    assert record["settings"]["model"]["epochs"] == 3 and record["exit_code"] == 0
    # The settings actually used are in the workspace and in the report's provenance.
    assert json.loads(layout.settings("run").read_text())["model"]["epochs"] == 3
    assert '"epochs": 3' in layout.report("md").read_text()
    before = outputs(Workspace(ws))
    again = scorelens.run(small_corpus, workspace=ws, overrides=fast_settings)
    assert set(statuses(again).values()) == {"reused"}, statuses(again)
    assert outputs(Workspace(ws)) == before
    # The results in a notebook: DataFrames of what the stages wrote, through one read-only object.
    study = scorelens.open(ws)
    films = study.corpus()
    assert list(films["film_id"]) == ["film01", "film02", "film03", "film04"]
    assert (films["n_cues"] > 0).all() and films["music_share"].between(0, 1).all()
    assert set(study.table4()["features"]) >= {"mir", "musicnn"}
    assert set(study.features("musicnn")["film_id"]) == set(films["film_id"])
    weights = study.attention()
    stored = pd.read_parquet(layout.instance_weights())
    pd.testing.assert_frame_equal(weights, stored)
    assert len(study.cues()) == int(films["n_cues"].sum()) and len(study.stamp_eval()) == 4
    assert len(study.importance()) > 0 and len(study.table5()) > 0
    assert study.run_record()["exit_code"] == 0


def test_one_changed_setting_redoes_what_depends_on_it(small_corpus, tmp_path, fast_settings):
    ws = tmp_path / "ws"
    scorelens.run(small_corpus, workspace=ws, overrides=fast_settings)
    changed = scorelens.run(small_corpus, workspace=ws, overrides={**fast_settings, "mir.texture_window_s": 4.0})
    s = statuses(changed)
    assert (s["index"], s["stamp"], s["visual"]) == ("reused", "reused", "reused")
    assert (s["features"], s["evaluate"], s["importance"]) == ("done", "done", "done")
    meta = pd.read_parquet(Workspace(ws).layout.features("mir", "cue")).attrs
    assert Workspace(ws).record(Workspace(ws).layout.features("mir", "cue"))["settings"]["settings"][
        "texture_window_s"] == 4.0, meta


def test_keep_going_leaves_a_broken_film_out_and_reports_it(small_corpus, tmp_path, fast_settings, run_cli):
    corpus = tmp_path / "corpus"
    shutil.copytree(small_corpus.parent, corpus)
    (corpus / "films" / "film02.mkv").write_bytes(b"\x1aE\xdf\xa3 truncated matroska" + b"\x00" * 300)
    ws = tmp_path / "ws"
    sets = [f"--set={k}={json.dumps(v) if not isinstance(v, str) else v}" for k, v in fast_settings.items()]
    code, err = run_cli("-q", "run", corpus / "corpus.toml", "-w", ws, "--keep-going", *sets)
    assert code == 3, err
    assert "failed: stamp: film02:" in err and "film02.mkv" in err
    record = json.loads((ws / "results" / "run.json").read_text())
    assert record["exit_code"] == 3
    assert [(f["film"], f["stage"]) for f in record["failures"]] == [("film02", "stamp")]
    assert set(pd.read_parquet(ws / "features" / "mir" / "cues.parquet")["film_id"]) == {"film01", "film03", "film04"}
    assert "Failures of the last run" in (ws / "results" / "report" / "report.md").read_text()
    # Without --keep-going the first failure stops the run: exit 1, one line, the record says why.
    code, err = run_cli("run", corpus / "corpus.toml", "-w", tmp_path / "ws2", *sets)
    assert code == 1 and "film02" in err and "Traceback" not in err
    assert json.loads((tmp_path / "ws2" / "results" / "run.json").read_text())["fatal"].startswith("stamp:")


def test_a_second_run_on_a_busy_workspace_is_refused(small_corpus, tmp_path, run_cli):
    ws = Workspace(tmp_path / "ws")
    with ws.lock("another scorelens run"):
        with pytest.raises(WorkspaceError, match="workspace is in use by another scorelens run"):
            scorelens.run(small_corpus, workspace=ws.root)
        code, err = run_cli("run", small_corpus, "-w", ws.root)
        assert code == 1 and "in use" in err
    assert not ws.layout.cues_dir.exists()  # nothing was touched


def test_bad_settings_and_usage(small_corpus, tmp_path, run_cli):
    code, err = run_cli("run", small_corpus, "-w", tmp_path / "ws", "--set", "model.epoch=3")
    assert code == 1 and "unknown setting model.epoch" in err and "Traceback" not in err
    code, err = run_cli("run", tmp_path / "missing.toml")
    assert code == 2
    code, err = run_cli("run", small_corpus, "--workers", "2", "--scheduler", "tcp://127.0.0.1:1")
    assert code == 1 and "not both" in err


def test_missing_weights_stop_the_run_before_any_work(small_corpus, tmp_path, fast_settings, run_cli, monkeypatch):
    monkeypatch.setenv("SCORELENS_VGGISH_DIR", str(tmp_path / "no-weights"))
    ws = tmp_path / "ws"
    sets = [f"--set={k}={json.dumps(v) if not isinstance(v, str) else v}" for k, v in fast_settings.items()]
    code, err = run_cli("run", small_corpus, "-w", ws, *sets)
    assert code == 1 and "features:vggish:" in err and "no-weights" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert not (ws / "cues").exists()  # refused before stamping anything
    assert json.loads((ws / "results" / "run.json").read_text())["fatal"].startswith("features:vggish:")
    # With --keep-going the kind is recorded as failed and the other kinds carry the study through.
    code, err = run_cli("-q", "run", small_corpus, "-w", ws, "--keep-going", *sets)
    record = json.loads((ws / "results" / "run.json").read_text())
    status = {s["stage"]: s["status"] for s in record["stages"]}
    assert code == 3 and status["features"] == "done"
    assert [(f["kind"], f["stage"]) for f in record["failures"]] == [("vggish", "features")]
    assert "no-weights" in record["failures"][0]["reason"]
    assert status["evaluate"] == "done" and status["report"] == "done"
