"""Synthetic films with known cues, and corpora of them, written as real media files.

A film is a timeline: dialogue, effects and room tone throughout, and music cues (an
excerpt of a soundtrack track from any point, at a known level relative to the rest, with
fades) plus, optionally, music that is *not* on the soundtrack. The truth (which track
plays where) is returned and written as an annotation file, so the Score Stamper's
output can be scored against it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import signal

from scorelens.config import DEFAULT_GENRES
from scorelens.demo import _synth as synth
from scorelens.demo._media import write_audio, write_film
from scorelens.exceptions import ParameterError

__all__ = ["CueSpec", "FilmSpec", "render_film_audio", "make_corpus", "GENRE_STYLES"]

_FOREIGN_SEED = 900_000_000  # seeds of music that is not on any soundtrack

#: Which synthetic music style stands for which of the study's genres.
GENRE_STYLES = {"Action": "action", "Comedy": "comedy", "Drama": "drama", "Horror": "horror",
                "Romance": "romance", "Science Fiction": "scifi"}

#: Genre-typical picture: (background, highlight) 8-bit levels. After the trends the study
#: cites ([14], Chen et al.): Comedy and Romance bright with high contrast, Horror darkest
#: with the least, Action and Science Fiction dark. A film takes the mean of its genres'
#: looks plus a little per-film variation, so the demo's Table 5 has a planted answer.
GENRE_LOOKS = {"Action": (70, 150), "Comedy": (150, 250), "Drama": (100, 175), "Horror": (35, 85),
               "Romance": (140, 240), "Science Fiction": (60, 165)}


@dataclass(frozen=True)
class CueSpec:
    """One use of a soundtrack track in a film.

    Attributes
    ----------
    track : str
        Track title (file stem in the soundtrack folder).
    film_start_s : float
        Film time at which the excerpt starts.
    track_start_s : float
        Track time of the excerpt's first sample.
    duration_s : float
    level_db : float
        Music level relative to everything else in the film over the cue's span (dB);
        -10 means the music is 10 dB under dialogue, effects and ambience.
    fade_s : float
        Fade-in and fade-out length.
    """

    track: str
    film_start_s: float
    track_start_s: float
    duration_s: float
    level_db: float = 0.0
    fade_s: float = 0.5


@dataclass(frozen=True)
class FilmSpec:
    """What a synthetic film contains.

    Attributes
    ----------
    duration_s : float
    cues : list of CueSpec
    foreign_music : list of (film_start_s, duration_s, style, seed)
        Music that is not on the soundtrack (must produce no cue).
    dialogue : float
        Fraction of the time someone speaks (0 = none).
    effects_per_min : float
    seed : int
    """

    duration_s: float
    cues: list[CueSpec]
    foreign_music: list[tuple[float, float, str, int]] = field(default_factory=list)
    dialogue: float = 0.6
    effects_per_min: float = 6.0
    seed: int = 0


def _resample(x: np.ndarray, sr_in: int, sr_out: int) -> np.ndarray:
    if sr_in == sr_out:
        return x
    g = np.gcd(sr_in, sr_out)
    return signal.resample_poly(x, sr_out // g, sr_in // g).astype(np.float32)


def render_film_audio(spec: FilmSpec, tracks: dict[str, np.ndarray], *, track_sr: int, film_sr: int = 48000,
                      channels: int = 2, speech: list[np.ndarray] | None = None) -> tuple[np.ndarray, pd.DataFrame]:
    """Mix a film's sound from its spec.

    Parameters
    ----------
    spec : FilmSpec
    tracks : dict of str to np.ndarray
        Soundtrack tracks by title, mono at ``track_sr``.
    track_sr : int
    film_sr : int
        The film's rate; tracks are resampled to it (e.g. 44.1 kHz → 48 kHz, as in a real film).
    channels : int
        1, 2 or 6 (5.1: dialogue in the centre, music in front left/right and the surrounds).
    speech : list of np.ndarray, optional
        Utterances at ``film_sr`` (default: :func:`synth.speech_pool`).

    Returns
    -------
    audio : np.ndarray [shape=(n, channels), dtype=float32]
    truth : pd.DataFrame
        Columns ``track, start_s, end_s, track_offset_s`` (film times of each cue).
    """
    n = int(round(spec.duration_s * film_sr))
    rest_rng = spec.seed * 7919
    if spec.dialogue > 0:
        speech = speech if speech is not None else synth.speech_pool(film_sr, seed=spec.seed)
        dialogue = synth.dialogue_track(speech, duration_s=spec.duration_s, sr=film_sr, seed=rest_rng + 1,
                                        busy=spec.dialogue)
    else:
        dialogue = np.zeros(n, dtype=np.float32)
    effects = synth.effects_track(duration_s=spec.duration_s, sr=film_sr, seed=rest_rng + 2,
                                  rate_per_min=spec.effects_per_min)
    room = synth.ambience(duration_s=spec.duration_s, sr=film_sr, seed=rest_rng + 3) * synth.db_to_gain(-20)
    rest = dialogue + effects + room
    music = np.zeros(n, dtype=np.float32)
    rows = []
    for cue in spec.cues:
        src = tracks[cue.track]
        a = int(round(cue.track_start_s * track_sr))
        b = min(src.size, a + int(round(cue.duration_s * track_sr)))
        piece = _resample(src[a:b], track_sr, film_sr).copy()  # the fades below must not touch the track
        fade = min(int(cue.fade_s * film_sr), piece.size // 2)
        if fade:
            ramp = np.linspace(0.0, 1.0, fade, dtype=np.float32)
            piece[:fade] *= ramp
            piece[-fade:] *= ramp[::-1]
        start = int(round(cue.film_start_s * film_sr))
        piece = piece[: max(0, n - start)]
        rest_level = synth.rms(rest[start:start + piece.size])
        gain = synth.db_to_gain(cue.level_db) * rest_level / max(synth.rms(piece), 1e-9)
        music[start:start + piece.size] += piece * gain
        rows.append({"track": cue.track, "start_s": cue.film_start_s,
                     "end_s": cue.film_start_s + piece.size / film_sr, "track_offset_s": cue.track_start_s,
                     "level_db": cue.level_db})
    for start_s, dur_s, style, seed in spec.foreign_music:
        piece = synth.synth_track(style, duration_s=dur_s, sr=film_sr, seed=seed)
        start = int(round(start_s * film_sr))
        piece = piece[: max(0, n - start)]
        music[start:start + piece.size] += piece * (synth.rms(rest[start:start + piece.size]) /
                                                    max(synth.rms(piece), 1e-9))
    if channels == 1:
        audio = (rest + music)[:, None]
    elif channels == 2:
        audio = np.stack([rest + music, rest + music], axis=1)
    elif channels == 6:  # FL FR FC LFE BL BR
        audio = np.stack([0.4 * effects + music, 0.4 * effects + music, dialogue + room, 0.2 * effects,
                          0.3 * effects + 0.5 * music + room, 0.3 * effects + 0.5 * music + room], axis=1)
    else:
        raise ValueError(f"channels={channels} must be 1, 2 or 6")
    peak = float(np.abs(audio).max())
    if peak > 0.99:
        audio = audio * (0.99 / peak)
    truth = pd.DataFrame(rows, columns=["track", "start_s", "end_s", "track_offset_s", "level_db"])
    return audio.astype(np.float32), truth


def _genre_sets(n_films: int, taxonomy: tuple[str, ...], rng: np.random.Generator) -> list[list[str]]:
    sets = []
    for i in range(n_films):
        first = taxonomy[i % len(taxonomy)]
        labels = [first]
        if rng.random() < 0.4:
            second = taxonomy[int(rng.integers(len(taxonomy)))]
            if second != first:
                labels.append(second)
        sets.append(labels)
    return sets


def make_corpus(root: str | os.PathLike, *, n_films: int = 4, film_duration_s: float = 120.0,
                tracks_per_film: int = 3, track_duration_s: float = 40.0, seed: int = 0,
                containers: tuple[str, ...] = ("mp4", "mkv"), track_formats: tuple[str, ...] = ("mp3", "flac", "wav"),
                levels_db: tuple[float, ...] = (0.0, -5.0), channels: int = 2, film_sr: int = 48000,
                track_sr: int = 44100, foreign_music: bool = True, taxonomy: tuple[str, ...] = DEFAULT_GENRES,
                genre_sets: list[list[str]] | None = None, progress=None) -> Path:
    """Write a small corpus of synthetic films, soundtracks, truth annotations and a manifest.

    Each film gets 1–2 genres; its soundtrack's tracks are in the styles of those genres;
    each track is used once or twice in the film (two separate uses of one track are two
    cues), from varying track offsets and at levels drawn from ``levels_db``; some films
    also play music that is not on their soundtrack. The dialogue is espeak-ng speech, or,
    where espeak-ng is not installed, formant babble (:func:`synth.speech_pool` warns); the
    manifest's first line says which (``# dialogue: …``).

    Parameters
    ----------
    root : path
        Output folder (created): ``corpus.toml``, ``films/``, ``soundtracks/<film>/``, ``truth/``.
    n_films, film_duration_s, tracks_per_film, track_duration_s : numbers
    seed : int
    containers : tuple of str
        Film containers used in turn (``mp4``: AAC + H.264; ``mkv``: AC-3 + H.264; ``mov``: PCM;
        ``webm``: Opus + VP8).
    track_formats : tuple of str
        Soundtrack file formats used in turn.
    levels_db : tuple of float
        Music-to-rest levels of the cues, in turn.
    channels : int
        Film audio channels (2 or 6).
    genre_sets : list of list of str, optional
        Each film's genres (``n_films`` lists, from ``taxonomy``); default: 1-2 drawn per film.
    progress : callable, optional
        Called with a message after each film is written.

    Returns
    -------
    Path
        The manifest ``root/corpus.toml``.
    """
    root = Path(root)
    rng = np.random.default_rng(seed)
    speech_source = synth.speech_source()
    speech = synth.speech_pool(film_sr, seed=seed)  # warns when espeak-ng is missing
    if genre_sets is None:
        genre_sets = _genre_sets(n_films, taxonomy, rng)
    elif len(genre_sets) != n_films or any(not g or set(g) - set(taxonomy) for g in genre_sets):
        raise ParameterError(f"genre_sets must give each of the {n_films} films one or more genres of {taxonomy}")
    codec_for = {"mp4": ("aac", "libx264"), "mkv": ("ac3", "libx264"), "mov": ("pcm_s16le", "libx264"),
                 "webm": ("libopus", "libvpx"), "avi": ("libmp3lame", "mpeg4")}
    # What the dialogue is stays with the corpus: without espeak-ng it is babble, not speech.
    lines = [f"# dialogue: {speech_source}", "[corpus]", f'name = "synthetic-{seed}"',
             "genres = [" + ", ".join(f'"{g}"' for g in taxonomy) + "]", ""]
    level_cycle = 0
    for i in range(n_films):
        film_id = f"film{i + 1:02d}"
        genres = genre_sets[i]
        tracks: dict[str, np.ndarray] = {}
        st_dir = root / "soundtracks" / film_id
        for k in range(tracks_per_film):
            style = GENRE_STYLES.get(genres[k % len(genres)], "drama")
            title = f"{film_id}_{k + 1:02d}_{style}"
            tracks[title] = synth.synth_track(style, duration_s=track_duration_s, sr=track_sr,
                                              seed=seed * 10007 + i * 101 + k)
            fmt = track_formats[(i + k) % len(track_formats)]
            write_audio(st_dir / f"{title}.{fmt}", tracks[title], track_sr, bitrate=192_000 if fmt == "mp3" else None)
        # Lay out the cues: slots spread over the film, separated by music-free gaps.
        titles = list(tracks)
        uses = titles + [titles[0]]  # the first track is used twice
        slot = film_duration_s / len(uses)
        cues = []
        for u, title in enumerate(uses):
            dur = float(rng.uniform(0.35, 0.6) * slot)
            dur = min(dur, track_duration_s - 2)
            start = u * slot + float(rng.uniform(1.0, max(1.5, slot - dur - 1.0)))
            offset = float(rng.uniform(0, track_duration_s - dur))
            cues.append(CueSpec(title, round(start, 2), round(offset, 2), round(dur, 2),
                                levels_db[level_cycle % len(levels_db)]))
            level_cycle += 1
        foreign = []
        if foreign_music and i % 2 == 1:
            # Music not on the soundtrack, in a gap between two cues.
            gap_start = cues[0].film_start_s + cues[0].duration_s + 0.5
            gap = cues[1].film_start_s - gap_start - 0.5
            if gap > 4:
                style = GENRE_STYLES[taxonomy[(i + 2) % len(taxonomy)]] if taxonomy[0] in GENRE_STYLES else "drama"
                # A seed space of its own: a foreign piece must never be a soundtrack track.
                foreign.append((gap_start, min(gap, 15.0), style, _FOREIGN_SEED + seed * 31 + i))
        spec = FilmSpec(duration_s=film_duration_s, cues=cues, foreign_music=foreign, seed=seed * 1000 + i)
        audio, truth = render_film_audio(spec, tracks, track_sr=track_sr, film_sr=film_sr, channels=channels,
                                         speech=speech)
        container = containers[i % len(containers)]
        acodec, vcodec = codec_for[container]
        film_path = root / "films" / f"{film_id}.{container}"
        looks = [GENRE_LOOKS[g] for g in genres if g in GENRE_LOOKS]
        if looks:
            jitter = (7 * i) % 11 - 5
            background, highlight = (int(round(np.mean(v))) + jitter for v in zip(*looks))
        else:
            background, highlight = 60 + (25 * len(genres) + 20 * i) % 80, 230
        write_film(film_path, audio, film_sr, audio_codec=acodec, video_codec=vcodec,
                   frame_at=lambda t, b=background, h=highlight: _frame(t, b, h))
        truth.insert(0, "film_id", film_id)
        (root / "truth").mkdir(parents=True, exist_ok=True)
        truth.to_csv(root / "truth" / f"{film_id}.csv", index=False, float_format="%.3f")
        lines += ["[[film]]", f'id = "{film_id}"', f'title = "Synthetic film {i + 1}"', f"year = {2014 + i % 6}",
                  f'film = "films/{film_id}.{container}"', f'soundtrack = "soundtracks/{film_id}/"',
                  "genres = [" + ", ".join(f'"{g}"' for g in genres) + "]", f'cues = "truth/{film_id}.csv"', ""]
        if progress is not None:
            progress(film_id)
    manifest = root / "corpus.toml"
    manifest.write_text("\n".join(lines), encoding="utf-8")
    return manifest


def _frame(t: float, base: int, highlight: int = 230, size: tuple[int, int] = (128, 72)) -> np.ndarray:
    """A simple moving image: a brighter square drifting over a background of a given brightness."""
    w, h = size
    img = np.full((h, w, 3), base, dtype=np.uint8)
    x = int((t * 7) % (w - 32))
    img[16:48, x:x + 32] = highlight
    return img
