"""The Score Stamper: fingerprint soundtrack tracks, find where they play in a film, merge the hits into cues.

The pipeline in the order it runs: :mod:`.peaks` (spectral peaks) -> :mod:`.hashes` (landmark hashes) ->
:mod:`.store` (SQLite or PostgreSQL) -> :mod:`.match` (window votes) -> :mod:`.cues` (timestamped cues), with
:mod:`.speed` (films at another speed), :mod:`.library` (whole-index search), :mod:`.cuetable` (the one cue-table
format) and :mod:`.evaluate` (scores against annotations); :mod:`.pipeline` ties them together.

The public names of the modules below are re-exported here and imported on first use, so that
``import scorelens.stamp`` stays light.
"""

#: Public name -> the module that defines it.
_EXPORTS = {
    "CUE_COLUMNS": "cues",
    "build_cues": "cues",
    "ANNOTATION_COLUMNS": "cuetable",
    "REQUIRED_COLUMNS": "cuetable",
    "read_cue_table": "cuetable",
    "write_cue_table": "cuetable",
    "evaluate_cues": "evaluate",
    "summarise": "evaluate",
    "Fingerprint": "fingerprint",
    "fingerprint_file": "fingerprint",
    "fingerprint_signal": "fingerprint",
    "HASH_BITS": "hashes",
    "hashes_to_landmarks": "hashes",
    "landmark_pairs": "hashes",
    "landmarks_to_hashes": "hashes",
    "peaks_to_hashes": "hashes",
    "FORMAT_VERSION": "library",
    "LibraryIndex": "library",
    "build_library_index": "library",
    "default_library_dir": "library",
    "in_sample": "library",
    "library_folder_name": "library",
    "library_key": "library",
    "open_library_index": "library",
    "HashIndex": "match",
    "Matches": "match",
    "hash_runs": "match",
    "lookup": "match",
    "match_film": "match",
    "pool_votes": "match",
    "vote_windows": "match",
    "PeakFinder": "peaks",
    "Peaks": "peaks",
    "find_peaks": "peaks",
    "IndexOutcome": "pipeline",
    "StampResult": "pipeline",
    "index_tracks": "pipeline",
    "stamp_film": "pipeline",
    "PAL_FACTOR": "speed",
    "SpeedHypothesis": "speed",
    "SpeedPass": "speed",
    "drift_speed": "speed",
    "film_speed": "speed",
    "hash_at_speed": "speed",
    "merge_passes": "speed",
    "probe_speeds": "speed",
    "probe_window_peaks": "speed",
    "refined_factor": "speed",
    "FingerprintStore": "store",
    "PostgresStore": "store",
    "SCHEMA_VERSION": "store",
    "SQLiteStore": "store",
    "TrackRecord": "store",
    "open_store": "store",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(f"scorelens.stamp.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'scorelens.stamp' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
