"""Films that play the soundtrack at another speed: pitched speed-ups and pitch-corrected stretches."""

import re
from dataclasses import replace
from fractions import Fraction

import librosa
import numpy as np
import pandas as pd
import pytest
from scipy import signal

from scorelens.config import StamperConfig
from scorelens.demo import _synth as synth
from scorelens.demo._films import CueSpec, FilmSpec, render_film_audio
from scorelens.demo._media import write_audio, write_film
from scorelens.exceptions import ParameterError
from scorelens.stamp._pipeline import index_tracks, stamp_film
from scorelens.stamp._speed import drift_speed, film_speed
from scorelens.stamp._store import open_store

TRACK_SR, FILM_SR = 44100, 48000  # as in conftest.py

# (album position, film start, film duration, level) of each cue; album positions are what
# the cue table must report, whatever the speed.
CUES = [("track1_action", 6.0, 4.0, 14.0, 0.0), ("track2_romance", 2.0, 24.0, 15.0, -5.0),
        ("track3_scifi", 10.0, 45.0, 11.0, 0.0)]


def _at_speed(samples: np.ndarray, factor: float, pitched: bool) -> np.ndarray:
    """The track as a film plays it ``factor`` times faster (track seconds per film second)."""
    if pitched:  # a plain speed-up: fewer samples at the same rate, pitch up with the speed
        ratio = Fraction(factor).limit_denominator(100)
        return signal.resample_poly(samples, ratio.denominator, ratio.numerator).astype(np.float32)
    return librosa.effects.time_stretch(samples, rate=factor).astype(np.float32)  # phase vocoder, same pitch


@pytest.fixture(scope="module")
def db(tmp_path_factory, soundtrack, config):
    path = str(tmp_path_factory.mktemp("speed_db") / "fp.sqlite")
    with open_store(path, config) as store:
        ids = [o.track_id for o in index_tracks([p for p, _ in soundtrack.values()], store, config)]
    return path, ids


def _film(folder, soundtrack, speech, factor, pitched):
    changed = {title: _at_speed(samples, factor, pitched) for title, (_, samples) in soundtrack.items()}
    # An album position p is at p / factor in the changed track.
    cues = [CueSpec(track, start, album / factor, duration, level) for track, album, start, duration, level in CUES]
    spec = FilmSpec(duration_s=60.0, cues=cues, seed=5)
    audio, _ = render_film_audio(spec, changed, track_sr=TRACK_SR, film_sr=FILM_SR, channels=2, speech=speech)
    return write_film(folder / f"film_{factor:.4f}_{pitched}.mp4", audio, FILM_SR, audio_codec="aac",
                      audio_bitrate=128_000)


@pytest.mark.parametrize("factor,pitched",
                         [(25 / 24, True), (25 / 24, False), (0.96, True), (0.92, False), (0.98, False)],
                         ids=["pal-pitched", "pal-pitch-corrected", "slow-0.96-pitched", "slow-0.92-pitch-corrected",
                              "slow-0.98-pitch-corrected"])
def test_music_at_another_speed_is_found_in_album_units(tmp_path, soundtrack, speech, db, config, factor, pitched):
    film = _film(tmp_path, soundtrack, speech, factor, pitched)
    with open_store(db[0], config, create=False) as store:
        result = stamp_film(film, store, config, track_ids=db[1])
    cues = result.cues
    assert list(cues["track"]) == [c[0] for c in CUES], cues
    starts = np.array([c[2] for c in CUES])
    ends = starts + np.array([c[3] for c in CUES])
    # Within a second -- except, pitch-corrected, the cue 5 dB under the dialogue: the phase
    # vocoder smears its notes, and at 0.92 its onset is found up to 1.1 s late (the same limit
    # as the masked onset in test_stamp.py) and its faded end 1.2 s early (its last aligned
    # anchor is a lone one 1.3 s further on, which the cue no longer reaches: lone chance
    # anchors as far out had added seconds of film to cues in the speed benchmark).
    tolerance = np.array([1.0, 1.0 if pitched else 1.25, 1.0])
    assert np.all(np.abs(cues["start_s"] - starts) <= tolerance), cues["start_s"].tolist()
    assert np.all(np.abs(cues["end_s"] - ends) <= tolerance), cues["end_s"].tolist()
    np.testing.assert_allclose(cues["speed"], factor, rtol=0.003)
    semitones = 12 * np.log2(factor) if pitched else 0.0  # 25/24 pitched: +0.707 semitone
    np.testing.assert_allclose(cues["pitch_shift_semitones"], semitones, atol=0.02)
    # The album position at the cue's found start: the album position at the true start plus
    # the film time in between, played at the factor.
    album = np.array([c[1] for c in CUES]) + (cues["start_s"].to_numpy() - starts) * factor
    np.testing.assert_allclose(cues["track_offset_s"], album, atol=0.2)
    assert result.speed == pytest.approx(factor, rel=0.003)
    said = re.search(r"runs (\d+\.\d) % (fast|slow)", result.speed_note)
    assert said and said[2] == ("fast" if factor > 1 else "slow"), result.speed_note
    assert float(said[1]) == pytest.approx(abs(factor - 1) * 100, abs=0.15)  # 0.3 % of the factor, rounded


def test_a_given_factor_is_stamped_alone_and_1_0_is_the_old_stamper(tmp_path, soundtrack, speech, db, config):
    film = _film(tmp_path, soundtrack, speech, 25 / 24, True)
    with open_store(db[0], config, create=False) as store:
        given = stamp_film(film, store, replace(config, speed=1.0417), track_ids=db[1]).cues
        normal = stamp_film(film, store, replace(config, speed=1.0), track_ids=db[1]).cues
    assert list(given["track"]) == [c[0] for c in CUES]
    np.testing.assert_allclose(given["speed"], 25 / 24, rtol=0.003)
    assert normal.empty  # exact landmarks find nothing of music pitched up by 0.71 semitone


