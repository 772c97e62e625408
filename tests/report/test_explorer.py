"""The interactive report's data, clips and files (:mod:`scorelens.report.explorer`, the report stage).

The workspace (``explorer_project`` in conftest) plays each cue from tracks of steady 5-second
tones, so the pitch heard in a clip says where in the track it was cut and at what speed.
What the page shows in a browser is tested in ``test_explorer_browser.py``.
"""

import json
import re

import numpy as np
import pandas as pd
import pytest

from scorelens.config import ReportConfig
from scorelens.corpus import load_corpus
from scorelens.exceptions import ParameterError
from scorelens.report.explorer import (
    MIN_CLIP_S,
    build_explorer,
    clip_lengths,
    collect_explorer,
    enforce_budget,
    plan_clips,
)
from scorelens.stages._report import write_report

RATE = 48_000


def _decode(path):
    from scorelens.io._audio import load_audio

    return load_audio(path, sample_rate=RATE)


def _pitch(x, start_s, end_s):
    """The strongest frequency of ``x`` between two times (1-Hz bins of a Hann-windowed spectrum)."""
    seg = x[int(start_s * RATE):int(end_s * RATE)]
    spectrum = np.abs(np.fft.rfft(seg * np.hanning(len(seg)), n=RATE))
    return float(np.argmax(spectrum))


# --- clip lengths within the budget ----------------------------------------------------------------

def test_clip_lengths_cut_the_longest_first():
    # 8 kb/s is 1000 B/s, planned with a 6 % margin and 2048 B of headers per file; the budget buys 15 s.
    budget = 4 * 2048 + 15 * 1000 * 1.06
    lengths = clip_lengths([2.0, 5.0, 10.0, 30.0], budget, kbps=8, max_s=20.0)
    # The 2-s cue stays whole; the three others share the other 13 s equally.
    np.testing.assert_allclose(lengths, [2.0, 13 / 3, 13 / 3, 13 / 3])


def test_clip_lengths_under_the_shortest_clip_leave_the_longest_out():
    budget = 4 * 2048 + 5 * 1000 * 1.06  # 1.25 s each: under MIN_CLIP_S, so clips of 2 s for the shortest cues
    assert MIN_CLIP_S == 2.0
    np.testing.assert_allclose(clip_lengths([30.0, 2.0, 10.0, 5.0], budget, kbps=8, max_s=20.0), [0, 2, 2, 2])


def test_clip_lengths_without_a_bound_are_the_cues_up_to_the_longest_clip():
    np.testing.assert_allclose(clip_lengths([3.0, 25.0, 0.0], 1e9, kbps=48, max_s=20.0), [3.0, 20.0, 0.0])


def test_enforce_budget_drops_the_longest():
    sizes = {"a": 100, "b": 300, "c": 200}
    seconds = {"a": 2.0, "b": 9.0, "c": 5.0}
    assert enforce_budget(sizes, seconds, 600) == []
    assert enforce_budget(sizes, seconds, 350) == ["b"]
    assert enforce_budget(sizes, seconds, 150) == ["b", "c"]


def test_plan_names_missing_tracks(kit, tmp_path):
    cues = collect_explorer(*_workspace_only(kit, tmp_path)).cues
    plan = plan_clips(cues, budget_bytes=1e9, kbps=48, max_s=8.0)
    assert {(j.film_id, j.cue_id) for j in plan.jobs} == {(f, c) for f, rows in kit.CUES.items() if f != "f3"
                                                          for c in range(len(rows))}
    assert sorted(plan.film_notes) == ["f3"] and len(plan.film_notes["f3"]) == 1
    note = plan.film_notes["f3"][0]
    assert note.startswith("soundtrack file(s) missing since stamping")
    assert note.count("moved-away") == 2 and "love.flac" in note and kit.EVIL_FILE in note
    assert plan.notes[("f3", 0)] == "no clip: the track file is missing (see the film's notes)"
    assert plan.notes[("f0", 2)] == "first 8.0 s of 30.0 s (longest clip)"


def _workspace_only(kit, tmp_path):
    from scorelens.corpus import load_corpus

    manifest, ws = kit.make_workspace(tmp_path / "w", evaluate_models=False)
    return ws, load_corpus(manifest, check_files=False)


# --- the stage's outputs ----------------------------------------------------------------------------

