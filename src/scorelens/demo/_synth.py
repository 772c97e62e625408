"""Synthetic film sound with known structure: music in genre-typical styles, speech, effects.

Everything is generated from explicit seeds, so the demo, the tests and the benchmarks
know exactly where each piece of music plays. The music is real polyphonic music in the
sense that matters here (harmonic instruments, chords, melody, bass and drums, with
onsets and envelopes), not test tones; each *style* carries the stereotypes film music
uses for a genre (tempo, mode, register, consonance, timbre), so that the genre models
have something musical to learn in the demo.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import signal

from scorelens.exceptions import ParameterError

__all__ = ["STYLES", "Style", "synth_track", "speech_pool", "speech_source", "dialogue_track", "effects_track",
           "ambience", "rms", "db_to_gain", "SpeechFallbackWarning", "ESPEAK_SPEECH", "BABBLE"]

log = logging.getLogger(__name__)

#: :func:`speech_source` when the utterances are spoken by espeak-ng.
ESPEAK_SPEECH = "espeak-ng speech"
#: :func:`speech_source` when they are the formant babble that stands in without espeak-ng.
BABBLE = "synthetic formant babble"


class SpeechFallbackWarning(UserWarning):
    """espeak-ng is not installed: the synthetic films' dialogue is formant babble, not speech."""


@dataclass(frozen=True)
class Style:
    """Musical stereotypes of one genre's film music."""

    tempo: tuple[float, float]          # beats per minute range
    mode: str                           # "major", "minor" or "atonal"
    register: int                       # MIDI note of the chords' root octave
    drums: float                        # drum level (0 = none)
    pad: float                          # sustained pad/strings level
    pluck: float                        # plucked/arpeggio level
    lead: float                         # melody level
    brightness: float                   # harmonic roll-off exponent (smaller = brighter)
    dissonance: float                   # probability of adding a clashing semitone/tritone
    vibrato: float                      # vibrato depth in semitones


STYLES: dict[str, Style] = {
    "action": Style((132, 160), "minor", 43, 1.0, 0.5, 0.6, 0.7, 0.9, 0.1, 0.05),
    "comedy": Style((112, 136), "major", 55, 0.5, 0.2, 0.9, 0.8, 1.2, 0.0, 0.15),
    "drama": Style((60, 76), "minor", 48, 0.0, 1.0, 0.3, 0.6, 1.6, 0.05, 0.12),
    "horror": Style((40, 60), "atonal", 38, 0.15, 1.0, 0.2, 0.3, 0.8, 0.7, 0.4),
    "romance": Style((64, 84), "major", 52, 0.0, 1.0, 0.6, 0.7, 1.8, 0.0, 0.2),
    "scifi": Style((96, 120), "minor", 45, 0.4, 0.8, 1.0, 0.4, 0.7, 0.25, 0.02),
}

_SCALES = {"major": [0, 2, 4, 5, 7, 9, 11], "minor": [0, 2, 3, 5, 7, 8, 10],
           "atonal": list(range(12))}
_PROGRESSIONS = {"major": [[0, 4, 7], [5, 9, 12], [7, 11, 14], [9, 12, 16]],
                 "minor": [[0, 3, 7], [8, 12, 15], [3, 7, 10], [10, 14, 17]],
                 "atonal": [[0, 1, 6], [0, 5, 11], [2, 3, 8], [0, 6, 7]]}


def db_to_gain(db: float) -> float:
    """Amplitude factor of a level change in dB."""
    return float(10.0 ** (db / 20.0))


def rms(x: np.ndarray) -> float:
    """Root-mean-square level of a signal (0 for an empty one)."""
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64)))) if x.size else 0.0


def _midi_hz(note: float) -> float:
    return 440.0 * 2.0 ** ((note - 69.0) / 12.0)


