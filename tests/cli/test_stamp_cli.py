"""The stamper's commands as a user runs them: real processes, exit codes, files, messages."""

import json
import subprocess
import sys

import pandas as pd
import pytest

from scorelens.demo._films import make_corpus


def scorelens(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "scorelens", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, timeout=300)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("corpus")
    return make_corpus(root, n_films=3, film_duration_s=45.0, tracks_per_film=2, track_duration_s=20.0, seed=7,
                       containers=("mp4", "mkv", "webm"), levels_db=(0.0, -5.0), foreign_music=False)


def test_index_stamp_evaluate_a_film(tmp_path, corpus):
    root = corpus.parent
    ws = tmp_path / "ws"
    r = scorelens("index", root / "soundtracks" / "film01", "--workspace", ws)
    assert r.returncode == 0, r.stderr
    assert "2 track(s) added" in r.stdout
    r = scorelens("index", root / "soundtracks" / "film01", "--workspace", ws)
    assert "0 track(s) added, 2 already indexed" in r.stdout
    cues_csv = tmp_path / "cues.csv"
    r = scorelens("stamp", root / "films" / "film01.mp4", "--soundtrack", root / "soundtracks" / "film01",
                  "--workspace", ws, "--out", cues_csv, "--cue-sheet", tmp_path / "sheet.json")
    assert r.returncode == 0, r.stderr
    cues = pd.read_csv(cues_csv)
    truth = pd.read_csv(root / "truth" / "film01.csv")
    assert (tmp_path / "cues.parquet").exists()
    assert list(cues["track"]) == list(truth["track"])
    assert (cues["start_s"] - truth["start_s"]).abs().max() < 1.0
    assert (cues["end_s"] - truth["end_s"]).abs().max() < 1.0
    sheet = json.loads((tmp_path / "sheet.json").read_text())
    first = sheet["films"][0]["cues"][0]
    assert first["cue"] == "1M" and first["in"].count(":") == 1 and first["title"].startswith("film01_")
    r = scorelens("stamp-eval", "--truth", root / "truth" / "film01.csv", "--pred", cues_csv, "--json",
                  tmp_path / "eval.json")
    assert r.returncode == 0, r.stderr
    scores = json.loads((tmp_path / "eval.json").read_text())
    assert scores["mean"]["second_precision"] >= 0.95
    # 5-7 s cues with 0.5 s fades: up to a second lost per cue at the faded edges.
    assert scores["mean"]["second_recall"] >= 0.75
    assert scores["mean"]["cue_recall"] == 1.0


def test_corpus_run_keeps_going_and_resumes(tmp_path, corpus):
    root = corpus.parent
    broken = tmp_path / "corpus"
    subprocess.run(["cp", "-r", str(root), str(broken)], check=True)
    (broken / "films" / "film02.mkv").write_bytes(b"\x1aE\xdf\xa3 truncated matroska" + b"\x00" * 300)
    ws = tmp_path / "ws"
    r = scorelens("stamp", "--manifest", broken / "corpus.toml", "--workspace", ws)
    assert r.returncode == 1
    assert "film02" in r.stderr and "film02.mkv" in r.stderr
    # Without --keep-going the run stops at film02; film01, finished before, stays.
    assert (ws / "cues" / "film01.parquet").exists() and not (ws / "cues" / "film03.parquet").exists()
    r = scorelens("stamp", "--manifest", broken / "corpus.toml", "--workspace", ws, "--keep-going")
    assert r.returncode == 1
    assert "1 stamped, 1 reused, 1 failed" in r.stdout
    assert "failed: film02" in r.stderr
    assert (ws / "cues" / "film01.parquet").exists() and (ws / "cues" / "film03.parquet").exists()
    # Repair the film: a re-run stamps only what is missing.
    (broken / "films" / "film02.mkv").write_bytes((root / "films" / "film02.mkv").read_bytes())
    r = scorelens("stamp", "--manifest", broken / "corpus.toml", "--workspace", ws, "--keep-going")
    assert r.returncode == 0, r.stderr
    assert "1 stamped, 2 reused, 0 failed" in r.stdout
    r = scorelens("stamp-eval", "--manifest", broken / "corpus.toml", "--workspace", ws, "--json", tmp_path / "e.json")
    assert r.returncode == 0, r.stderr
    assert len(json.loads((tmp_path / "e.json").read_text())["per_film"]) == 3