def test_a_film_without_the_soundtrack_at_any_speed_gives_no_cue(tmp_path, soundtrack, speech, db, config):
    # Only music that is on no soundtrack, sped up: the probe must find nothing.
    foreign = synth.synth_track("comedy", duration_s=30.0, sr=TRACK_SR, seed=999)
    spec = FilmSpec(duration_s=40.0, cues=[CueSpec("foreign", 5.0, 0.0, 25.0, 0.0)], seed=6)
    audio, _ = render_film_audio(spec, {"foreign": _at_speed(foreign, 25 / 24, True)}, track_sr=TRACK_SR,
                                 film_sr=FILM_SR, channels=2, speech=speech)
    film = write_film(tmp_path / "nothing.mp4", audio, FILM_SR, audio_codec="aac", audio_bitrate=128_000)
    with open_store(db[0], config, create=False) as store:
        result = stamp_film(film, store, config, track_ids=db[1])
    assert result.cues.empty
    assert result.speed is None and "no cue" in result.speed_note


def test_a_track_shorter_than_a_window_is_indexed_and_found_at_speed(tmp_path, speech, config):
    short = synth.synth_track("action", duration_s=3.5, sr=TRACK_SR, seed=42)
    path = write_audio(tmp_path / "sting.flac", short, TRACK_SR)
    spec = FilmSpec(duration_s=20.0, cues=[CueSpec("sting", 8.0, 0.0, 3.5 / (25 / 24), 0.0, fade_s=0.05)], seed=7)
    audio, _ = render_film_audio(spec, {"sting": _at_speed(short, 25 / 24, True)}, track_sr=TRACK_SR,
                                 film_sr=FILM_SR, channels=2, speech=speech)
    film = write_film(tmp_path / "sting.mp4", audio, FILM_SR, audio_codec="aac", audio_bitrate=128_000)
    with open_store(str(tmp_path / "fp.sqlite"), config) as store:
        ids = [o.track_id for o in index_tracks([path], store, config)]
        cues = stamp_film(film, store, config, track_ids=ids).cues
    assert list(cues["track"]) == ["sting"]
    assert cues["start_s"].iloc[0] == pytest.approx(8.0, abs=1.0)
    assert cues["speed"].iloc[0] == pytest.approx(25 / 24, rel=0.003)


@pytest.mark.parametrize("bad", [0.85, 1.2, "fast"])
def test_speed_outside_the_range_is_refused(bad):
    with pytest.raises(ParameterError, match=r"speed=.* must be 'auto' or a factor in 0\.90-1\.10"):
        StamperConfig(speed=bad)


def test_film_speed_summarises_agreeing_cues_and_reads_old_tables():
    cues = pd.DataFrame({"start_s": [0.0, 50.0], "end_s": [20.0, 80.0], "speed": [1.0415, 1.0419],
                         "pitch_shift_semitones": [0.706, 0.707]})
    factor, sentence = film_speed(cues)
    assert factor == pytest.approx(1.0419)  # the longer cue's speed (duration-weighted median)
    assert sentence == "this transfer runs 4.2 % fast: PAL speed-up (pitched up 0.71 semitone)"
    slow = cues.assign(speed=[0.92, 0.9202], pitch_shift_semitones=0.0)
    assert film_speed(slow)[1] == "this transfer runs 8.0 % slow (pitch-corrected)"
    assert film_speed(cues.assign(speed=[1.0, 1.04]))[0] is None  # disagreeing cues
    # A cue table written before speed handling has neither column: normal speed.
    assert film_speed(cues[["start_s", "end_s"]]) == (1.0, "this transfer runs at the soundtrack's speed")


def _windows(offsets, votes=60, first=10):
    """A 1.0 pass's window table: one track matched in consecutive windows at the given offsets."""
    n = len(offsets)
    return pd.DataFrame({"window": np.arange(first, first + n), "track": 0, "offset_frames": offsets,
                         "votes": votes, "matched": True})


def test_drift_of_the_offsets_matched_at_1_0_measures_a_mild_stretch(config):
    # Music stretched to 0.98 of the album's speed: each 5 s window (215.3 frames) slides the best
    # offset by -0.02 x 215.3 = -4.3 frames.
    frames_per_window = config.hop_s / config.frame_seconds
    drifting = np.round(-1000 - 0.02 * frames_per_window * np.arange(5)).astype(int)
    assert drift_speed(_windows(drifting), config) == pytest.approx(0.98, abs=0.002)
    # Music at normal speed keeps its offset to a frame: no stretch.
    assert drift_speed(_windows([-1000, -1001, -1000, -1000, -1001]), config) is None
    # Two windows are not a run.
    assert drift_speed(_windows(drifting[:2]), config) is None


@pytest.mark.parametrize("speed", ["auto", 1.04], ids=["auto", "given-1.04"])
def test_whole_index_finds_a_pal_transfer_without_its_soundtrack(tmp_path, soundtrack, speech, db, config, speed):
    # No soundtrack named: the library search itself must find the tracks at the PAL speed
    # (pitched: nothing of this music matches at 1.0), with auto or a given, slightly-off factor.
    film = _film(tmp_path, soundtrack, speech, 25 / 24, True)
    cfg = replace(config, speed=speed)
    with open_store(db[0], config, create=False) as store:
        own = stamp_film(film, store, cfg, track_ids=db[1]).cues
        whole = stamp_film(film, store, cfg, track_ids=None, library_dir=tmp_path / "lib").cues
    assert list(whole["track"]) == [c[0] for c in CUES]
    pd.testing.assert_frame_equal(whole, own)
