"""Music features per cue: the study's MIR set (Table 2), VGGish and musicnn embeddings, visual brightness and contrast.

Every kind is a :class:`FeatureKind` (``_base``) whose frames land on one 1 Hz grid (``_grid``,
``_pipeline``); feature names carry their Fig 3 group (``_groups``).

The public names of the modules below are re-exported here and imported on first use, so that
``import scorelens.features`` stays light.
"""

#: Public name -> the module that defines it.
_EXPORTS = {
    "FeatureKind": "_base",
    "FrameFeatures": "_base",
    "GRID_RATE_HZ": "_base",
    "available_kinds": "_base",
    "get_kind": "_base",
    "register_kind": "_base",
    "check_audio": "_embeddings",
    "check_device": "_embeddings",
    "grid_times": "_grid",
    "to_grid": "_grid",
    "PFI_GROUPS": "_groups",
    "UNDEFINED_MARKS": "_groups",
    "group_columns": "_groups",
    "is_feature_column": "_groups",
    "pfi_group": "_groups",
    "undefined_frames": "_groups",
    "MIRKind": "_mir",
    "NO_PULSE_TEMPO": "_mir",
    "PITCH_CLASSES": "_mir",
    "ShortTimeFeatures": "_mir",
    "UNPITCHED_INHARMONICITY": "_mir",
    "chroma_filter": "_mir",
    "mir_descriptor_names": "_mir",
    "short_time_features": "_mir",
    "MODELS": "_musicnn",
    "MSD_LABELS": "_musicnn",
    "MTT_LABELS": "_musicnn",
    "MusicnnKind": "_musicnn",
    "MusicnnNet": "_musicnn",
    "MusicnnOutput": "_musicnn",
    "PATCH_FRAMES": "_musicnn",
    "load_musicnn": "_musicnn",
    "musicnn_log_mel": "_musicnn",
    "musicnn_weights_dir": "_musicnn",
    "FeatureWarning": "_pipeline",
    "FilmReport": "_pipeline",
    "SHARD_EXTRA_COLUMNS": "_pipeline",
    "compute_film": "_pipeline",
    "cue_audio_span": "_pipeline",
    "cue_frames": "_pipeline",
    "cue_level": "_pipeline",
    "feature_columns": "_pipeline",
    "kind_key": "_pipeline",
    "kind_record": "_pipeline",
    "read_cues": "_pipeline",
    "read_feature_metadata": "_pipeline",
    "write_feature_table": "_pipeline",
    "onset_strength": "_rhythm",
    "span_tempo": "_rhythm",
    "tempo_frames": "_rhythm",
    "acf_pitch": "_spectral",
    "inharmonicity": "_spectral",
    "spectral_brightness": "_spectral",
    "spectral_crest": "_spectral",
    "spectral_entropy": "_spectral",
    "spectral_flatness": "_spectral",
    "spectral_moments": "_spectral",
    "spectral_roughness": "_spectral",
    "texture_stats": "_texture",
    "texture_windows": "_texture",
    "KK_MAJOR": "_tonal",
    "KK_MINOR": "_tonal",
    "key_features": "_tonal",
    "key_strengths": "_tonal",
    "EMBEDDING_SIZE": "_vggish",
    "EXAMPLE_HOP_S": "_vggish",
    "VGGISH_DIR_ENV": "_vggish",
    "VGGish": "_vggish",
    "VGGishKind": "_vggish",
    "VGGishWeights": "_vggish",
    "find_vggish_weights": "_vggish",
    "load_pca_params": "_vggish",
    "load_vggish": "_vggish",
    "vggish_examples": "_vggish",
    "vggish_log_mel": "_vggish",
    "vggish_mel_matrix": "_vggish",
    "vggish_postprocess": "_vggish",
    "VISUAL_VERSION": "_visual",
    "brightness": "_visual",
    "contrast": "_visual",
    "cue_summaries": "_visual",
    "luma": "_visual",
    "visual_frames": "_visual",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(f"scorelens.features.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'scorelens.features' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