def _tone(freq: float, dur: float, sr: int, rng: np.random.Generator, *, rolloff: float, attack: float,
          decay: float, vibrato: float = 0.0, n_harm: int = 8) -> np.ndarray:
    """A harmonic tone with an attack/exponential-decay envelope and optional vibrato."""
    n = max(1, int(dur * sr))
    t = np.arange(n) / sr
    phase_mod = 0.0
    if vibrato > 0:
        rate = rng.uniform(4.5, 6.5)
        phase_mod = (2 ** (vibrato / 12) - 1) * freq / rate * np.sin(2 * np.pi * rate * t)
    out = np.zeros(n)
    nyquist = sr / 2
    for k in range(1, n_harm + 1):
        if k * freq >= nyquist * 0.95:
            break
        out += np.sin(2 * np.pi * k * (freq * t + phase_mod) + rng.uniform(0, 2 * np.pi)) / k ** rolloff
    env = np.minimum(1.0, t / max(attack, 1e-3)) * np.exp(-t / max(decay, 1e-3))
    tail = min(n, int(0.03 * sr))
    env[n - tail:] *= np.linspace(1, 0, tail)
    return out * env


def _drum(kind: str, sr: int, rng: np.random.Generator) -> np.ndarray:
    if kind == "kick":
        t = np.arange(int(0.25 * sr)) / sr
        return np.sin(2 * np.pi * (50 * t + 60 * (1 - np.exp(-t * 30)) / 30)) * np.exp(-t * 14)
    n = int((0.18 if kind == "snare" else 0.05) * sr)
    noise = rng.standard_normal(n)
    cutoff = min(1500 if kind == "snare" else 6000, 0.4 * sr)
    b, a = signal.butter(2, cutoff / (sr / 2), "high")
    return signal.lfilter(b, a, noise) * np.exp(-np.arange(n) / sr * (22 if kind == "snare" else 80)) * 0.6


def _add(buf: np.ndarray, start: int, x: np.ndarray) -> None:
    if start >= buf.size:
        return
    end = min(buf.size, start + x.size)
    buf[start:end] += x[: end - start]


def synth_track(style: str, *, duration_s: float, sr: int = 44100, seed: int = 0) -> np.ndarray:
    """Synthesise a piece of film music in a genre's style.

    Parameters
    ----------
    style : str
        One of :data:`STYLES` (``action``, ``comedy``, ``drama``, ``horror``, ``romance``, ``scifi``).
    duration_s : float
        Length in seconds.
    sr : int
        Sample rate (Hz).
    seed : int
        Seed of the melody, progression order, key and timbre details: different seeds give
        different pieces (and different fingerprints).

    Returns
    -------
    np.ndarray [shape=(round(duration_s * sr),), dtype=float32]
        Mono music normalised to an RMS of 0.1.
    """
    st = STYLES[style]
    rng = np.random.default_rng(seed)
    n = int(round(duration_s * sr))
    out = np.zeros(n)
    beat = 60.0 / rng.uniform(*st.tempo)
    root = st.register + int(rng.integers(0, 12))
    scale = _SCALES[st.mode]
    progression = [list(c) for c in _PROGRESSIONS[st.mode]]
    rng.shuffle(progression)
    bar = 4 * beat
    n_bars = int(np.ceil(duration_s / bar))
    melody_note = int(rng.integers(0, len(scale)))
    for b in range(n_bars):
        t0 = b * bar
        chord = progression[b % len(progression)]
        if st.dissonance and rng.random() < st.dissonance:
            chord = chord + [chord[0] + int(rng.choice([1, 6, 11]))]
        if st.pad:
            for iv in chord:
                tone = _tone(_midi_hz(root + iv), bar * 1.05, sr, rng, rolloff=st.brightness, attack=0.25 * bar,
                             decay=4 * bar, vibrato=st.vibrato, n_harm=10)
                _add(out, int(t0 * sr), st.pad * 0.35 * tone)
        # bass on beats 1 and 3
        for k in (0, 2):
            bass = _tone(_midi_hz(root - 12 + chord[0]), 1.8 * beat, sr, rng, rolloff=1.5, attack=0.01,
                         decay=1.2 * beat, n_harm=4)
            _add(out, int((t0 + k * beat) * sr), 0.5 * bass)
        if st.pluck:  # arpeggio in eighth notes
            for k in range(8):
                iv = chord[k % len(chord)] + 12 * (k // len(chord) % 2)
                tone = _tone(_midi_hz(root + 12 + iv), beat, sr, rng, rolloff=st.brightness, attack=0.003,
                             decay=0.35 * beat, n_harm=12)
                _add(out, int((t0 + k * beat / 2) * sr), st.pluck * 0.3 * tone)
        if st.lead:  # a random-walk melody over the scale
            k = 0.0
            while k < 4:
                length = float(rng.choice([0.5, 1.0, 1.0, 2.0]))
                melody_note = int(np.clip(melody_note + rng.integers(-2, 3), 0, 2 * len(scale) - 1))
                pitch = root + 24 + scale[melody_note % len(scale)] + 12 * (melody_note // len(scale))
                tone = _tone(_midi_hz(pitch), length * beat, sr, rng, rolloff=st.brightness, attack=0.02,
                             decay=1.5 * length * beat, vibrato=st.vibrato, n_harm=8)
                _add(out, int((t0 + k * beat) * sr), st.lead * 0.35 * tone)
                k += length
        if st.drums:
            for k in range(4):
                _add(out, int((t0 + k * beat) * sr), st.drums * 0.8 * _drum("kick" if k % 2 == 0 else "snare", sr, rng))
                _add(out, int((t0 + (k + 0.5) * beat) * sr), st.drums * 0.4 * _drum("hat", sr, rng))
    out *= 0.1 / max(rms(out), 1e-9)
    return out.astype(np.float32)


_SENTENCES = [
    "We have to leave before the sun goes down.", "Did you hear that noise coming from the basement?",
    "I never said I would stay here forever.", "The ship is losing power, we need to reroute the engines.",
    "You look wonderful tonight, I mean it.", "Get down, they are right behind us!",
    "Tell me the truth for once in your life.", "That is the worst joke I have ever heard.",
    "The signal came from somewhere beyond the moon.", "Nobody goes into that house after midnight.",
    "I think I am falling in love with you.", "Hold the door, hold the door!",
    "Mother always said this town would ruin us.", "Captain, the readings are off the charts.",
    "Why is there a goat in my kitchen?", "Run, and do not look back.",
]


def _espeak(text: str, voice: str, speed: int, path: Path) -> None:
    subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "-w", str(path), text], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=30)


