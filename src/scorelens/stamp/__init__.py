"""The Score Stamper: fingerprint soundtrack tracks, find where they play in a film, merge the hits into cues.

The pipeline in the order it runs: ``_peaks`` (spectral peaks) -> ``_hashes`` (landmark hashes) ->
``_store`` (SQLite or PostgreSQL) -> ``_match`` (window votes) -> ``_cues`` (timestamped cues), with
``_speed`` (films at another speed), ``_library`` (whole-index search), ``_cuetable`` (the one cue-table
format) and ``_evaluate`` (scores against annotations); ``_pipeline`` ties them together.

The public names of the modules below are re-exported here and imported on first use, so that
``import scorelens.stamp`` stays light.
"""

from scorelens._lazy import lazy_exports

#: Public name -> the module that defines it.
_EXPORTS = {
    "CUE_COLUMNS": "_cues",
    "build_cues": "_cues",
    "ANNOTATION_COLUMNS": "_cuetable",
    "REQUIRED_COLUMNS": "_cuetable",
    "read_cue_table": "_cuetable",
    "write_cue_table": "_cuetable",
    "evaluate_cues": "_evaluate",
    "summarise": "_evaluate",
    "Fingerprint": "_fingerprint",
    "fingerprint_file": "_fingerprint",
    "fingerprint_signal": "_fingerprint",
    "HASH_BITS": "_hashes",
    "hashes_to_landmarks": "_hashes",
    "landmark_pairs": "_hashes",
    "landmarks_to_hashes": "_hashes",
    "peaks_to_hashes": "_hashes",
    "FORMAT_VERSION": "_library",
    "LibraryIndex": "_library",
    "build_library_index": "_library",
    "default_library_dir": "_library",
    "in_sample": "_library",
    "library_folder_name": "_library",
    "library_key": "_library",
    "open_library_index": "_library",
    "HashIndex": "_match",
    "Matches": "_match",
    "hash_runs": "_match",
    "lookup": "_match",
    "match_film": "_match",
    "pool_votes": "_match",
    "vote_windows": "_match",
    "PeakFinder": "_peaks",
    "Peaks": "_peaks",
    "find_peaks": "_peaks",
    "IndexOutcome": "_pipeline",
    "StampResult": "_pipeline",
    "index_tracks": "_pipeline",
    "stamp_film": "_pipeline",
    "PAL_FACTOR": "_speed",
    "SpeedHypothesis": "_speed",
    "SpeedPass": "_speed",
    "drift_speed": "_speed",
    "film_speed": "_speed",
    "hash_at_speed": "_speed",
    "merge_passes": "_speed",
    "probe_speeds": "_speed",
    "probe_window_peaks": "_speed",
    "refined_factor": "_speed",
    "FingerprintStore": "_store",
    "PostgresStore": "_store",
    "SCHEMA_VERSION": "_store",
    "SQLiteStore": "_store",
    "TrackRecord": "_store",
    "open_store": "_store",
}

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
