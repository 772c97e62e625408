"""One contract for every stage, one settings path for every command, and a workspace that tells the truth."""

import inspect
import json
import shutil

import pandas as pd
import pytest

import scorelens
from scorelens.exceptions import ResultMissing, WorkspaceError
from scorelens.stages import STAGES, StageReport, stage_function
from scorelens.workspace import Workspace


def _copy_corpus(small_corpus, folder):
    shutil.copytree(small_corpus.parent, folder)
    return folder / "corpus.toml"


def _keep_films(manifest, keep):
    """Rewrite a generated manifest with only the films in ``keep``."""
    text = manifest.read_text()
    head, *films = text.split("[[film]]")
    manifest.write_text(head + "".join("[[film]]" + f for f in films if any(f'id = "{k}"' in f for k in keep)))
    return manifest


def test_every_stage_has_the_one_shape():
    for name, stage in STAGES.items():
        sig = inspect.signature(stage_function(stage))
        params = list(sig.parameters.values())
        assert [p.name for p in params[:3]] == ["workspace", "config", "corpus"], name
        keyword = {p.name for p in params if p.kind is inspect.Parameter.KEYWORD_ONLY}
        assert keyword == {"executor", "progress"}, name
        assert sig.return_annotation in ("StageReport", StageReport), name
        assert all(n in STAGES for n in stage.needs) and stage.help and stage.writes, name
    # The CLI's --stage help reads the same list.
    from scorelens.stages._graph import stages_help

    assert all(name in stages_help() for name in STAGES)


def test_one_film_corpus_skips_the_models_and_ends_well(small_corpus, tmp_path, fast_settings):
    manifest = _keep_films(_copy_corpus(small_corpus, tmp_path / "corpus"), ["film01"])
    report = scorelens.run(manifest, workspace=tmp_path / "ws", overrides=fast_settings)
    status = {s.stage: s.status for s in report.stages}
    assert report.exit_code == 0, status
    assert status["stamp"] == "done" and status["features"] == "done" and status["visual"] == "done"
    assert status["evaluate"] == "skipped" and "leave-one-out" in report.stage("evaluate").detail
    assert status["importance"] == "skipped" and status["crossmodal"] == "skipped"
    assert status["figures"] == "done" and status["report"] == "done"  # the timeline needs no models
    record = json.loads((tmp_path / "ws" / "results" / "run.json").read_text())
    assert record["exit_code"] == 0
    assert {s["stage"]: s["status"] for s in record["stages"]}["evaluate"] == "skipped"


def test_a_rerun_with_nothing_changed_does_no_work(small_corpus, tmp_path, fast_settings, run_cli, fast_sets):
    manifest = _copy_corpus(small_corpus, tmp_path / "corpus")
    broken = manifest.parent / "films" / "film02.mkv"
    broken.write_bytes(b"\x1aE\xdf\xa3 truncated matroska" + b"\x00" * 300)
    ws = tmp_path / "ws"
    code, _ = run_cli("-q", "run", manifest, "-w", ws, "--keep-going", *fast_sets)
    assert code == 3
    # Again, nothing changed: the failure is recorded again from the record, not re-attempted.
    again = scorelens.run(manifest, workspace=ws, overrides={**fast_settings, "run.keep_going": True})
    assert again.exit_code == 3
    stamp = again.stage("stamp")
    assert stamp.status == "reused" and stamp.failed.keys() == {"film02"}
    assert [f.get("recorded") for f in stamp.failures] == [True] and "film02.mkv" in stamp.failed["film02"]
    worked = [(s.stage, s.status, s.detail) for s in again.stages if s.status not in ("reused", "skipped")]
    assert not worked, worked
    # Repaired film: the next run stamps it (its file changed), and Table 4 has all four films again.
    shutil.copy(manifest.parent / "films" / "film01.mp4", broken.with_suffix(".mp4"))
    manifest.write_text(manifest.read_text().replace("film02.mkv", "film02.mp4"))
    fixed = scorelens.run(manifest, workspace=ws, overrides=fast_settings)
    assert fixed.exit_code == 0 and fixed.stage("stamp").status == "done"


def test_retry_failed_tries_again(small_corpus, tmp_path, fast_settings):
    manifest = _copy_corpus(small_corpus, tmp_path / "corpus")
    (manifest.parent / "films" / "film03.mp4").write_bytes(b"not a film")
    ws = tmp_path / "ws"
    overrides = {**fast_settings, "run.keep_going": True, "run.stages": ["index", "stamp"]}
    scorelens.run(manifest, workspace=ws, overrides=overrides)
    retried = scorelens.run(manifest, workspace=ws, overrides={**overrides, "run.retry_failed": True})
    (failure,) = retried.stage("stamp").failures
    assert failure["film"] == "film03" and not failure.get("recorded") and "film03.mp4" in failure["reason"]


