"""The feature pipeline on real encoded files: tables, grid, cache, reuse, bad input, plug-in kinds."""

import warnings

import numpy as np
import pandas as pd
import pytest

from scorelens.config import FeatureConfig
from scorelens.demo._media import write_audio, write_film
from scorelens.exceptions import AnnotationError, FeatureError, MediaError, ParameterError
from scorelens.features import _pipeline as pipeline
from scorelens.features._base import FeatureKind, FrameFeatures, get_kind, register_kind
from scorelens.features._pipeline import (
    FeatureWarning,
    compute_film,
    cue_frames,
    cue_level,
    read_cues,
    read_feature_metadata,
)
from scorelens.stages._features import FilmSource, compute_features, load_features
from scorelens.workspace import Workspace


def extract_features(ws, kind, films, *, config=None, **kwargs):
    """The features stage with the pipeline's default settings."""
    return compute_features(ws, config or FeatureConfig(), films, kind=kind, **kwargs)

SR = 22050


class MeanKind(FeatureKind):
    """A tiny plug-in kind: two frames per second holding the mean and peak of the audio."""

    name = "meankind"
    version = "3"
    sample_rate = 8000
    frame_rate_hz = 2.0

    def __init__(self, scale: float = 1.0):
        self.scale = scale

    def column_names(self):
        return ["embedding/meankind_000/mean", "embedding/meankind_001/mean"]

    def settings(self):
        return {"scale": self.scale}

    def compute(self, audio, sr):
        n = max(1, audio.size // (sr // 2))
        blocks = np.array_split(np.abs(audio), n)
        values = np.array([[b.mean() * self.scale, b.max()] for b in blocks], dtype=np.float32)
        return FrameFeatures(times=(np.arange(n) + 0.5) / 2.0, values=values, names=self.column_names())


class NaNKind(MeanKind):
    name = "nankind"

    def compute(self, audio, sr):
        ff = super().compute(audio, sr)
        values = ff.values.copy()
        values[-1, 1] = np.nan
        return FrameFeatures(times=ff.times, values=values, names=ff.names)


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    root = tmp_path_factory.mktemp("media")
    t = np.arange(20 * SR) / SR
    tone = 0.3 * np.sin(2 * np.pi * 440 * t) * (1 + 0.5 * np.sin(2 * np.pi * 0.5 * t))
    write_audio(root / "a.flac", tone, SR)
    write_audio(root / "silent.wav", np.zeros(8 * SR), SR)
    film_audio = np.zeros(30 * SR)
    film_audio[5 * SR:15 * SR] = tone[2 * SR:12 * SR]
    write_film(root / "film.mkv", film_audio, SR, fps=2.0)
    return root


def _cues(media, rows, film_id="f1"):
    paths = {"a": media / "a.flac", "silent": media / "silent.wav"}
    return pd.DataFrame([{"film_id": film_id, "cue_id": i, "track_id": f"{track:0<16}"[:16], "track": track,
                          "track_path": str(paths.get(track, media / f"{track}.flac")), "start_s": s, "end_s": e,
                          "track_offset_s": o, "windows": 1, "confidence": 1.0}
                         for i, (track, s, e, o) in enumerate(rows)])


def _workspace(tmp_path, media, rows, film_id="f1"):
    ws = Workspace(tmp_path / "ws")
    path = ws.path("cues", f"{film_id}.parquet")
    _cues(media, rows, film_id).to_parquet(path)
    return ws, FilmSource(film_id=film_id, cues=path, film=media / "film.mkv")


def test_tables_hold_grid_frames_and_cue_means(tmp_path, media):
    ws, src = _workspace(tmp_path, media, [("a", 5.0, 15.0, 2.0), ("a", 20.0, 23.5, 0.0)])
    report = extract_features(ws, get_kind("mir"), [src])
    frames = pd.read_parquet(report.frames_path)
    cues = pd.read_parquet(report.cues_path)
    assert list(frames.columns[:3]) == ["film_id", "cue_id", "time_s"]
    assert frames.shape == (10 + 3, 3 + 134)
    assert (frames.dtypes.iloc[3:] == np.float32).all()
    np.testing.assert_allclose(frames.loc[frames.cue_id == 0, "time_s"], 5.5 + np.arange(10))
    np.testing.assert_allclose(frames.loc[frames.cue_id == 1, "time_s"], [20.5, 21.5, 22.5])
    assert list(cues.columns[:2]) == ["film_id", "cue_id"] and len(cues) == 2
    np.testing.assert_allclose(cues.iloc[0, 2:].to_numpy(dtype=float),
                               frames[frames.cue_id == 0].iloc[:, 3:].mean().to_numpy(), rtol=1e-5)
    meta = read_feature_metadata(report.cues_path)
    assert meta["kind"] == "mir" and meta["version"] == "3" and meta["settings"]["texture_window_s"] == 5.0
    assert meta["pipeline"]["audio"] == "track" and meta["grid_rate_hz"] == 1.0
    assert ws.record(report.frames_path)["settings"]["kind"] == "mir"
    loaded = load_features(ws, "mir", level="cue")
    assert loaded.attrs["scorelens"]["level"] == "cue"


def _click_train(seconds, bpm):
    y = np.zeros(int(seconds * SR))
    click = np.hanning(64) * np.sign(np.sin(np.arange(64)))
    for start in np.arange(0.1, seconds - 0.1, 60.0 / bpm):
        i = int(start * SR)
        y[i:i + 64] += 0.8 * click
    return y


def test_silent_stretches_of_a_cue_stay_out_of_its_tempo(tmp_path, media):
    # 8 s of a 120 BPM click train, 12 s of silence, 8 s of clicks again: the cue's tempo is
    # the music's 120 BPM; the silent windows' 0 BPM (no pulse) stays in the frame table, but
    # not in the cue mean, and no frame gets a tempo between the two.
    track = write_audio(tmp_path / "beats.wav", np.concatenate([_click_train(8, 120.0), np.zeros(12 * SR),
                                                                 _click_train(8, 120.0)]), SR)
    ws = Workspace(tmp_path / "ws")
    cues = _cues(media, [("beats", 0.0, 28.0, 0.0), ("silent", 30.0, 36.0, 0.0)])
    cues.loc[0, "track_path"] = str(track)
    path = ws.path("cues", "f1.parquet")
    cues.to_parquet(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FeatureWarning)  # the silent cue
        report = extract_features(ws, get_kind("mir"), [FilmSource(film_id="f1", cues=path, film=media / "film.mkv")])
    frames = pd.read_parquet(report.frames_path)
    by_cue = pd.read_parquet(report.cues_path).set_index("cue_id")
    tempo = frames.loc[frames.cue_id == 0, "rhythm/tempo/mean"].to_numpy()
    assert (tempo == 0).sum() >= 4  # the silence is there, frame by frame
    assert np.all((tempo == 0) | (np.abs(tempo - 120.0) < 0.02 * 120.0))
    assert tempo.mean() < 100  # what the plain mean of the frames would say
    assert by_cue.loc[0, "rhythm/tempo/mean"] == pytest.approx(120.0, rel=0.02)
    assert by_cue.loc[0, "rhythm/tempo/std"] < 0.02 * 120.0
    # Every other column is the plain mean of the cue's frames; a cue without any pulse keeps 0 BPM.
    others = [c for c in frames.columns[3:] if not c.startswith("rhythm/tempo/")]
    np.testing.assert_allclose(by_cue.loc[0, others].to_numpy(dtype=float),
                               frames.loc[frames.cue_id == 0, others].mean().to_numpy(), rtol=1e-5, atol=1e-6)
    assert by_cue.loc[1, "rhythm/tempo/mean"] == 0 and by_cue.loc[1, "rhythm/tempo/std"] == 0


def test_rerun_reuses_everything_and_changed_table_reuses_unchanged_cues(tmp_path, media, monkeypatch):
    ws, src = _workspace(tmp_path, media, [("a", 5.0, 9.0, 2.0), ("a", 20.0, 23.0, 0.0)])
    kind = get_kind("mir")
    extract_features(ws, kind, [src])
    before = pd.read_parquet(ws.root / "features/mir/frames.parquet")

    def no_decoding(*args, **kwargs):
        raise AssertionError("decoded audio for a cue that was already computed")

    monkeypatch.setattr(pipeline, "load_audio", no_decoding)
    again = extract_features(ws, kind, [src])
    assert again.films[0].cached

    # Same track spans at other film times plus a new cue: only the new cue is decoded.
    _cues(media, [("a", 7.0, 11.0, 2.0), ("a", 30.0, 33.0, 0.0), ("a", 40.0, 42.0, 10.0)]).to_parquet(src.cues)
    decoded = []
    monkeypatch.setattr(pipeline, "load_audio", lambda *a, **k: decoded.append(k) or np.zeros(2 * 22050, np.float32))
    with pytest.warns(FeatureWarning, match="silent"):
        report = extract_features(ws, kind, [src])
    assert report.films[0].reused == 2 and report.films[0].computed == 1 and len(decoded) == 1
    after = pd.read_parquet(report.frames_path)
    np.testing.assert_allclose(after.loc[after.cue_id == 0, "time_s"], [7.5, 8.5, 9.5, 10.5])
    np.testing.assert_array_equal(after.loc[after.cue_id == 0].iloc[:, 3:].to_numpy(),
                                  before.loc[before.cue_id == 0].iloc[:, 3:].to_numpy())


def test_changed_settings_recompute(tmp_path, media):
    ws, src = _workspace(tmp_path, media, [("a", 5.0, 8.0, 2.0)])
    first = extract_features(ws, MeanKind(), [src])
    second = extract_features(ws, MeanKind(scale=2.0), [src])
    assert second.films[0].computed == 1 and not second.films[0].cached
    a = pd.read_parquet(first.cues_path)  # same path, now the scale=2 table
    assert a["embedding/meankind_000/mean"].iloc[0] > 0
    assert read_feature_metadata(second.cues_path)["settings"] == {"scale": 2.0}


def test_short_and_silent_cues(tmp_path, media):
    ws, src = _workspace(tmp_path, media, [("a", 5.0, 5.6, 2.0), ("silent", 10.0, 14.0, 1.0)])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        report = extract_features(ws, get_kind("mir"), [src])
    messages = [str(w.message) for w in caught if issubclass(w.category, FeatureWarning)]
    assert any("cue 0" in m and "shorter than one frame" in m for m in messages)
    assert any("cue 1" in m and "silent audio" in m for m in messages)
    assert report.films[0].skipped == [(0, "shorter than one frame (0.600s < 1.0s)")]
    frames = pd.read_parquet(report.frames_path)
    assert set(frames.cue_id) == {1} and np.isfinite(frames.iloc[:, 3:].to_numpy()).all()


def test_track_ending_before_the_span_warns(tmp_path, media):
    ws, src = _workspace(tmp_path, media, [("a", 0.0, 6.0, 17.0)])
    with pytest.warns(FeatureWarning, match="ends at t=20.0"):
        report = extract_features(ws, MeanKind(), [src])
    assert report.films[0].n_frames == 3


def test_film_audio_option(tmp_path, media):
    # A steady 440 Hz track, and a film whose mix holds it at half its level from 5 s to
    # 15 s (track 2-12 s) and a louder 1 kHz tone away from the music (a second of silence
    # either side, where AAC's ~45 ms of priming lands). A cue at film 5-9 s (track 2-6 s)
    # then has half the track's level with audio="film"; ignoring the option gives the
    # track's level, reading the wrong span of the film brings in the other tone.
    t = np.arange(30 * SR) / SR
    steady = 0.3 * np.sin(2 * np.pi * 440 * t)
    track_path = write_audio(tmp_path / "steady.flac", steady[:20 * SR], SR)
    mix = 0.8 * np.sin(2 * np.pi * 1000 * t)
    mix[4 * SR:16 * SR] = 0.0
    mix[5 * SR:15 * SR] = 0.5 * steady[2 * SR:12 * SR]
    film_path = write_film(tmp_path / "mix.mkv", mix, SR, fps=2.0)
    cues = _cues(media, [("steady", 5.0, 9.0, 2.0)]).assign(track_path=str(track_path))
    level = {}
    for audio in ("film", "track"):
        ws = Workspace(tmp_path / audio)
        cues.to_parquet(ws.path("cues", "f1.parquet"))
        src = FilmSource(film_id="f1", cues=ws.path("cues", "f1.parquet"), film=film_path)
        report = extract_features(ws, MeanKind(), [src], config=FeatureConfig(audio=audio))
        level[audio] = pd.read_parquet(report.cues_path).iloc[0]
    for column in ("embedding/meankind_000/mean", "embedding/meankind_001/mean"):
        # Half the track's level, within what AAC in the film changes (~1-2 %).
        assert level["film"][column] == pytest.approx(0.5 * level["track"][column], rel=0.05), column
    assert level["track"]["embedding/meankind_000/mean"] == pytest.approx(0.3 * 2 / np.pi, rel=0.01)
    ws, src = _workspace(tmp_path / "b", media, [("a", 5.0, 9.0, 2.0)])
    with pytest.raises(ParameterError, match="audio='film' needs the film file"):
        compute_film(MeanKind(), read_cues(src.cues), config=FeatureConfig(audio="film"))


def test_plug_in_kind_goes_on_the_grid(tmp_path, media):
    register_kind("meankind", MeanKind)
    ws, src = _workspace(tmp_path, media, [("a", 5.0, 8.5, 2.0)])
    report = extract_features(ws, get_kind("meankind", scale=3.0), [src])
    frames = pd.read_parquet(report.frames_path)
    assert list(frames.columns) == ["film_id", "cue_id", "time_s", "embedding/meankind_000/mean",
                                    "embedding/meankind_001/mean"]
    assert len(frames) == 3


def test_missing_track_fails_the_film_and_keep_going_continues(tmp_path, media):
    ws, good = _workspace(tmp_path, media, [("a", 5.0, 8.0, 2.0)], film_id="good")
    bad_path = ws.path("cues", "bad.parquet")
    _cues(media, [("gone", 1.0, 4.0, 0.0)], film_id="bad").to_parquet(bad_path)
    bad = FilmSource(film_id="bad", cues=bad_path)
    with pytest.raises(MediaError, match="gone.flac: no such file"):
        extract_features(ws, MeanKind(), [bad, good])
    report = extract_features(ws, MeanKind(), [bad, good], keep_going=True)
    assert [f.film_id for f in report.failures] == ["bad"]
    assert set(pd.read_parquet(report.cues_path).film_id) == {"good"}


def test_non_finite_audio_and_values_are_errors():
    y = np.zeros(8000 * 3, np.float32)
    y[100] = np.nan
    with pytest.raises(FeatureError, match="cue 7.*1 NaN or infinite sample"):
        cue_frames(MeanKind(), y, where="film x cue 7")
    with pytest.raises(FeatureError, match="non-finite embedding/meankind_001/mean at t="):
        cue_frames(NaNKind(), np.full(8000 * 3, 0.5, np.float32))


def test_bad_cue_tables(tmp_path, media):
    path = tmp_path / "c.parquet"
    _cues(media, [("a", 5.0, 8.0, 2.0)]).drop(columns=["track_offset_s"]).to_parquet(path)
    with pytest.raises(AnnotationError, match="lacks column.*track_offset_s"):
        read_cues(path)
    _cues(media, [("a", 5.0, 4.0, 2.0)]).to_parquet(path)
    with pytest.raises(AnnotationError, match="end_s must be after start_s"):
        read_cues(path)
    with pytest.raises(AnnotationError, match="no such cue table"):
        read_cues(tmp_path / "none.parquet")


def test_cue_level_of_empty_frames_has_the_columns():
    empty = pd.DataFrame({"film_id": [], "cue_id": [], "time_s": [], "mfcc/mfcc_01/mean": []})
    assert list(cue_level(empty).columns) == ["film_id", "cue_id", "mfcc/mfcc_01/mean"]


def test_clipped_audio_warns_and_stays_finite():
    y = np.clip(3 * np.sin(2 * np.pi * 200 * np.arange(3 * 8000) / 8000), -1, 1).astype(np.float32)
    with pytest.warns(FeatureWarning, match="cue 2.*clipped audio"):
        grid = cue_frames(MeanKind(), y, where="film x cue 2")
    assert np.isfinite(grid.values).all() and grid.values.shape == (3, 2)


def test_csv_cue_table_keeps_digit_only_track_ids(tmp_path, media):
    path = tmp_path / "c.csv"
    table = _cues(media, [("a", 5.0, 8.0, 2.0)])
    table["track_id"] = "0012345678901234"
    table.to_csv(path, index=False)
    assert read_cues(path)["track_id"].iloc[0] == "0012345678901234"


def test_cue_level_of_a_wide_fragmented_table_is_quiet():
    import warnings

    import numpy as np
    import pandas as pd

    from scorelens.features._pipeline import cue_level

    n = 40
    frames = pd.DataFrame({"film_id": ["a"] * n, "cue_id": np.repeat([0, 1], n // 2), "time_s": np.arange(n) * 1.0})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for i in range(300):                                  # column by column, as a fragmented table is made
            frames[f"tags/t{i:03d}/mean"] = np.float32(i) + np.arange(n, dtype=np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cues = cue_level(frames)
    assert list(cues.columns[:2]) == ["film_id", "cue_id"] and len(cues) == 2
    assert cues["tags/t001/mean"].tolist() == [1 + 9.5, 1 + 29.5] and cues["tags/t001/mean"].dtype == np.float32