def test_bad_inputs_exit_non_zero_with_one_clear_line(tmp_path, corpus):
    ws = tmp_path / "ws"
    notes = tmp_path / "notes.mp3"
    notes.write_text("not audio\n" * 100)
    r = scorelens("index", notes, "--workspace", ws)
    assert r.returncode == 1
    assert "notes.mp3: not a media file FFmpeg can read" in r.stderr
    assert "Traceback" not in r.stderr
    empty_dir = tmp_path / "empty_st"
    empty_dir.mkdir()
    r = scorelens("index", empty_dir, "--workspace", ws)
    assert r.returncode == 1 and "holds no audio files" in r.stderr
    r = scorelens("stamp", tmp_path / "absent.mp4", "--workspace", ws)
    assert r.returncode != 0 and "absent.mp4" in r.stderr
    bad_manifest = tmp_path / "m.toml"
    bad_manifest.write_text('[[film]]\nid = "x"\nfilm = "nope.mp4"\nsoundtrack = "st/"\ngenres = ["Western"]\n')
    r = scorelens("stamp", "--manifest", bad_manifest, "--workspace", ws)
    assert r.returncode == 1
    assert "nope.mp4 does not exist" in r.stderr and "unknown genre 'Western'" in r.stderr
    other_db = tmp_path / "other.sqlite"
    import sqlite3
    with sqlite3.connect(other_db) as conn:
        conn.execute("CREATE TABLE x (y)")
    r = scorelens("index", corpus.parent / "soundtracks" / "film01", "--db", other_db)
    assert r.returncode == 1 and "not a scorelens fingerprint database" in r.stderr


def test_help_on_every_command():
    for cmd in ("index", "stamp", "stamp-eval", "cue-sheet", "demo"):
        r = scorelens(cmd, "--help")
        assert r.returncode == 0 and "Usage" in r.stdout, cmd


@pytest.mark.parametrize("value", ["1.5", "fast"])
def test_speed_outside_the_range_is_a_one_line_error(tmp_path, value):
    r = scorelens("stamp", tmp_path / "film.mp4", "--speed", value, "--workspace", tmp_path / "ws")
    assert r.returncode != 0
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "speed=" in lines[0] and "0.90-1.10" in lines[0], r.stderr


# --- reliability (issue 10): output folders, the workspace copy, early errors, damaged tracks ---------------

def test_outputs_in_new_folders_and_the_cue_table_in_the_workspace(tmp_path, corpus):
    root = corpus.parent
    ws = tmp_path / "ws"
    out, sheet = tmp_path / "new" / "dir" / "cues.csv", tmp_path / "other" / "new" / "sheet.json"
    r = scorelens("stamp", root / "films" / "film01.mp4", "-s", root / "soundtracks" / "film01", "--out", out,
                  "--cue-sheet", sheet, "-w", ws)
    assert r.returncode == 0, r.stderr
    assert out.is_file() and sheet.is_file()
    # --out is an extra copy: the cue table is in the workspace too, so `features` finds it.
    in_ws = pd.read_parquet(ws / "cues" / "film01.parquet")
    pd.testing.assert_frame_equal(pd.read_parquet(out.with_suffix(".parquet")), in_ws)
    assert list(in_ws["track"]) == list(pd.read_csv(root / "truth" / "film01.csv")["track"])
    r = scorelens("features", "-w", ws, "--kind", "mir")
    assert r.returncode == 0, r.stderr
    features = pd.read_parquet(ws / "features" / "mir" / "cues.parquet")
    assert set(features["film_id"]) == {"film01"} and len(features) == len(in_ws)
    # The other writers create their folders too.
    r = scorelens("cue-sheet", ws / "cues" / "film01.parquet", "--out", tmp_path / "a" / "b" / "x.csv")
    assert r.returncode == 0, r.stderr
    assert len(pd.read_csv(tmp_path / "a" / "b" / "x.csv")) == len(in_ws)
    # One film's cues as an Audacity label track: start, end and a label naming the track, per line.
    r = scorelens("cue-sheet", ws / "cues" / "film01.parquet", "--out", tmp_path / "labels.txt", "--format",
                  "audacity")
    assert r.returncode == 0, r.stderr
    labels = [line.split("\t") for line in (tmp_path / "labels.txt").read_text().splitlines()]
    assert len(labels) == len(in_ws)
    assert [round(float(a), 3) for a, _, _ in labels] == [round(x, 3) for x in in_ws["start_s"]]
    assert all(track in label for (_, _, label), track in zip(labels, in_ws["track"]))
    r = scorelens("stamp-eval", "--truth", root / "truth" / "film01.csv", "--pred", out, "--json",
                  tmp_path / "c" / "d" / "e.json")
    assert r.returncode == 0, r.stderr
    assert json.loads((tmp_path / "c" / "d" / "e.json").read_text())["mean"]["cue_recall"] == 1.0


