"""``scorelens profile``: what a trained model hears in pieces of music, against the study it was trained in."""

import json
import re

import numpy as np
import pandas as pd
import pytest

import scorelens
from scorelens.config import ModelConfig
from scorelens.demo._media import write_audio
from scorelens.demo._synth import synth_track
from scorelens.features._base import get_kind
from scorelens.features._groups import pfi_group
from scorelens.features._pipeline import cue_frames, read_feature_metadata, write_feature_table
from scorelens.io._audio import load_audio
from scorelens.stages._evaluate import run_train

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def pieces(tmp_path_factory):
    """A Comedy-style and a Horror-style piece the model has never heard (seeds of their own), 12 s each."""
    folder = tmp_path_factory.mktemp("pieces")
    comedy = write_audio(folder / "comedy.ogg", synth_track("comedy", duration_s=12.0, sr=48000, seed=4242), 48000)
    horror = write_audio(folder / "horror.mp3", synth_track("horror", duration_s=12.0, sr=44100, seed=4343), 44100,
                         bitrate=192_000)
    return comedy, horror


def test_a_piece_is_heard_as_its_genre_and_placed_among_its_genres_cues(mir_study, pieces):
    comedy, horror = pieces
    result = scorelens.profile([comedy, horror], mir_study.model, workspace=mir_study.workspace.root,
                               manifest=mir_study.manifest)
    heard = {p.path.name: p for p in result.pieces}
    for name, genre in (("comedy.ogg", "Comedy"), ("horror.mp3", "Horror")):
        piece = heard[name]
        assert piece.prediction.predicted == [genre] and piece.leading_genre == genre
        # 12 s: 12 grid frames, as two ~5-s segments (the model is cue-level)
        assert len(piece.instances) == 2 and piece.instances["end_s"].iloc[-1] == pytest.approx(12.0)
        nearest = piece.neighbours
        assert len(nearest) == 5 and nearest["distance"].is_monotonic_increasing
        # The closest cues play music of the piece's style, in films of its genre.
        assert all(genre in g for g in nearest["genres"].iloc[:3])
        assert all(genre.lower() in t for t in nearest["track"].iloc[:3])
    # Planted in the styles (demo.synth.STYLES): Comedy major and bright, Horror atonal and dissonant.
    c, h = heard["comedy.ogg"].percentiles, heard["horror.mp3"].percentiles
    assert c["timbre/centroid/mean"]["Horror"] == 100.0 and c["tone/key_mode/mean"]["Horror"] == 100.0
    assert h["timbre/roughness/mean"]["Comedy"] == 100.0 and h["timbre/centroid/mean"]["Comedy"] == 0.0
    # The descriptors are those of the model's features: 4-s texture windows, not the kind's default 5 s.
    y = load_audio(comedy, sample_rate=22050)
    as_trained = cue_frames(get_kind("mir", texture_window_s=4.0), y).values.mean(axis=0)
    default = cue_frames(get_kind("mir"), y).values.mean(axis=0)
    column = get_kind("mir").column_names().index("rhythm/pulse_clarity/std")
    assert heard["comedy.ogg"].descriptors.get("rhythm/tempo/mean") == pytest.approx(
        float(as_trained[get_kind("mir").column_names().index("rhythm/tempo/mean")]), rel=1e-5)
    assert not np.isclose(as_trained[column], default[column], rtol=1e-3)
    data = result.to_json()
    assert data["feature_settings"]["settings"]["texture_window_s"] == 4.0 and data["instance"] == "5-s segment"
    assert json.loads(json.dumps(data)) == data   # plain JSON data
    groups = data["pieces"][1]["groups"]
    assert 1 <= len(groups) <= 3 and "Cohen's d" in data["group_ranking"]