def test_stage_writes_page_assets_clips_and_cue_sheets(explorer_project, kit):
    _, ws, report = explorer_project
    layout = ws.layout
    assert layout.report_explorer() in report.written and layout.report_explorer().is_file()
    assert any(p.parent == layout.report_dir / "assets" and p.name.startswith("plotly-") for p in report.written)
    expected = {(f, c) for f, rows in kit.CUES.items() if f != "f3" for c in range(len(rows))}
    found = {(p.parent.name, int(p.stem)) for p in layout.report_clips_dir.rglob("*.ogg")}
    assert found == expected and report.clips == len(expected)
    assert report.clip_bytes == sum(p.stat().st_size for p in layout.report_clips_dir.rglob("*.ogg"))
    assert [n for n in report.notes if n.startswith("f3: soundtrack file(s) missing")] == report.notes
    for film in kit.CUES:
        labels = layout.report_cue_sheet("audacity", film).read_text(encoding="utf-8").splitlines()
        assert len(labels) == len(kit.CUES[film])
        elan = layout.report_cue_sheet("elan", film).read_text(encoding="utf-8").splitlines()
        assert len(elan) == len(kit.CUES[film]) + 1
    assert layout.report_cue_sheet("csv").is_file() and layout.report_cue_sheet("json").is_file()


def test_clips_play_the_album_position_at_the_cues_speed(explorer_project, kit):
    _, ws, _ = explorer_project
    clip = lambda film, cue: _decode(ws.layout.report_clip(film, cue, "ogg"))  # noqa: E731
    # f0 cue 0: album from 5.5 s (tone 1), normal speed; the track moves to tone 2 at album 10 s, film 4.5 s.
    x = clip("f0", 0)
    assert abs(len(x) / RATE - 8.0) < 0.03
    assert _pitch(x, 1, 2) == pytest.approx(kit.tone_hz(0, 1), abs=2)
    assert _pitch(x, 6, 7) == pytest.approx(kit.tone_hz(0, 2), abs=2)
    # f2 cue 0: 4 % fast at the album's pitch: same tones, the change comes 4 % earlier (film 4.33 s).
    x = clip("f2", 0)
    assert abs(len(x) / RATE - 8.0) < 0.03
    assert _pitch(x, 0.5, 4.1) == pytest.approx(kit.tone_hz(0, 2), rel=0.005)
    assert _pitch(x, 4.6, 7.5) == pytest.approx(kit.tone_hz(0, 3), rel=0.005)
    # f2 cue 1: 4 % fast with the pitch (a PAL transfer): every tone 4 % higher.
    x = clip("f2", 1)
    assert _pitch(x, 0.5, 4.1) == pytest.approx(kit.tone_hz(1, 4) * kit.PAL, rel=0.003)
    assert _pitch(x, 4.6, 7.5) == pytest.approx(kit.tone_hz(1, 5) * kit.PAL, rel=0.003)


def test_rerun_reuses_clips_and_page(explorer_project):
    manifest, ws, _ = explorer_project
    clips = sorted(ws.layout.report_clips_dir.rglob("*.ogg"))
    before = {p: p.stat().st_mtime_ns for p in clips + [ws.layout.report_explorer()]}
    again = write_report(ws, ReportConfig(clip_max_s=8.0), load_corpus(manifest, check_files=False))
    assert {p: p.stat().st_mtime_ns for p in before} == before
    assert again.clips == len(clips)


def test_budget_is_respected_longest_cut_first(kit, tmp_path):
    ws, corpus = _workspace_only(kit, tmp_path)
    # Planned at 48 kb/s (+6 %, +2048 B a file): clips of 5.5 s for every cue but f2's 5-s cue 3, which stays whole.
    lengths = {(f, c): min(length, 8.0) for f, rows in kit.CUES.items() if f != "f3"
               for c, (_, _, length, _, _, _) in enumerate(rows)}
    seconds = sum(min(d, 5.5) for d in lengths.values())
    budget = len(lengths) * 2048 + seconds * 6000 * 1.06
    report = write_report(ws, ReportConfig(clip_max_s=8.0, clip_budget_mb=budget / 1e6), corpus)
    got = {(p.parent.name, int(p.stem)): len(_decode(p)) / RATE for p in ws.layout.report_clips_dir.rglob("*.ogg")}
    assert set(got) == set(lengths)
    assert report.clip_bytes <= budget
    assert got.pop(("f2", 3)) == pytest.approx(5.0, abs=0.03)
    assert np.allclose(list(got.values()), 5.5, atol=0.03)
    page = ws.layout.report_explorer().read_text(encoding="utf-8")
    assert "first 5.5 s of 8.0 s (clip budget)" in page


def test_clips_off_and_stale_clips_removed(kit, tmp_path):
    ws, corpus = _workspace_only(kit, tmp_path)
    write_report(ws, ReportConfig(clip_max_s=2.0), corpus)
    assert len(list(ws.layout.report_clips_dir.rglob("*.ogg"))) == 14
    report = write_report(ws, ReportConfig(clip_max_s=2.0, clip_budget_mb=0.0), corpus)
    assert report.clips == 0 and not list(ws.layout.report_clips_dir.rglob("*.*"))
    report = write_report(ws, ReportConfig(clips=False), corpus)
    assert report.clips == 0
    assert "no clip: clips are turned off (report.clips = false)" in ws.layout.report_explorer().read_text()