def _formant_babble(rng: np.random.Generator, sr: int, duration_s: float) -> np.ndarray:
    """Speech-like sound without espeak-ng: a glottal pulse train through moving formant filters."""
    n = int(duration_s * sr)
    f0 = rng.uniform(100, 220) * (1 + 0.1 * np.sin(2 * np.pi * rng.uniform(0.5, 2) * np.arange(n) / sr))
    phase = np.cumsum(f0 / sr)
    pulses = (np.diff(np.floor(phase), prepend=0) > 0).astype(float)
    out = np.zeros(n)
    syll = int(0.2 * sr)
    for start in range(0, n, syll):
        seg = pulses[start:start + syll]
        f1, f2 = rng.uniform(300, 800), rng.uniform(900, 2400)
        y = np.zeros(seg.size)
        for f, bw in ((f1, 80), (f2, 120)):
            r = np.exp(-np.pi * bw / sr)
            y += signal.lfilter([1 - r], [1, -2 * r * np.cos(2 * np.pi * f / sr), r * r], seg)
        out[start:start + seg.size] = y * np.hanning(seg.size)
    return out


def _espeak_installed() -> bool:
    return shutil.which("espeak-ng") is not None


def speech_source(espeak: bool | None = None) -> str:
    """What :func:`speech_pool` speaks with, given the same ``espeak``.

    Parameters
    ----------
    espeak : bool, optional
        As for :func:`speech_pool`.

    Returns
    -------
    str
        :data:`ESPEAK_SPEECH` or :data:`BABBLE`.
    """
    return ESPEAK_SPEECH if (_espeak_installed() if espeak is None else espeak) else BABBLE


