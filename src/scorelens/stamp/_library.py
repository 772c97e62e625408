"""The library index: every track of a fingerprint database in memory-mapped arrays, for whole-index stamping.

Matching a film against its own soundtrack loads a dozen tracks into a
:class:`~scorelens.stamp._match.HashIndex`. Against a whole corpus' library (1,000
soundtracks, ~3,000 hours) that breaks: 1.4 billion postings, 16 GB of arrays loaded for
every film, and about 165 postings per hash value, where the matcher ignores values with
more than 64. Whole-index stamping therefore runs in two stages:

1. **Candidate search** in the library index, a few NumPy ``.npy`` arrays on disk, built
   once from the database and memory-mapped, so every stamping process shares one copy
   through the page cache and opening it costs nothing. It holds

   * one hash value in ``library_sample`` (a fixed subset of the hash space, the same for
     tracks and films): finding a track needs a few aligned hashes per cue, not all of them;
   * at most ``library_cap`` postings per value: a popular value keeps a fixed random
     sample of its postings (chosen by a hash of track, frame and value, so the same in
     every build) instead of being dropped, and so still votes;
   * each posting as one uint32: the anchor's frame on a single time line on which all
     tracks are laid end to end (a track is found again from its start on that line).

   The film's hashes in the subset vote over (film chunk of ``library_chunk_s``, offset on
   the time line); a track with ``library_min_votes`` aligned votes (±1 frame) in a chunk
   is a candidate. A film hash costs at most ``library_cap`` postings, so the search does
   not grow with the library.
2. **Verification**: the candidates' full fingerprints are read from the database into a
   ``HashIndex``, and the film is matched exactly as against its soundtrack (every posting,
   the same votes, thresholds and cue building), which keeps that precision.

The index is keyed by the database's tracks (ids and content digests), the analysis
settings and the index settings: indexing a new track makes the next whole-index stamping
build a new one. Building streams the database three times in batches of tracks, so its
memory stays at a few hundred MB whatever the library's size.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import re
import shutil
import time
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd

from scorelens._version import __version__
from scorelens.config import StamperConfig
from scorelens.exceptions import StoreError
from scorelens.stamp._fingerprint import Fingerprint
from scorelens.stamp._hashes import HASH_BITS
from scorelens.stamp._match import hash_runs, pool_votes
from scorelens.stamp._store import FingerprintStore

__all__ = ["LibraryIndex", "build_library_index", "open_library_index", "library_key", "in_sample",
           "default_library_dir", "library_folder_name", "FORMAT_VERSION"]

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
_META = "meta.json"
_ARRAYS = ("starts", "postings", "track_ids", "track_starts")
# Frames left between two tracks on the time line: more than a landmark spans, so that no
# offset of one track runs into the next.
_GAP_FRAMES = 64
_OFFSET_BITS = 35
# Postings expanded at once in the candidate search (about 100 MB of temporaries).
_POSTINGS_PER_PASS = 4_000_000
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1, _MIX2 = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)


def in_sample(hashes: np.ndarray, sample: int) -> np.ndarray:
    """Which hash values belong to the library index's subset (one in ``sample``).

    A multiplicative hash of the value (Knuth's golden ratio) picks the subset, so that it
    does not favour any frequency band or landmark length.

    Parameters
    ----------
    hashes : np.ndarray [shape=(n,)]
    sample : int
        Keep one value in this many (1: all).

    Returns
    -------
    np.ndarray [shape=(n,), dtype=bool]
    """
    if sample <= 1:
        return np.ones(np.shape(hashes), dtype=bool)
    mixed = np.asarray(hashes, dtype=np.uint64) * _GOLDEN  # wraps modulo 2**64, as intended
    return (mixed >> np.uint64(32)) < np.uint64((1 << 32) // sample)


def _priority(track_ids: np.ndarray, frames: np.ndarray, hashes: np.ndarray) -> np.ndarray:
    """A fixed pseudo-random number in [0, 2**32) per posting (splitmix64's finaliser)."""
    x = (track_ids.astype(np.uint64) * _GOLDEN) ^ (frames.astype(np.uint64) << np.uint64(24)) ^ hashes.astype(
        np.uint64)
    x ^= x >> np.uint64(30)
    x *= _MIX1
    x ^= x >> np.uint64(27)
    x *= _MIX2
    x ^= x >> np.uint64(31)
    return x >> np.uint64(32)


def _kept(hashes: np.ndarray, frames: np.ndarray, track_ids: np.ndarray, counts: np.ndarray,
          cap: int) -> np.ndarray:
    """Postings kept for a value with ``counts`` postings: all up to ``cap``, else a random ``cap`` on average."""
    n = counts[hashes]
    keep = n <= cap
    crowded = ~keep
    if crowded.any():
        threshold = (cap * float(1 << 32)) / n[crowded]
        keep[crowded] = _priority(track_ids[crowded], frames[crowded], hashes[crowded]) < threshold
    return keep


def library_key(tracks: pd.DataFrame, config: StamperConfig) -> str:
    """Digest naming a library index: the database's tracks, the analysis and index settings.

    Parameters
    ----------
    tracks : pd.DataFrame
        :meth:`FingerprintStore.tracks` (columns ``id`` and ``content_digest`` are used).
    config : StamperConfig

    Returns
    -------
    str
        16 hexadecimal characters.
    """
    h = hashlib.blake2b(digest_size=8)
    h.update(_settings_digest(config).encode())
    for track_id, digest in zip(tracks["id"].astype(int), tracks["content_digest"]):
        h.update(f"{track_id}:{digest};".encode())
    return h.hexdigest()


def default_library_dir(url: str) -> Path:
    """Where a database's library index is cached when no folder is given.

    ``$XDG_CACHE_HOME/scorelens/library/<digest of the database URL>`` (``~/.cache`` by
    default). The stages layer keeps it in the workspace instead.

    Parameters
    ----------
    url : str
        The database's URL or path.

    Returns
    -------
    Path
    """
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "scorelens" / "library" / library_folder_name(url)


def library_folder_name(url: str) -> str:
    """Folder name of a database's library indexes: a digest of its URL (or absolute path).

    Parameters
    ----------
    url : str

    Returns
    -------
    str
        12 hexadecimal characters.
    """
    name = url if "://" in url else str(Path(url).resolve())
    return hashlib.blake2b(name.encode(), digest_size=6).hexdigest()


class LibraryIndex:
    """A built library index, memory-mapped (see the module's description).

    Parameters
    ----------
    path : path
        The index's folder (as :func:`build_library_index` writes it).

    Attributes
    ----------
    track_ids : np.ndarray [shape=(n_tracks,), dtype=int64]
        Database ids of the tracks, in time-line order.
    track_starts : np.ndarray [shape=(n_tracks + 1,), dtype=int64]
        Each track's first frame on the time line (and the line's end).
    starts : np.ndarray [shape=(2**HASH_BITS + 1,)]
        Run starts of each hash value in ``postings`` (memory-mapped).
    postings : np.ndarray [shape=(n_postings,), dtype=uint32 or uint64]
        Anchor frames on the time line, grouped by hash value (memory-mapped).
    meta : dict
        Settings, sizes and provenance (``meta.json``).
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        try:
            self.meta = json.loads((self.path / _META).read_text())
            arrays = {name: np.load(self.path / f"{name}.npy", mmap_mode="r") for name in _ARRAYS}
        except (OSError, ValueError) as exc:
            raise StoreError(f"{self.path}: not a readable library index ({exc}); delete it to rebuild") from exc
        if self.meta.get("format") != FORMAT_VERSION:
            raise StoreError(f"{self.path}: library index format {self.meta.get('format')}, this scorelens reads "
                             f"{FORMAT_VERSION}; delete it to rebuild")
        self.starts, self.postings = arrays["starts"], arrays["postings"]
        self.track_ids = np.array(arrays["track_ids"], dtype=np.int64)
        self.track_starts = np.array(arrays["track_starts"], dtype=np.int64)
        self.sample = int(self.meta["sample"])
        self.cap = int(self.meta["cap"])
        self.key = str(self.meta["key"])

    def __len__(self) -> int:
        return int(self.postings.shape[0])

    def runs(self, hashes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """First and one-past-last position of each hash's postings.

        Parameters
        ----------
        hashes : np.ndarray [shape=(n,)]
            Values in [0, 2**HASH_BITS).

        Returns
        -------
        lo, hi : np.ndarray [shape=(n,), dtype=int64]
        """
        return hash_runs(self.starts, hashes)

    def track_of(self, positions: np.ndarray) -> np.ndarray:
        """Database track id of each time-line frame.

        Parameters
        ----------
        positions : np.ndarray [shape=(n,)]

        Returns
        -------
        np.ndarray [shape=(n,), dtype=int64]
        """
        return self.track_ids[np.searchsorted(self.track_starts, positions, side="right") - 1]

    def nominate(self, query: Fingerprint, config: StamperConfig) -> np.ndarray:
        """Tracks of the library that may play in the film: the candidate search.

        Parameters
        ----------
        query : Fingerprint
            The film's hashes (``track_frames`` when hashed at another speed).
        config : StamperConfig
            ``library_chunk_s``, ``library_min_votes`` and ``offset_tolerance_frames`` are used.

        Returns
        -------
        np.ndarray [dtype=int64]
            Database ids of the candidate tracks, ascending.
        """
        keep = in_sample(query.hashes, self.sample)
        hashes = query.hashes[keep]
        film_frames = query.frames[keep].astype(np.int64)
        track_frames = film_frames if query.track_frames is None else query.track_frames[keep].astype(np.int64)
        if hashes.size == 0:
            return np.zeros(0, np.int64)
        chunk = np.floor(film_frames * config.frame_seconds / config.library_chunk_s).astype(np.int64)
        lo, hi = self.runs(hashes)
        counts = hi - lo
        # Whole chunks per pass, about _POSTINGS_PER_PASS postings each, so memory stays flat.
        order = np.argsort(chunk, kind="stable")
        sorted_chunks = chunk[order]
        begins = np.flatnonzero(np.r_[True, sorted_chunks[1:] != sorted_chunks[:-1]])
        ends = np.r_[begins[1:], order.size]
        upto = np.cumsum(counts[order])[ends - 1]  # postings up to the end of each chunk
        found: list[np.ndarray] = []
        i = 0
        while i < begins.size:
            before = upto[i - 1] if i else 0
            j = max(i + 1, int(np.searchsorted(upto, before + _POSTINGS_PER_PASS, side="right")))
            found.append(self._nominate_part(order[begins[i]:ends[j - 1]], hashes, chunk, track_frames, lo,
                                             counts, config))
            i = j
        return np.unique(np.concatenate(found))

    def _nominate_part(self, rows: np.ndarray, hashes: np.ndarray, chunk: np.ndarray, track_frames: np.ndarray,
                       lo: np.ndarray, counts: np.ndarray, config: StamperConfig) -> np.ndarray:
        n = counts[rows]
        total = int(n.sum())
        if total == 0:
            return np.zeros(0, np.int64)
        which = np.repeat(rows, n)
        rank = np.arange(total) - np.repeat(np.cumsum(n) - n, n)
        line = np.asarray(self.postings[lo[which] + rank], dtype=np.int64)
        offset = line - track_frames[which]
        key = (chunk[which] << _OFFSET_BITS) | (offset + (1 << (_OFFSET_BITS - 1)))
        uniq, votes = np.unique(key, return_counts=True)
        winners = uniq[pool_votes(uniq, votes, config.offset_tolerance_frames) >= config.library_min_votes]
        if winners.size == 0:
            return np.zeros(0, np.int64)
        pos = np.minimum(np.searchsorted(winners, key), winners.size - 1)
        return np.unique(self.track_of(line[winners[pos] == key]))


def build_library_index(store: FingerprintStore, path: str | os.PathLike, config: StamperConfig, *,
                        tracks: pd.DataFrame | None = None, batch_postings: int = 2_000_000,
                        on_progress: Callable[[int], None] | None = None) -> LibraryIndex:
    """Build the library index of every track in ``store`` into the folder ``path``.

    Three streaming passes over the database in batches of tracks of about ``batch_postings``
    hashes (so memory does not depend on the library's size or its tracks' lengths): count
    each sampled hash value's postings; count those kept under the cap; write them. The
    folder appears complete or not at all (written beside it, then renamed).

    Parameters
    ----------
    store : FingerprintStore
    path : path
        Folder to create (its parent must be writable).
    config : StamperConfig
    tracks : pd.DataFrame, optional
        ``store.tracks()`` when already read (the index covers exactly these).
    batch_postings : int
    on_progress : callable, optional
        Called with the number of tracks done in each pass.

    Returns
    -------
    LibraryIndex

    Raises
    ------
    StoreError
        The database holds no tracks, or a track vanished during the build.
    """
    t0 = time.perf_counter()
    path = Path(path)
    if path.exists():
        raise StoreError(f"{path}: already exists; build a library index into a new folder")
    tracks = store.tracks() if tracks is None else tracks
    if tracks.empty:
        raise StoreError(f"{store.url}: the fingerprint database holds no tracks; index the soundtracks first")
    ids = tracks["id"].to_numpy(np.int64)
    # Batch boundaries where the running hash count passes a multiple of batch_postings.
    running = np.cumsum(tracks["n_hashes"].to_numpy(np.int64))
    cuts = np.unique(np.searchsorted(running, np.arange(batch_postings, running[-1], batch_postings), side="right"))
    batches = [b for b in np.split(ids, cuts) if b.size]
    n_values = 1 << HASH_BITS
    sample, cap = config.library_sample, config.library_cap

    def sampled_batches():
        for batch in batches:
            parts = store.fingerprints(batch)
            h = np.concatenate([p[0] for p in parts])
            f = np.concatenate([p[1] for p in parts]).astype(np.int64)
            t = np.repeat(np.arange(len(parts)), [p[0].size for p in parts])
            last = np.array([int(p[1].max()) + 1 if p[1].size else 0 for p in parts], dtype=np.int64)
            keep = in_sample(h, sample)
            if on_progress is not None:
                on_progress(len(batch))
            yield batch, h[keep].astype(np.int64), f[keep], t[keep], last

    counts = np.zeros(n_values, dtype=np.int64)
    lengths = []
    for _, h, _, _, last in sampled_batches():
        counts += np.bincount(h, minlength=n_values)
        lengths.append(last)
    track_starts = np.zeros(ids.size + 1, dtype=np.int64)
    np.cumsum(np.concatenate(lengths) + _GAP_FRAMES, out=track_starts[1:])
    line_dtype = np.uint32 if track_starts[-1] < 1 << 32 else np.uint64

    kept = np.zeros(n_values, dtype=np.int64)
    for batch, h, f, t, _ in sampled_batches():
        kept += np.bincount(h[_kept(h, f, batch[t], counts, cap)], minlength=n_values)
    total = int(kept.sum())
    starts = np.zeros(n_values + 1, dtype=np.uint32 if total < 1 << 32 else np.int64)
    np.cumsum(kept, out=starts[1:])

    tmp = path.parent / f".build-{path.name}-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        postings = np.lib.format.open_memmap(tmp / "postings.npy", mode="w+", dtype=line_dtype, shape=(total,))
        cursor = starts[:-1].astype(np.int64)
        first = 0
        for batch, h, f, t, _ in sampled_batches():
            keep = _kept(h, f, batch[t], counts, cap)
            h, line = h[keep], track_starts[first + t[keep]] + f[keep]
            first += batch.size
            order = np.lexsort((line, h))
            h, line = h[order], line[order]
            run_start = np.flatnonzero(np.r_[True, h[1:] != h[:-1]])
            rank = np.arange(h.size) - np.repeat(run_start, np.diff(np.r_[run_start, h.size]))
            postings[cursor[h] + rank] = line
            cursor += np.bincount(h, minlength=n_values)
        postings.flush()
        del postings
        np.save(tmp / "starts.npy", starts)
        np.save(tmp / "track_ids.npy", ids)
        np.save(tmp / "track_starts.npy", track_starts)
        meta = {"format": FORMAT_VERSION, "key": library_key(tracks, config), "settings": _settings_digest(config),
                "sample": sample, "cap": cap,
                "analysis": config.analysis_settings(), "tracks": int(ids.size), "postings": total,
                "sampled_postings": int(counts.sum()), "music_hours": float(tracks["duration_s"].sum()) / 3600,
                "database": store.url, "built_by": f"scorelens {__version__}",
                "build_s": round(time.perf_counter() - t0, 3)}
        (tmp / _META).write_text(json.dumps(meta, indent=2) + "\n")
        os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    log.info("library index of %d tracks (%.0f h): %d postings kept of %d sampled, %.1f s", ids.size,
             meta["music_hours"], total, meta["sampled_postings"], meta["build_s"])
    return LibraryIndex(path)


# One open index per folder and process: opening maps the files, it reads nothing.
_OPEN: dict[str, LibraryIndex] = {}


@contextmanager
def _folder_lock(folder: Path, *, shared: bool = False):
    with open(folder / ".lock", "a+") as handle:
        # flock: the kernel releases it however its holder dies, so a killed build never blocks.
        # Readers share it while they map an index; a builder holds it alone while it removes
        # old indexes and writes the new one.
        fcntl.flock(handle, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _settings_digest(config: StamperConfig) -> str:
    """Digest of what, besides the tracks, defines an index (so that indexes of other settings are kept)."""
    text = json.dumps({"format": FORMAT_VERSION, "analysis": config.analysis_settings(),
                       "sample": config.library_sample, "cap": config.library_cap}, sort_keys=True)
    return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()


def _remove_superseded(folder: Path, keep: str, settings: str) -> None:
    """Remove killed builds' leftovers and indexes of older track sets with the same settings.

    Only folders this module writes are touched: ``.build-*`` and 16-hex-digit folders whose
    ``meta.json`` names the same settings (indexes built with other settings stay).
    """
    for old in folder.iterdir():
        if not old.is_dir() or old.name == keep:
            continue
        if old.name.startswith(".build-"):
            shutil.rmtree(old, ignore_errors=True)
        elif re.fullmatch(r"[0-9a-f]{16}", old.name):
            try:
                meta = json.loads((old / _META).read_text())
            except (OSError, ValueError):
                continue
            if meta.get("settings") == settings:
                shutil.rmtree(old, ignore_errors=True)


def open_library_index(store: FingerprintStore, folder: str | os.PathLike | None, config: StamperConfig, *,
                       on_progress: Callable[[int], None] | None = None) -> LibraryIndex:
    """The library index of the database's current tracks: opened when built, else built first.

    Several processes (Dask workers, stampers on one PostgreSQL server) may ask at once:
    one builds, under an exclusive lock on the folder, while the others wait and then map
    its result under a shared one. Building removes indexes of older track sets made with
    the same settings (a process still using one keeps its mapping); indexes made with
    other settings stay.

    Parameters
    ----------
    store : FingerprintStore
    folder : path, optional
        Where indexes of this database are kept (default :func:`default_library_dir`).
    config : StamperConfig
    on_progress : callable, optional
        Passed to :func:`build_library_index`.

    Returns
    -------
    LibraryIndex

    Raises
    ------
    StoreError
        The database holds no tracks; the folder cannot be written; an index there is damaged.
    """
    tracks = store.tracks()
    if tracks.empty:
        raise StoreError(f"{store.url}: the fingerprint database holds no tracks; index the soundtracks first")
    folder = Path(folder) if folder is not None else default_library_dir(store.url)
    target = folder / library_key(tracks, config)
    if str(target) in _OPEN:
        return _OPEN[str(target)]
    index = None
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with _folder_lock(folder, shared=True):
            if (target / _META).exists():
                index = LibraryIndex(target)
        if index is None:
            with _folder_lock(folder):
                # The tracks again: another process may have indexed some, or built, meanwhile.
                tracks = store.tracks()
                target = folder / library_key(tracks, config)
                if not (target / _META).exists():
                    _remove_superseded(folder, target.name, _settings_digest(config))
                    shutil.rmtree(target, ignore_errors=True)  # an incomplete folder under this name
                    build_library_index(store, target, config, tracks=tracks, on_progress=on_progress)
                index = LibraryIndex(target)
    except OSError as exc:
        raise StoreError(f"{folder}: cannot write the library index ({exc.strerror or exc})") from exc
    _OPEN[str(target)] = index
    return index
