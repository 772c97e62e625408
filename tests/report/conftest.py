"""Shared builders of the report tests: predictions tables from small matrices, and the interactive report's
small workspace (:func:`make_workspace`)."""

import json
import types
from pathlib import Path

import numpy as np
import pandas as pd
import pytest


def _frame(film_ids, genres, true, pred, proba=None, *, features="vggish", model="network:attention"):
    true, pred = np.asarray(true, int), np.asarray(pred, int)
    proba = np.where(pred == 1, 0.75, 0.25) if proba is None else np.asarray(proba, float)
    n, g = true.shape
    return pd.DataFrame({"film_id": np.repeat(list(film_ids), g), "features": features, "model": model,
                         "genre": np.tile(list(genres), n), "probability": proba.reshape(-1),
                         "predicted": pred.reshape(-1).astype(np.int8), "true": true.reshape(-1).astype(np.int8)})


@pytest.fixture
def make_predictions():
    """``make_predictions(film_ids, genres, true, pred, proba=None, features=..., model=...)`` -> long format."""
    return _frame


@pytest.fixture
def rng():
    return np.random.default_rng(20210421)


# --- the interactive report's workspace ------------------------------------------------------------
# A small workspace for the interactive report's tests, made on the spot with known answers.
#
# Six films with hand-made cue tables over real audio tracks, a real (tiny) ``evaluate`` run
# (Table 4, out-of-fold predictions, attention weights per cue), a Fig 3 from known F1 values
# and a hand-made Table 5. Planted on purpose:
#
# * film ``f0``'s title, a track's tag title and another track's file name hold markup and
#   scripts that set ``window.__pwned`` if they ever run;
# * film ``f2`` plays one cue 4 % fast with the pitch raised (a PAL transfer) and one 4 % fast
#   at the album's pitch (time-stretched);
# * film ``f3``'s soundtrack file has moved since stamping (its cue table names a missing file).
#
# Each track is a sequence of 5-second steady tones, step ``k`` at :func:`tone_hz` ``(track, k)``,
# so that the pitch of a clip tells where in the track it was cut and at which speed.


GENRES = ("Action", "Comedy", "Drama")
FILMS = tuple(f"f{i}" for i in range(6))
FILM_S = 120.0
TRACK_S = 40.0
STEP_S = 5.0
TRACK_SR = 22050
EVIL_TITLE = "<script>window.__pwned = 1</script><b>Bold</b> & <i>Co</i>"
EVIL_TAG = "<img src=x onerror=\"window.__pwned = 3\"><b>Tagged</b>"
EVIL_FILE = "<svg onload=window.__pwned=2>&amp;.flac"
#: Per film: cues as (track index, film start, length, album step, speed, pitch moves with the speed).
PAL = 1.04
CUES = {
    "f0": [(0, 5.0, 12.0, 1, 1.0, False), (1, 40.0, 8.0, 3, 1.0, False), (2, 70.0, 30.0, 0, 1.0, False)],
    "f1": [(2, 10.0, 9.0, 2, 1.0, False), (0, 50.0, 6.0, 5, 1.0, False)],
    "f2": [(0, 3.0, 10.0, 2, PAL, False), (1, 30.0, 10.0, 4, PAL, True), (2, 60.0, 7.0, 1, 1.0, False),
           (0, 90.0, 5.0, 6, 1.0, False)],
    "f3": [(1, 20.0, 10.0, 1, 1.0, False), (2, 60.0, 10.0, 2, 1.0, False)],
    "f4": [(2, 8.0, 14.0, 3, 1.0, False), (1, 45.0, 10.0, 0, 1.0, False), (0, 80.0, 9.0, 4, 1.0, False)],
    "f5": [(1, 15.0, 11.0, 5, 1.0, False), (2, 100.0, 6.0, 6, 1.0, False)],
}
LABELS = {"f0": ["Action", "Drama"], "f1": ["Comedy"], "f2": ["Action"], "f3": ["Drama", "Comedy"],
          "f4": ["Action", "Comedy"], "f5": ["Drama"]}


def tone_hz(track: int, step: int) -> float:
    """Frequency of a track's ``step``-th 5-second tone."""
    return 300.0 + 100.0 * step + 40.0 * track