def speech_pool(sr: int, *, n: int = 12, seed: int = 0, espeak: bool | None = None) -> list[np.ndarray]:
    """Spoken utterances: espeak-ng voices, or formant babble where espeak-ng is not installed.

    The babble has speech's pitch and formants but not its words or its spectral changes,
    so it masks music differently from dialogue (the stamper's scores on the demo films are
    then not measured against speech). Falling back to it is therefore said loudly: a
    :class:`SpeechFallbackWarning` and a log record at WARNING. Asking for it
    (``espeak=False``) is not warned about.

    Parameters
    ----------
    sr : int
        Sample rate of the returned utterances.
    n : int
        Number of utterances.
    seed : int
    espeak : bool, optional
        Require (True) or forbid (False) espeak-ng; default: use it when it is installed,
        and warn when it is not.

    Returns
    -------
    list of np.ndarray [shape=(n_samples,), dtype=float32], each at RMS 0.1

    Raises
    ------
    ParameterError
        With ``espeak=True`` when espeak-ng is not installed.
    """
    rng = np.random.default_rng(seed)
    installed = _espeak_installed()
    if espeak and not installed:
        raise ParameterError("espeak=True, but espeak-ng is not installed (scripts/setup.sh installs it)")
    use_espeak = installed if espeak is None else espeak
    if espeak is None and not use_espeak:
        message = (f"espeak-ng is not installed: the demo films' dialogue is {BABBLE}, not speech "
                   "(install espeak-ng, e.g. with scripts/setup.sh, for spoken dialogue)")
        warnings.warn(message, SpeechFallbackWarning, stacklevel=2)
        log.warning(message)
    voices = ["en-us", "en+f3", "en+m3", "en-gb", "en+f4", "en+m7"]
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(n):
            if use_espeak:
                from scorelens.io._audio import load_audio
                path = Path(tmp) / f"u{i}.wav"
                _espeak(_SENTENCES[int(rng.integers(len(_SENTENCES)))], voices[i % len(voices)],
                        int(rng.integers(140, 190)), path)
                x = load_audio(path, sample_rate=sr)
            else:
                x = _formant_babble(rng, sr, rng.uniform(1.5, 3.5))
            out.append((x * 0.1 / max(rms(x), 1e-9)).astype(np.float32))
    return out


def dialogue_track(pool: list[np.ndarray], *, duration_s: float, sr: int, seed: int = 0,
                   busy: float = 0.6) -> np.ndarray:
    """Lay utterances from ``pool`` along a timeline, with pauses, covering about ``busy`` of it."""
    rng = np.random.default_rng(seed)
    n = int(round(duration_s * sr))
    out = np.zeros(n, dtype=np.float32)
    pos = int(rng.uniform(0, 1.5) * sr)
    while pos < n:
        utt = pool[int(rng.integers(len(pool)))] * db_to_gain(rng.uniform(-3, 3))
        _add(out, pos, utt)
        mean_len = utt.size / sr
        pos += utt.size + int(rng.exponential(mean_len * (1 - busy) / busy) * sr)
    return out


def effects_track(*, duration_s: float, sr: int, seed: int = 0, rate_per_min: float = 6.0) -> np.ndarray:
    """Sound effects: explosions (low noise bursts), impacts, footsteps, whooshes, at random times."""
    rng = np.random.default_rng(seed)
    n = int(round(duration_s * sr))
    out = np.zeros(n, dtype=np.float32)
    count = rng.poisson(rate_per_min * duration_s / 60)
    for _ in range(count):
        kind = rng.choice(["boom", "hit", "steps", "whoosh"])
        start = int(rng.uniform(0, duration_s) * sr)
        if kind == "boom":
            m = int(rng.uniform(0.8, 2.0) * sr)
            b, a = signal.butter(2, 300 / (sr / 2), "low")
            x = signal.lfilter(b, a, rng.standard_normal(m)) * np.exp(-np.arange(m) / sr * 3) * 4
        elif kind == "hit":
            m = int(0.15 * sr)
            x = rng.standard_normal(m) * np.exp(-np.arange(m) / sr * 40)
        elif kind == "steps":
            m = int(2.0 * sr)
            x = np.zeros(m)
            for k in range(4):
                s = int(k * 0.5 * sr)
                x[s:s + int(0.04 * sr)] += rng.standard_normal(int(0.04 * sr)) * 0.5
        else:
            m = int(1.0 * sr)
            b, a = signal.butter(2, [800 / (sr / 2), 3000 / (sr / 2)], "band")
            x = signal.lfilter(b, a, rng.standard_normal(m)) * np.hanning(m)
        _add(out, start, (x * 0.1 / max(rms(x), 1e-9)).astype(np.float32))
    return out


def ambience(*, duration_s: float, sr: int, seed: int = 0) -> np.ndarray:
    """Room tone: pink-ish noise at RMS 0.1."""
    rng = np.random.default_rng(seed)
    n = int(round(duration_s * sr))
    b, a = signal.butter(1, 800 / (sr / 2), "low")
    x = signal.lfilter(b, a, rng.standard_normal(n)) + 0.05 * rng.standard_normal(n)
    return (x * 0.1 / max(rms(x), 1e-9)).astype(np.float32)