def test_an_unwritable_output_fails_in_one_line_before_any_work(tmp_path, corpus):
    root = corpus.parent
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    ws = tmp_path / "ws"
    for option in ("--out", "--cue-sheet"):
        target = blocker / "sub" / ("cues.csv" if option == "--out" else "sheet.json")
        r = scorelens("stamp", root / "films" / "film01.mp4", "-s", root / "soundtracks" / "film01", option, target,
                      "-w", ws)
        assert r.returncode == 1, r.stderr
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and str(blocker) in lines[0] and option in lines[0], r.stderr
        assert not (ws / "cues").exists() or not any((ws / "cues").iterdir())  # nothing was stamped
    r = scorelens("cue-sheet", root / "truth" / "film01.csv", "--out", blocker / "x.csv")
    assert r.returncode == 1 and len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr


def test_quiet_and_verbose_after_the_command_name(tmp_path, corpus):
    tracks = corpus.parent / "soundtracks" / "film01"
    loud = scorelens("index", tracks, "-w", tmp_path / "ws1")
    quiet = scorelens("index", tracks, "-w", tmp_path / "ws2", "-q")
    assert loud.returncode == quiet.returncode == 0, quiet.stderr
    assert "track(s) added" in loud.stdout and "track(s) added" not in quiet.stdout
    verbose = scorelens("index", tracks, "-w", tmp_path / "ws3", "-v")
    assert verbose.returncode == 0 and "track(s) added" in verbose.stdout, verbose.stderr


def test_index_of_a_folder_of_per_film_folders(tmp_path, corpus):
    # corpus/soundtracks/film01/, film02/, film03/: two tracks each.
    r = scorelens("index", corpus.parent / "soundtracks", "-w", tmp_path / "ws")
    assert r.returncode == 0, r.stderr
    assert "6 track(s) added" in r.stdout


def damage_a_track(folder):
    """Add a truncated copy of one of the folder's tracks (its first 5 kB: a header and a sliver of audio)."""
    first = min(p for p in folder.iterdir() if p.suffix in (".mp3", ".flac"))
    damaged = folder / f"zz_damaged{first.suffix}"
    damaged.write_bytes(first.read_bytes()[:5000])
    return damaged


def test_a_damaged_track_is_named_and_the_film_stamped_against_the_others(tmp_path, corpus):
    root = corpus.parent
    copy = tmp_path / "corpus"
    subprocess.run(["cp", "-r", str(root), str(copy)], check=True)
    damaged = damage_a_track(copy / "soundtracks" / "film01")
    truth = pd.read_csv(root / "truth" / "film01.csv")
    r = scorelens("stamp", copy / "films" / "film01.mp4", "-s", copy / "soundtracks" / "film01", "-w", tmp_path / "ws")
    assert r.returncode == 0, r.stderr
    assert "warning" in r.stderr and damaged.name in r.stderr
    cues = pd.read_parquet(tmp_path / "ws" / "cues" / "film01.parquet")
    assert list(cues["track"]) == list(truth["track"])
    # The run records the damaged track in run.json, and stamps the film.
    r = scorelens("-q", "run", copy / "corpus.toml", "-w", tmp_path / "run", "--stage", "index", "--stage", "stamp")
    assert r.returncode == 0, r.stderr
    assert damaged.name in r.stderr
    record = json.loads((tmp_path / "run" / "results" / "run.json").read_text())
    warned = json.dumps([s["warnings"] for s in record["stages"]])
    assert damaged.name in warned
    assert list(pd.read_parquet(tmp_path / "run" / "cues" / "film01.parquet")["track"]) == list(truth["track"])


def test_train_defaults_to_musicnn(tmp_path, corpus):
    # No features in the workspace: the error names the kind train looked for.
    r = scorelens("train", "-w", tmp_path / "ws", "--manifest", corpus, "--epochs", 1)
    assert r.returncode == 1 and "'musicnn' features" in r.stderr and "Traceback" not in r.stderr