def test_a_cue_of_the_corpus_comes_back_as_its_own_nearest_cue_playable(mir_study, tmp_path, monkeypatch):
    import shutil

    from scorelens.report._profile import render_profile_html
    from scorelens.stamp._cuetable import read_cue_table
    from scorelens.workspace import WorkspaceLayout

    cues = read_cue_table(mir_study.workspace.layout.cue_table("film04"), film_id="film04")
    cue = cues.iloc[0]
    span = float(cue["end_s"] - cue["start_s"]) * float(cue["speed"])
    y = load_audio(cue["track_path"], sample_rate=22050, start_s=float(cue["track_offset_s"]),
                   end_s=float(cue["track_offset_s"]) + span)
    piece = write_audio(tmp_path / "excerpt.wav", y, 22050, codec="pcm_f32le")
    # The report stage's clips (its layout method, where this scorelens has it) make a cue playable.
    ws = shutil.copytree(mir_study.workspace.root, tmp_path / "ws")
    monkeypatch.setattr(WorkspaceLayout, "report_clip", raising=False,
                        value=lambda self, film, cue_id, ext: self.report_dir / "clips" / film / f"{cue_id}.{ext}")
    clip = WorkspaceLayout(ws).report_clip("film04", int(cue["cue_id"]), "ogg")
    write_audio(clip, 0.1 * np.sin(2 * np.pi * 440 * np.arange(96000) / 48000), 48000)   # Opus in Ogg
    result = scorelens.profile(piece, mir_study.model, workspace=ws, manifest=mir_study.manifest)
    (found,) = result.pieces
    first, second = found.neighbours.iloc[0], found.neighbours.iloc[1]
    assert (first["film_id"], first["cue_id"]) == ("film04", int(cue["cue_id"]))
    assert first["distance"] < 0.05 * second["distance"]
    assert first["clip"] == str(clip) and found.neighbours["clip"].iloc[1:].isna().all()
    page = render_profile_html(result)
    assert page.count("<audio ") == 1 and f'src="{clip.resolve().as_uri()}"' in page


def test_profile_command_writes_a_page_that_shows_outside_text_as_text(mir_study, pieces, tmp_path, cli):
    comedy, _ = pieces
    hostile = tmp_path / "<img src=x onerror=alert(1)> & co.ogg"
    hostile.write_bytes(comedy.read_bytes())
    manifest = tmp_path / "corpus.toml"
    text = mir_study.manifest.read_text(encoding="utf-8")
    hostile_title = "title = \"<script>alert('\\1')</script>\""   # TOML: a title holding markup
    manifest.write_text(re.sub(r'title = "Synthetic film (\d+)"', hostile_title, text), encoding="utf-8")
    out = tmp_path / "out"
    res = cli("-q", "profile", hostile, "--model", mir_study.model, "--workspace", mir_study.workspace.root,
              "--manifest", manifest, "--out", out, "--json")
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert data == json.loads((out / "profile.json").read_text(encoding="utf-8"))
    assert set(data["pieces"][0]["probabilities"]) == {"Comedy", "Horror"}
    page = (out / "profile.html").read_text(encoding="utf-8")
    assert "<script" not in page and "<img src=x" not in page
    assert "&lt;img src=x onerror=alert(1)&gt; &amp; co.ogg" in page
    for cue in data["pieces"][0]["nearest_cues"]:
        assert cue["title"] == f"<script>alert('{int(cue['film_id'][4:])}')</script>"
        assert f"&lt;script&gt;alert(&#39;{int(cue['film_id'][4:])}&#39;)&lt;/script&gt;" in page
    # one embedded plot per descriptor placed
    assert page.count('src="data:image/png;base64,') == len(data["descriptors"]) >= 6


def test_a_frame_level_model_hears_every_frame(mir_study, pieces, tmp_path):
    run_train(mir_study.workspace, ModelConfig(level="frame", epochs=5, hidden=8, learning_rate=1e-3), mir_study.corpus,
              features="mir", model="average", out=tmp_path / "frames.pt")
    (piece,) = scorelens.profile(pieces[1], tmp_path / "frames.pt").pieces   # without a workspace
    assert len(piece.instances) == 12 and piece.neighbours is None and piece.percentiles["dynamics/rms/mean"] == {}
    assert np.allclose(piece.instances["end_s"] - piece.instances["start_s"], 1.0)


