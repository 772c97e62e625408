"""The demo's synthetic corpus: genre-styled music, espeak-ng dialogue, effects and films with known cues.

The public names of the modules below are re-exported here and imported on first use, so that
``import scorelens.demo`` stays light.
"""

#: Public name -> the module that defines it.
_EXPORTS = {
    "CueSpec": "films",
    "FilmSpec": "films",
    "GENRE_STYLES": "films",
    "make_corpus": "films",
    "render_film_audio": "films",
    "AUDIO_CODEC_BY_EXTENSION": "media",
    "write_audio": "media",
    "write_film": "media",
    "BABBLE": "synth",
    "ESPEAK_SPEECH": "synth",
    "STYLES": "synth",
    "SpeechFallbackWarning": "synth",
    "Style": "synth",
    "ambience": "synth",
    "db_to_gain": "synth",
    "dialogue_track": "synth",
    "effects_track": "synth",
    "rms": "synth",
    "speech_pool": "synth",
    "speech_source": "synth",
    "synth_track": "synth",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(f"scorelens.demo.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'scorelens.demo' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
