"""Reading and writing media and files: decoding audio (:mod:`.audio`) and pictures (:mod:`.video`) with PyAV,
the containers behind them (:mod:`.container`), atomic writes (:mod:`.atomic`) and TensorFlow checkpoints
(:mod:`.tfcheckpoint`).

The public names of the modules below are re-exported here and imported on first use, so that
``import scorelens.io`` stays light.
"""

#: Public name -> the module that defines it.
_EXPORTS = {
    "atomic_path": "atomic",
    "check_writable_target": "atomic",
    "write_json_atomic": "atomic",
    "AUDIO_EXTENSIONS": "audio",
    "AudioInfo": "audio",
    "VIDEO_EXTENSIONS": "audio",
    "file_digest": "audio",
    "iter_audio_blocks": "audio",
    "load_audio": "audio",
    "probe_audio": "audio",
    "check_media_file": "container",
    "declared_duration": "container",
    "open_media": "container",
    "VideoInfo": "video",
    "VideoWarning": "video",
    "probe_video": "video",
    "sample_frames": "video",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(f"scorelens.io.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'scorelens.io' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