def test_a_workspace_of_other_features_or_bad_audio_is_one_line(mir_study, pieces, tmp_path, run_cli):
    comedy, _ = pieces
    args = ("profile", comedy, "--model", mir_study.model, "--manifest", mir_study.manifest, "--out", tmp_path / "o")
    # A workspace whose features are musicnn's only.
    other = tmp_path / "other"
    (other / "features" / "musicnn").mkdir(parents=True)
    table = pd.DataFrame({"film_id": ["film01"], "cue_id": [0], "embedding/musicnn_000/mean": [0.5]})
    write_feature_table(table, other / "features" / "musicnn" / "cues.parquet", {"kind": "musicnn"})
    code, err = run_cli(*args, "--workspace", other)
    assert code == 1 and len(err.strip().splitlines()) == 1
    assert "the workspace has no mir features (it has musicnn)" in err and "model.pt was trained on mir" in err
    # A workspace whose MIR features have the study's 5-s texture windows: the model's have 4-s ones.
    five = tmp_path / "five"
    (five / "features" / "mir").mkdir(parents=True)
    source = mir_study.workspace.layout.features("mir", "cue")
    meta = read_feature_metadata(source)
    meta["settings"]["texture_window_s"] = 5.0
    write_feature_table(pd.read_parquet(source), five / "features" / "mir" / "cues.parquet", meta)
    code, err = run_cli(*args, "--workspace", five)
    assert code == 1 and len(err.strip().splitlines()) == 1
    assert "the workspace's mir features were computed otherwise" in err
    assert "settings.texture_window_s 4.0 in the model, 5.0 here" in err
    code, err = run_cli(*args, "--workspace", tmp_path / "nope")
    assert code == 1 and "nope: no such workspace" in err and not (tmp_path / "nope").exists()
    # Audio that is not audio.
    bad = tmp_path / "broken.mp3"
    bad.write_bytes(b"ID3\x03\x00\x00\x00\x00\x00\x00" + b"\x00" * 64)
    code, err = run_cli("profile", bad, "--model", mir_study.model, "--out", tmp_path / "o")
    assert code == 1 and len(err.strip().splitlines()) == 1 and "broken.mp3" in err


def test_the_groups_come_from_the_workspaces_importance_results_when_there_are_some(mir_study, pieces, tmp_path):
    import shutil

    from scorelens.config import ImportanceConfig
    from scorelens.stages._importance import group_importance_of
    from scorelens.workspace import Workspace

    ws = Workspace(shutil.copytree(mir_study.workspace.root, tmp_path / "ws"))
    group_importance_of(ws, ModelConfig(epochs=5, learning_rate=1e-3), ImportanceConfig(hidden=8, runs=3),
                        mir_study.corpus)
    (summary,) = ws.layout.importance_root.glob("*/pfi_summary.json")
    rows = [r for r in json.loads(summary.read_text())["summary"] if r["genre"] == "Horror" and r["score"] is not None]
    expected = [r["group"] for r in sorted(rows, key=lambda r: -r["score"])[:3]]
    result = scorelens.profile(pieces[1], mir_study.model, workspace=ws.root, manifest=mir_study.manifest)
    (piece,) = result.pieces
    assert piece.leading_genre == "Horror" and [g["group"] for g in piece.groups] == expected
    assert result.group_source.startswith(f"permutation importance of the workspace ({summary.parent.name})")
    for g in piece.groups:   # each group's descriptor is one of its own columns, and is placed
        assert g["descriptor"] is None or (pfi_group(g["descriptor"]) == g["group"]
                                           and g["descriptor"] in result.descriptor_reasons)