def test_a_damaged_output_is_rebuilt(small_corpus, tmp_path, fast_settings):
    ws = tmp_path / "ws"
    overrides = {**fast_settings, "run.stages": ["index", "stamp", "features"]}
    scorelens.run(small_corpus, workspace=ws, overrides=overrides)
    layout = Workspace(ws).layout
    cue_table, shard = layout.cue_table("film01"), layout.feature_shard("mir", "film02")
    good_cues, good_shard = cue_table.read_bytes(), shard.read_bytes()
    cue_table.write_bytes(good_cues[: len(good_cues) // 2])
    shard.write_bytes(good_shard[:100])
    again = scorelens.run(small_corpus, workspace=ws, overrides=overrides)
    assert again.exit_code == 0
    assert "film01" not in again.stage("stamp").reused and cue_table.read_bytes() == good_cues
    assert "mir:film02" not in again.stage("features").reused
    pd.testing.assert_frame_equal(pd.read_parquet(shard), pd.read_parquet(pd.io.common.BytesIO(good_shard)))


def test_a_film_removed_from_the_manifest_is_gone_from_the_results(small_corpus, tmp_path, fast_settings):
    manifest = _copy_corpus(small_corpus, tmp_path / "corpus")
    ws = tmp_path / "ws"
    scorelens.run(manifest, workspace=ws, overrides=fast_settings)
    _keep_films(manifest, ["film01", "film02", "film03"])
    scorelens.run(manifest, workspace=ws, overrides=fast_settings)
    study = scorelens.open(ws)
    assert set(study.predictions()["film_id"]) == {"film01", "film02", "film03"}
    assert set(study.attention()["film_id"]) <= {"film01", "film02", "film03"}
    assert set(study.features("mir")["film_id"]) == {"film01", "film02", "film03"}
    assert set(study.corpus()["film_id"]) == {"film01", "film02", "film03"}
    layout = Workspace(ws).layout
    assert "film04" not in pd.read_csv(layout.figures_dir / "per_film_scores.csv").to_string()
    assert "film04" not in layout.report("md").read_text()


def test_the_stages_one_by_one_give_what_run_gives(small_corpus, tmp_path, fast_settings, run_cli):
    """The per-stage commands read the same settings as `run` (here from the manifest's [settings])."""
    manifest = _copy_corpus(small_corpus, tmp_path / "corpus")
    table = "\n".join(f"{k} = {json.dumps(v)}" for k, v in {**fast_settings, "mir.texture_window_s": 4.0}.items())
    manifest.write_text("[settings]\n" + table + "\n\n" + manifest.read_text())
    whole, steps = tmp_path / "whole", tmp_path / "steps"
    assert run_cli("-q", "run", manifest, "-w", whole)[0] == 0
    for args in (["stamp", "-m", manifest], ["features", "-m", manifest], ["visual", "-m", manifest],
                 ["evaluate", "-m", manifest], ["importance", "-m", manifest], ["crossmodal", "-m", manifest],
                 ["figures", "-m", manifest]):
        code, err = run_cli("-q", *args, "-w", steps)
        assert code == 0, (args, err)
    a, b = scorelens.open(whole), scorelens.open(steps, manifest=manifest)
    for read in (lambda s: s.cues(), lambda s: s.features("mir"), lambda s: s.features("visual"),
                 lambda s: s.table4(), lambda s: s.predictions(), lambda s: s.importance(), lambda s: s.table5()):
        pd.testing.assert_frame_equal(read(a), read(b), check_exact=True)
    assert a.features("mir").attrs["scorelens"]["settings"]["texture_window_s"] == 4.0


def test_paths_with_spaces_and_non_ascii_letters(small_corpus, tmp_path, fast_settings, run_cli, fast_sets):
    folder = tmp_path / "Études de cas" / "films à voir"
    manifest = _copy_corpus(small_corpus, folder)
    manifest = manifest.rename(folder / "mon corpus.toml")
    ws = tmp_path / "espace de travail — résultats"
    code, err = run_cli("-q", "run", manifest, "-w", ws, *fast_sets)
    assert code == 0, err
    study = scorelens.open(ws)
    assert len(study.cues()) > 0 and study.manifest == manifest and len(study.table4()) > 0


def test_open_study_names_the_stage_of_a_missing_result(small_corpus, tmp_path, fast_settings):
    with pytest.raises(WorkspaceError, match="not a scorelens workspace"):
        scorelens.open(tmp_path / "nothing")
    assert not (tmp_path / "nothing").exists()  # opening reads; it creates nothing
    ws = tmp_path / "ws"
    scorelens.run(small_corpus, workspace=ws, overrides={**fast_settings, "run.stages": ["index", "stamp"]})
    study = scorelens.open(ws)
    assert len(study.cues()) > 0 and study.run_record()["exit_code"] == 0
    with pytest.raises(ResultMissing, match="evaluate stage"):
        study.table4()
    with pytest.raises(ResultMissing, match="features stage"):
        study.features("mir")
    with pytest.raises(ResultMissing, match="crossmodal stage"):
        study.table5()
