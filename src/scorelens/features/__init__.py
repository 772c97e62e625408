"""Music features per cue: the study's MIR set (Table 2), VGGish and musicnn embeddings, visual brightness and contrast.

Every kind is a :class:`FeatureKind` (:mod:`.base`) whose frames land on one 1 Hz grid (:mod:`.grid`,
:mod:`.pipeline`); feature names carry their Fig 3 group (:mod:`.groups`).

The public names of the modules below are re-exported here and imported on first use, so that
``import scorelens.features`` stays light.
"""

#: Public name -> the module that defines it.
_EXPORTS = {
    "FeatureKind": "base",
    "FrameFeatures": "base",
    "GRID_RATE_HZ": "base",
    "available_kinds": "base",
    "get_kind": "base",
    "register_kind": "base",
    "check_audio": "embeddings",
    "grid_times": "grid",
    "to_grid": "grid",
    "PFI_GROUPS": "groups",
    "UNDEFINED_MARKS": "groups",
    "group_columns": "groups",
    "is_feature_column": "groups",
    "pfi_group": "groups",
    "undefined_frames": "groups",
    "MIRKind": "mir",
    "NO_PULSE_TEMPO": "mir",
    "PITCH_CLASSES": "mir",
    "ShortTimeFeatures": "mir",
    "UNPITCHED_INHARMONICITY": "mir",
    "chroma_filter": "mir",
    "mir_descriptor_names": "mir",
    "short_time_features": "mir",
    "MODELS": "musicnn",
    "MSD_LABELS": "musicnn",
    "MTT_LABELS": "musicnn",
    "MusicnnKind": "musicnn",
    "MusicnnNet": "musicnn",
    "MusicnnOutput": "musicnn",
    "PATCH_FRAMES": "musicnn",
    "load_musicnn": "musicnn",
    "musicnn_log_mel": "musicnn",
    "musicnn_weights_dir": "musicnn",
    "FeatureWarning": "pipeline",
    "FilmReport": "pipeline",
    "SHARD_EXTRA_COLUMNS": "pipeline",
    "compute_film": "pipeline",
    "cue_audio_span": "pipeline",
    "cue_frames": "pipeline",
    "cue_level": "pipeline",
    "feature_columns": "pipeline",
    "kind_key": "pipeline",
    "kind_record": "pipeline",
    "read_cues": "pipeline",
    "read_feature_metadata": "pipeline",
    "write_feature_table": "pipeline",
    "onset_strength": "rhythm",
    "span_tempo": "rhythm",
    "tempo_frames": "rhythm",
    "acf_pitch": "spectral",
    "inharmonicity": "spectral",
    "spectral_brightness": "spectral",
    "spectral_crest": "spectral",
    "spectral_entropy": "spectral",
    "spectral_flatness": "spectral",
    "spectral_moments": "spectral",
    "spectral_roughness": "spectral",
    "texture_stats": "texture",
    "texture_windows": "texture",
    "KK_MAJOR": "tonal",
    "KK_MINOR": "tonal",
    "key_features": "tonal",
    "key_strengths": "tonal",
    "EMBEDDING_SIZE": "vggish",
    "EXAMPLE_HOP_S": "vggish",
    "VGGISH_DIR_ENV": "vggish",
    "VGGish": "vggish",
    "VGGishKind": "vggish",
    "VGGishWeights": "vggish",
    "find_vggish_weights": "vggish",
    "load_pca_params": "vggish",
    "load_vggish": "vggish",
    "vggish_examples": "vggish",
    "vggish_log_mel": "vggish",
    "vggish_mel_matrix": "vggish",
    "vggish_postprocess": "vggish",
    "VISUAL_VERSION": "visual",
    "brightness": "visual",
    "contrast": "visual",
    "cue_summaries": "visual",
    "luma": "visual",
    "visual_frames": "visual",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(f"scorelens.features.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'scorelens.features' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