def _track(track: int) -> np.ndarray:
    t = np.arange(int(TRACK_S * TRACK_SR)) / TRACK_SR
    freq = np.array([tone_hz(track, int(s)) for s in t // STEP_S])
    phase = 2 * np.pi * np.cumsum(freq) / TRACK_SR
    return (0.4 * np.sin(phase)).astype(np.float32)


def track_names(root: Path) -> list[tuple[str, Path]]:
    """(title as tagged, file) of the three tracks."""
    st = root / "soundtrack"
    return [(EVIL_TAG, st / "theme.flac"), ("Chase", st / EVIL_FILE), ("Love theme", st / "love.flac")]


def cue_tables(root: Path) -> dict[str, pd.DataFrame]:
    tracks = track_names(root)
    out = {}
    for film, cues in CUES.items():
        rows = []
        for cue_id, (k, start, length, step, speed, pitch) in enumerate(cues):
            title, path = tracks[k]
            if film == "f3":
                path = root / "moved-away" / path.name
            rows.append({"film_id": film, "cue_id": cue_id, "track_id": f"t{k}", "track": title,
                         "track_path": str(path), "start_s": start, "end_s": start + length,
                         "track_offset_s": STEP_S * step + 0.5, "windows": 3, "votes": 40 + 7 * cue_id,
                         "confidence": 0.5, "speed": speed,
                         "pitch_shift_semitones": round(12 * np.log2(speed), 3) if pitch else 0.0})
        out[film] = pd.DataFrame(rows)
    return out


def make_workspace(root: Path, *, evaluate_models: bool = True):
    """Write the corpus and the workspace under ``root``; return (manifest path, Workspace)."""
    import torch

    from scorelens.analysis._data import CorpusBags
    from scorelens.analysis._evaluation import evaluate
    from scorelens.analysis._importance import GroupImportance
    from scorelens.config import ModelConfig
    from scorelens.demo._media import write_audio
    from scorelens.stages._evaluate import write_evaluation
    from scorelens.workspace import Workspace

    root.mkdir(parents=True, exist_ok=True)
    for k, (_, path) in enumerate(track_names(root)):
        path.parent.mkdir(parents=True, exist_ok=True)
        write_audio(path, _track(k), TRACK_SR)
    films = "\n".join(
        f'[[film]]\nid = "{f}"\ntitle = {json.dumps(EVIL_TITLE if f == "f0" else f"Film {f[1:]}")}\n'
        f'year = {2014 + i}\nfilm = "films/{f}.mkv"\nsoundtrack = "soundtrack/"\ngenres = {json.dumps(LABELS[f])}\n'
        for i, f in enumerate(FILMS))
    manifest = root / "corpus.toml"
    manifest.write_text('[corpus]\ngenres = ["Action", "Comedy", "Drama"]\n' + films, encoding="utf-8")
    ws = Workspace(root / "ws")
    for film, table in cue_tables(root).items():
        table.to_parquet(ws.path("cues", f"{film}.parquet"))
    pd.DataFrame({"film_id": np.repeat(FILMS, int(FILM_S)),
                  "time_s": np.tile(np.arange(FILM_S) + 0.5, len(FILMS))}).to_parquet(
        ws.path("features", "visual", "frames.parquet"))
    ws.path("results", "stamp_eval.json").write_text(json.dumps({
        "per_film": [{"film_id": "f1", "second_precision": 0.9, "second_recall": 0.5, "second_f1": 0.6429,
                      "cue_precision": 1.0, "cue_recall": 0.5}],
        "mean": {"second_precision": 0.9, "second_recall": 0.5, "second_f1": 0.6429, "cue_precision": 1.0,
                 "cue_recall": 0.5}}))
    if not evaluate_models:
        return manifest, ws
    rng = np.random.default_rng(7)
    Y = np.array([[g in LABELS[f] for g in GENRES] for f in FILMS], dtype=int)
    bags = [(rng.normal(size=(len(CUES[f]), 4)) + np.r_[Y[i], 0]).astype(np.float32) for i, f in enumerate(FILMS)]
    keys = [pd.DataFrame({"cue_id": np.arange(len(CUES[f]))}) for f in FILMS]
    config = ModelConfig(epochs=5, hidden=4, hidden_sizes=(4,), learning_rate=0.01, precision="float32", seed=3)
    corpus_bags = CorpusBags(list(FILMS), bags, Y, GENRES, [f"timbre/x{j}/mean" for j in range(4)], "cue", keys, [],
                             "mir")
    torch.set_num_threads(1)
    evaluation = evaluate([corpus_bags], config, models=["baselines", "attention", "average"], n_jobs=1)
    write_evaluation(ws, evaluation, "test")
    f1_orig = np.array([0.8, 0.4, 0.6, 0.7])
    f1_perm = np.tile(np.array([[0.8, 0.4, 0.3, 0.5], [0.8, 0.2, 0.6, 0.7]]), (3, 1, 1))
    pfi = GroupImportance("network:average", "mir", GENRES, {"Timbre": ["timbre/x0/mean"], "Rhythm": ["rhythm/y/m"]},
                          f1_orig, f1_perm, config, 3, film_ids=list(FILMS))
    folder = ws.layout.importance_dir("mir", "network:average", 4)
    folder.mkdir(parents=True, exist_ok=True)
    pfi.summary().to_csv(ws.layout.importance_summary(folder, "csv"), index=False)
    ws.layout.importance_summary(folder, "json").write_text(json.dumps(pfi.to_json(), default=float))
    rows = [{"feature": f, "source": s, "genre": g, "difference_x10": 0.1 * k - 0.4, "n_clips": 5 + k,
             "n_clips_other": 9, "median": 0.3, "median_other": 0.25, "p": 0.002 * (k + 1),
             "p_corrected": min(1.0, 0.006 * (k + 1)), "note": "",
             "significant": (f, s, g) == ("brightness", "predicted", "Comedy")}
            for k, (f, s, g) in enumerate((f, s, g) for f in ("brightness", "contrast")
                                          for s in ("actual", "predicted", "false_positive") for g in GENRES)]
    pd.DataFrame(rows).to_csv(ws.path("results", "crossmodal", "table5.csv"), index=False)
    return manifest, ws


@pytest.fixture(scope="session")
def kit():
    """The workspace builder and its planted values (:func:`make_workspace`, :data:`CUES`, :func:`tone_hz` …)."""
    return types.SimpleNamespace(**{k: v for k, v in globals().items() if k.isupper() or k in (
        "tone_hz", "track_names", "cue_tables", "make_workspace")})


@pytest.fixture(scope="session")
def explorer_project(tmp_path_factory):
    """The workspace with the report stage run on it (clips on): (manifest, workspace, ReportReport)."""
    from scorelens.config import ReportConfig
    from scorelens.corpus import load_corpus
    from scorelens.stages._report import write_report

    manifest, ws = make_workspace(tmp_path_factory.mktemp("explorer"))
    report = write_report(ws, ReportConfig(clip_max_s=8.0), load_corpus(manifest, check_files=False))
    return manifest, ws, report
