"""Reading and writing media and files: decoding audio (``_audio``) and pictures (``_video``) with PyAV,
the containers behind them (``_container``), atomic writes (``_atomic``) and TensorFlow checkpoints
(:mod:`.tfcheckpoint`).

The public names of the modules below are re-exported here and imported on first use, so that
``import scorelens.io`` stays light.
"""

from scorelens._lazy import lazy_exports

#: Public name -> the module that defines it.
_EXPORTS = {
    "atomic_path": "_atomic",
    "check_writable_target": "_atomic",
    "write_json_atomic": "_atomic",
    "AUDIO_EXTENSIONS": "_audio",
    "AudioInfo": "_audio",
    "VIDEO_EXTENSIONS": "_audio",
    "file_digest": "_audio",
    "iter_audio_blocks": "_audio",
    "load_audio": "_audio",
    "probe_audio": "_audio",
    "check_media_file": "_container",
    "declared_duration": "_container",
    "open_media": "_container",
    "VideoInfo": "_video",
    "VideoWarning": "_video",
    "probe_video": "_video",
    "sample_frames": "_video",
}

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