def test_report_setting_checks():
    with pytest.raises(ParameterError, match="clip_format='mp3' must be 'opus' or 'aac'"):
        ReportConfig(clip_format="mp3")
    with pytest.raises(ParameterError, match="clip_budget_mb=-1 must be 0 or more"):
        ReportConfig(clip_budget_mb=-1)


def test_aac_clips(kit, tmp_path):
    ws, corpus = _workspace_only(kit, tmp_path)
    write_report(ws, ReportConfig(clip_format="aac", clip_max_s=3.0), corpus)
    x = _decode(ws.layout.report_clip("f1", 1, "m4a"))
    assert abs(len(x) / RATE - 3.0) < 0.05
    assert _pitch(x, 0.5, 2.5) == pytest.approx(kit.tone_hz(0, 5), abs=2)


# --- the page's data ------------------------------------------------------------------------------

def _payload(ws):
    html = ws.layout.report_explorer().read_text(encoding="utf-8")
    block = re.search(r'<script type="application/json" id="scorelens-data">(.*?)</script>', html, re.S).group(1)
    return html, json.loads(block)


def test_payload_weights_are_the_stored_ones(explorer_project, kit):
    _, ws, _ = explorer_project
    _, data = _payload(ws)
    stored = pd.read_parquet(ws.layout.instance_weights("cue"))
    assert data["attention_run"] == "cue|mir|network:attention"
    for run in ("cue|mir|network:attention", "cue|mir|network:average"):
        mine = stored[stored["model"] == run.split("|")[2]]
        for film, rows in kit.CUES.items():
            order = data["cues"][film]["cue_id"]
            want = mine[mine["film_id"] == film].set_index("cue_id").loc[order, list(kit.GENRES)]
            shown = np.array(data["weights"][run][film], dtype=float).T / data["weight_scale"]
            np.testing.assert_allclose(shown, want.to_numpy(), atol=5e-7)


def test_payload_films_and_cues(explorer_project, kit):
    _, ws, _ = explorer_project
    _, data = _payload(ws)
    films = {f["id"]: f for f in data["films"]}
    assert films["f0"]["title"] == kit.EVIL_TITLE
    assert films["f1"]["stamp"] == {"precision": 0.9, "recall": 0.5, "f1": 0.643}
    # f0: cues of 12, 8 and 30 s in a 120-s film (none overlap).
    assert films["f0"]["share"] == pytest.approx(50 / 120, abs=1e-4) and films["f0"]["n_cues"] == 3
    assert data["cues"]["f2"]["clip"][1] == "clips/f2/1.ogg"
    assert data["cues"]["f3"]["clip"] == [None, None]
    assert data["cues"]["f0"]["track"][0] == kit.EVIL_TAG
    assert data["cues"]["f0"]["file"][1] == kit.EVIL_FILE


def test_every_figure_is_valid_plotly(explorer_project):
    import plotly.graph_objects as go

    _, ws, _ = explorer_project
    _, data = _payload(ws)
    m = data["models"]
    figures = list(data["film_figures"].values()) + [m["pr"], m["scatter"]] + m["table5"] + [
        i["figure"] for i in m["importance"]]
    assert len(figures) == 6 + 2 + 2 + 1  # every film has cues (f3 without clips), PR, scatter, Table 5, Fig 3
    for fig in figures:
        go.Figure(fig)  # raises on any property Plotly does not know


def test_markup_in_names_cannot_leave_the_data_block(explorer_project, kit):
    _, ws, _ = explorer_project
    html, _ = _payload(ws)
    for evil in (kit.EVIL_TITLE, kit.EVIL_TAG, kit.EVIL_FILE, "<script", "<img", "<svg", "</script><"):
        head, _, rest = html.partition('<script type="application/json"')
        assert evil not in rest.split("</script>", 1)[0]
    static = ws.layout.report("html").read_text(encoding="utf-8")
    assert "<img src=x" not in static and "&lt;img src=x onerror=" in static


def test_without_evaluate_the_page_says_why(kit, tmp_path):
    ws, corpus = _workspace_only(kit, tmp_path)
    data = collect_explorer(ws, corpus)
    assert data.predictions is None and data.runs.empty and data.table4 == []
    assert "run `scorelens evaluate" in data.why["models"]
    page = build_explorer(data)
    assert page.payload["models"]["pr"] is None and page.payload["weights"] == {}
    assert page.payload["film_figures"]["f0"]["data"][-1]["meta"] == "cues"
