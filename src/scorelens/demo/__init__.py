"""The demo's synthetic corpus: genre-styled music, espeak-ng dialogue, effects and films with known cues.

The public names of the modules below are re-exported here and imported on first use, so that
``import scorelens.demo`` stays light.
"""

from scorelens._lazy import lazy_exports

#: Public name -> the module that defines it.
_EXPORTS = {
    "CueSpec": "_films",
    "FilmSpec": "_films",
    "GENRE_STYLES": "_films",
    "make_corpus": "_films",
    "render_film_audio": "_films",
    "AUDIO_CODEC_BY_EXTENSION": "_media",
    "write_audio": "_media",
    "write_film": "_media",
    "BABBLE": "_synth",
    "ESPEAK_SPEECH": "_synth",
    "STYLES": "_synth",
    "SpeechFallbackWarning": "_synth",
    "Style": "_synth",
    "ambience": "_synth",
    "db_to_gain": "_synth",
    "dialogue_track": "_synth",
    "effects_track": "_synth",
    "rms": "_synth",
    "speech_pool": "_synth",
    "speech_source": "_synth",
    "synth_track": "_synth",
}

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
