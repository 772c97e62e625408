"""The fingerprint database: SQLite by default, PostgreSQL when given a ``postgresql://`` URL.

Storage sits behind one abstract class with one subclass per database (as in Dejavu).
A track is stored once, keyed by the digest of its *decoded* content (a re-tagged or
re-named copy is the same track); adding a track is one transaction.

Format decision: a track's hashes are stored as one packed, compressed row (anchor
frames delta-encoded; hashes and deltas as little-endian integers, zlib), not one row per
hash as Dejavu does. Matching loads the candidate tracks into an in-memory sorted index
(:class:`scorelens.stamp._match.HashIndex`) anyway, and the packed form keeps the
database near 3 MB per hour of music, where a row-per-hash table with its B-tree index
takes ~10× more, and makes ingestion one insert per track.

The database records its schema version and the analysis settings that define the
hashes; opening it with other settings (or a newer schema) is refused with the
differences spelled out, rather than silently matching incompatible hashes.
"""

from __future__ import annotations

import abc
import json
import sqlite3
import time
import zlib
from pathlib import Path

import numpy as np
import pandas as pd

from scorelens._version import __version__
from scorelens.config import StamperConfig
from scorelens.exceptions import StoreError

__all__ = ["FingerprintStore", "SQLiteStore", "PostgresStore", "open_store", "SCHEMA_VERSION", "TrackRecord"]

SCHEMA_VERSION = 1

TrackRecord = dict  # id, content_digest, file_digest, title, path, duration_s, n_hashes, added


def pack_fingerprint(hashes: np.ndarray, frames: np.ndarray) -> tuple[bytes, bytes]:
    """Compress a track's (hashes, anchor frames) into two blobs.

    Parameters
    ----------
    hashes : np.ndarray [shape=(n,), dtype=uint32]
    frames : np.ndarray [shape=(n,)]
        Anchor frames, ascending (they are stored as unsigned deltas).

    Returns
    -------
    hash_blob, frame_blob : bytes
        zlib-compressed little-endian uint32 hashes and frame deltas.
    """
    deltas = np.diff(frames.astype(np.int64), prepend=0).astype("<u4")
    return zlib.compress(hashes.astype("<u4").tobytes(), 6), zlib.compress(deltas.tobytes(), 6)


def unpack_fingerprint(hash_blob: bytes, frame_blob: bytes) -> tuple[np.ndarray, np.ndarray]:
    """Inverse of :func:`pack_fingerprint`.

    Parameters
    ----------
    hash_blob, frame_blob : bytes

    Returns
    -------
    hashes : np.ndarray [shape=(n,), dtype=uint32]
    frames : np.ndarray [shape=(n,), dtype=int32]
    """
    hashes = np.frombuffer(zlib.decompress(hash_blob), dtype="<u4").astype(np.uint32)
    frames = np.cumsum(np.frombuffer(zlib.decompress(frame_blob), dtype="<u4").astype(np.int64)).astype(np.int32)
    return hashes, frames


_SQLITE_SCHEMA = (
    "CREATE TABLE scorelens_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    """CREATE TABLE tracks (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        content_digest TEXT NOT NULL UNIQUE,
        file_digest TEXT NOT NULL,
        title TEXT NOT NULL,
        path TEXT NOT NULL,
        duration_s REAL NOT NULL,
        n_hashes INTEGER NOT NULL,
        added TEXT NOT NULL)""",
    "CREATE INDEX tracks_file_digest ON tracks (file_digest)",
    """CREATE TABLE fingerprints (
        track_id INTEGER PRIMARY KEY REFERENCES tracks (id) ON DELETE CASCADE,
        hashes BLOB NOT NULL,
        frames BLOB NOT NULL)""",
)

#: Seconds a SQLite connection waits for another one's lock (an indexer storing a track).
_SQLITE_BUSY_S = 60.0

_PG_SCHEMA = (
    "CREATE TABLE scorelens_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    """CREATE TABLE tracks (id BIGSERIAL PRIMARY KEY, content_digest TEXT NOT NULL UNIQUE,
           file_digest TEXT NOT NULL, title TEXT NOT NULL, path TEXT NOT NULL,
           duration_s DOUBLE PRECISION NOT NULL, n_hashes INTEGER NOT NULL, added TEXT NOT NULL)""",
    "CREATE INDEX tracks_file_digest ON tracks (file_digest)",
    """CREATE TABLE fingerprints (track_id BIGINT PRIMARY KEY REFERENCES tracks (id) ON DELETE CASCADE,
           hashes BYTEA NOT NULL, frames BYTEA NOT NULL)""",
)
_PG_TABLES = "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
#: Key of the advisory lock held while creating the tables (advisory locks are per database);
#: any fixed 64-bit number no other application uses, here the bytes of "sclnsdb1".
_PG_SCHEMA_LOCK = int.from_bytes(b"sclnsdb1", "big")

#: Track ids per ``IN (…)`` query (under old SQLite builds' limit of 999 bound parameters).
_IDS_PER_QUERY = 900

_TRACK_COLUMNS = ["id", "content_digest", "file_digest", "title", "path", "duration_s", "n_hashes", "added"]


class FingerprintStore(abc.ABC):
    """A database of tracks and their fingerprints.

    Subclasses implement the SQL dialect; the public methods are the same for all.
    Use as a context manager, or call :meth:`close`.
    """

    url: str

    # --- dialect -----------------------------------------------------------------
    @abc.abstractmethod
    def _execute(self, sql: str, params: tuple = ()) -> list[tuple]:
        """Run one statement in its own transaction and return the rows."""

    @abc.abstractmethod
    def _execute_all(self, statements: list[tuple[str, tuple]]) -> None:
        """Run several statements in one transaction."""

    @abc.abstractmethod
    def _insert_track(self, record: dict, hash_blob: bytes, frame_blob: bytes) -> int:
        """Insert a track row and its fingerprint row in one transaction; return the id."""

    @abc.abstractmethod
    def close(self) -> None:
        """Close the connection; returns None."""

    # --- schema ------------------------------------------------------------------
    def _check_or_init(self, config: StamperConfig, create: bool) -> None:
        settings = config.analysis_settings()
        try:
            tables = self._tables()
        except Exception as exc:  # noqa: BLE001 - any driver error means "not a database we can read"
            raise StoreError(f"{self.url}: cannot read the database ({exc})") from exc
        if "scorelens_meta" not in tables:
            self._refuse_foreign(tables)
            if not create:
                raise StoreError(f"{self.url}: no fingerprint database here; index tracks first")
            # Another process may be creating the same database right now: the creation
            # re-checks under a lock and does nothing if it lost the race, and either way
            # the settings below are checked against what the winner wrote.
            self._create_schema({"schema_version": str(SCHEMA_VERSION),
                                 "analysis_settings": json.dumps(settings, sort_keys=True),
                                 "created_by": f"scorelens {__version__}"})
        meta = dict(self._execute("SELECT key, value FROM scorelens_meta"))
        version = int(meta.get("schema_version", "0"))
        if version != SCHEMA_VERSION:
            raise StoreError(f"{self.url}: database schema version {version} (written by "
                             f"{meta.get('created_by', 'an unknown version')}); this scorelens reads version "
                             f"{SCHEMA_VERSION}: re-index the tracks into a new database")
        stored = json.loads(meta.get("analysis_settings", "{}"))
        if stored != settings:
            diffs = [f"{k}: database {stored.get(k)!r} vs now {settings.get(k)!r}"
                     for k in sorted(set(stored) | set(settings)) if stored.get(k) != settings.get(k)]
            raise StoreError(f"{self.url}: built with other fingerprint settings ({'; '.join(diffs)}); "
                             "use the same settings or index into a new database")

    def _refuse_foreign(self, tables: set[str]) -> None:
        """Refuse a database without our metadata table that holds tables of its own."""
        if tables - {"sqlite_sequence"}:
            raise StoreError(f"{self.url}: not a scorelens fingerprint database "
                             f"(it holds other tables: {', '.join(sorted(tables))})")

    @abc.abstractmethod
    def _tables(self) -> set[str]:
        """Names of the tables in the database."""

    @abc.abstractmethod
    def _create_schema(self, meta: dict[str, str]) -> None:
        """Create the tables and write ``meta`` into ``scorelens_meta``, in one transaction.

        Safe under concurrent creators: the transaction holds a lock that serialises them
        and re-checks the tables under it, so the losers create nothing and leave the
        winner's metadata as it is.
        """

    # --- public API ------------------------------------------------------------------
    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def tracks(self) -> pd.DataFrame:
        """All tracks, ordered by id.

        Returns
        -------
        pd.DataFrame
            Columns ``id, content_digest, file_digest, title, path, duration_s, n_hashes, added``.

        Raises
        ------
        StoreError
            The database cannot be read.
        """
        rows = self._execute(f"SELECT {', '.join(_TRACK_COLUMNS)} FROM tracks ORDER BY id")
        return pd.DataFrame(rows, columns=_TRACK_COLUMNS)

    def find(self, *, content_digest: str | None = None, file_digest: str | None = None) -> TrackRecord | None:
        """The track with this decoded-content digest or file digest, or None.

        Parameters
        ----------
        content_digest : str, optional
            Digest of the decoded audio; used when given.
        file_digest : str, optional
            Digest of the file's bytes; used when ``content_digest`` is not given.

        Returns
        -------
        dict or None
            The track's row (keys as the columns of :meth:`tracks`), None when not stored.
        """
        column, value = ("content_digest", content_digest) if content_digest else ("file_digest", file_digest)
        rows = self._execute(f"SELECT {', '.join(_TRACK_COLUMNS)} FROM tracks WHERE {column} = %s", (value,))
        return dict(zip(_TRACK_COLUMNS, rows[0])) if rows else None

    def add_track(self, *, title: str, path: str, content_digest: str, file_digest: str, duration_s: float,
                  hashes: np.ndarray, frames: np.ndarray) -> int:
        """Store a track and its fingerprint in one transaction; return its id.

        A track whose decoded content is already stored is not stored again: the existing id is returned.

        Parameters
        ----------
        title : str
        path : str
            Where the track's file was read.
        content_digest : str
            Digest of the decoded audio (the track's identity).
        file_digest : str
            Digest of the file's bytes.
        duration_s : float
        hashes : np.ndarray [shape=(n,), dtype=uint32]
        frames : np.ndarray [shape=(n,)]
            Anchor frames, ascending.

        Returns
        -------
        int
            The track's id.

        Raises
        ------
        StoreError
            The database refuses the insert.
        """
        existing = self.find(content_digest=content_digest)
        if existing:
            return int(existing["id"])
        hash_blob, frame_blob = pack_fingerprint(hashes, frames)
        record = {"content_digest": content_digest, "file_digest": file_digest, "title": title, "path": path,
                  "duration_s": float(duration_s), "n_hashes": int(hashes.size),
                  "added": time.strftime("%Y-%m-%dT%H:%M:%S")}
        return self._insert_track(record, hash_blob, frame_blob)

    def remove_track(self, track_id: int) -> None:
        """Delete a track and its fingerprint (one transaction).

        Parameters
        ----------
        track_id : int
            A track id; an unknown id deletes nothing.
        """
        self._execute_all([("DELETE FROM fingerprints WHERE track_id = %s", (int(track_id),)),
                           ("DELETE FROM tracks WHERE id = %s", (int(track_id),))])

    def fingerprints(self, track_ids) -> list[tuple[np.ndarray, np.ndarray]]:
        """(hashes, frames) of each track id, in the order given.

        Parameters
        ----------
        track_ids : iterable of int

        Returns
        -------
        list of (np.ndarray [shape=(n,), dtype=uint32], np.ndarray [shape=(n,), dtype=int32])
            Hashes and anchor frames per track.

        Raises
        ------
        StoreError
            A track id has no fingerprint in the database.
        """
        ids = [int(i) for i in track_ids]
        if not ids:
            return []
        found = {}
        # Batches of ids: one IN list for a whole library would pass SQLite's bound-parameter
        # limit (32,766 in current builds, 999 in old ones) at a large corpus.
        for k in range(0, len(ids), _IDS_PER_QUERY):
            part = ids[k:k + _IDS_PER_QUERY]
            marks = ", ".join(["%s"] * len(part))
            rows = self._execute(f"SELECT track_id, hashes, frames FROM fingerprints WHERE track_id IN ({marks})",
                                 tuple(part))
            found.update({int(r[0]): unpack_fingerprint(bytes(r[1]), bytes(r[2])) for r in rows})
        missing = [i for i in ids if i not in found]
        if missing:
            raise StoreError(f"{self.url}: no fingerprint for track id(s) {missing}")
        return [found[i] for i in ids]

    @abc.abstractmethod
    def size_bytes(self) -> int:
        """Bytes the database occupies (file size for SQLite, relation sizes for PostgreSQL)."""


class SQLiteStore(FingerprintStore):
    """Fingerprints in a SQLite file.

    Parameters
    ----------
    path : str or path-like
        Database file (created when ``create``).
    config : StamperConfig
    create : bool
        Create the database when missing (indexing); otherwise it must exist (stamping).
    """

    def __init__(self, path, config: StamperConfig, *, create: bool = True):
        self.path = Path(path)
        self.url = str(self.path)
        if not create and not self.path.exists():
            raise StoreError(f"{self.path}: no fingerprint database here; index tracks first")
        if self.path.exists() and self.path.is_dir():
            raise StoreError(f"{self.path}: is a folder, not a database file")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # IMMEDIATE: every write transaction takes the write lock when it begins,
            # waiting up to ``timeout`` for another writer (the busy timeout), instead of
            # reading first and failing at once with "database is locked" when another
            # process wrote in between.
            self.conn = sqlite3.connect(str(self.path), timeout=_SQLITE_BUSY_S, isolation_level="IMMEDIATE")
            self._use_wal()
        except sqlite3.DatabaseError as exc:
            problem = "locked by another process" if "locked" in str(exc) else f"not a SQLite database ({exc})"
            raise StoreError(f"{self.path}: {problem}") from exc
        self._check_or_init(config, create)

    def _use_wal(self) -> None:
        """Switch the file to write-ahead logging (readers and a writer at once)."""
        deadline = time.monotonic() + _SQLITE_BUSY_S
        while True:
            try:
                self.conn.execute("PRAGMA journal_mode=WAL")
                return
            except sqlite3.OperationalError as exc:
                # While another connection is opening or switching a new file, SQLite answers
                # "database is locked" at once, without waiting its busy timeout (about 1 in
                # 80 rounds of 4 concurrent creators): wait here instead.
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.005)

    @staticmethod
    def _sql(sql: str) -> str:
        return sql.replace("%s", "?")

    def _execute(self, sql: str, params: tuple = ()) -> list[tuple]:
        try:
            with self.conn:
                return self.conn.execute(self._sql(sql), params).fetchall()
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{self.path}: database error ({exc})") from exc

    def _execute_all(self, statements: list[tuple[str, tuple]]) -> None:
        try:
            with self.conn:
                for sql, params in statements:
                    self.conn.execute(self._sql(sql), params)
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{self.path}: database error ({exc})") from exc

    def _tables(self) -> set[str]:
        return {r[0] for r in self.conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}

    def _create_schema(self, meta: dict[str, str]) -> None:
        try:
            # Python's sqlite3 opens no transaction before DDL: begin one explicitly,
            # taking the write lock first so that concurrent creators queue here.
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                tables = self._tables()
                if "scorelens_meta" not in tables:
                    self._refuse_foreign(tables)
                    for statement in _SQLITE_SCHEMA:
                        self.conn.execute(statement)
                    self.conn.executemany("INSERT INTO scorelens_meta (key, value) VALUES (?, ?)", meta.items())
                self.conn.commit()
            except BaseException:
                self.conn.rollback()
                raise
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{self.path}: cannot create the database ({exc})") from exc

    def _insert_track(self, record: dict, hash_blob: bytes, frame_blob: bytes) -> int:
        cols = list(record)
        try:
            with self.conn:  # one transaction: both rows or neither
                # Another process may have stored the same audio since our look-up: keep its row.
                cur = self.conn.execute(
                    f"INSERT INTO tracks ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))}) "
                    "ON CONFLICT (content_digest) DO NOTHING", tuple(record[c] for c in cols))
                if cur.rowcount == 0:
                    return int(self.conn.execute("SELECT id FROM tracks WHERE content_digest = ?",
                                                 (record["content_digest"],)).fetchone()[0])
                track_id = int(cur.lastrowid)
                self.conn.execute("INSERT INTO fingerprints (track_id, hashes, frames) VALUES (?, ?, ?)",
                                  (track_id, hash_blob, frame_blob))
            return track_id
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{self.path}: cannot store track {record['title']!r} ({exc})") from exc

    def size_bytes(self) -> int:
        """Size of the database file in bytes, after folding the write-ahead log into it."""
        self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return self.path.stat().st_size

    def close(self) -> None:
        """Close the connection; returns None."""
        self.conn.close()


class PostgresStore(FingerprintStore):
    """Fingerprints in a PostgreSQL database (``postgresql://user@host:port/dbname``).

    Parameters
    ----------
    url : str
    config : StamperConfig
    create : bool
        Create the tables when the database has none.
    """

    def __init__(self, url: str, config: StamperConfig, *, create: bool = True):
        import psycopg

        self.url = _redact(url)
        try:
            self.conn = psycopg.connect(url, autocommit=False, connect_timeout=15)
        except psycopg.Error as exc:
            raise StoreError(f"{self.url}: cannot connect to PostgreSQL ({str(exc).strip()})") from exc
        self._psycopg = psycopg
        self._check_or_init(config, create)

    def _execute(self, sql: str, params: tuple = ()) -> list[tuple]:
        try:
            with self.conn.transaction(), self.conn.cursor() as cur:
                cur.execute(sql, params)
                return cur.fetchall() if cur.description else []
        except self._psycopg.Error as exc:
            raise StoreError(f"{self.url}: database error ({str(exc).strip()})") from exc

    def _execute_all(self, statements: list[tuple[str, tuple]]) -> None:
        try:
            with self.conn.transaction(), self.conn.cursor() as cur:
                for sql, params in statements:
                    cur.execute(sql, params)
        except self._psycopg.Error as exc:
            raise StoreError(f"{self.url}: database error ({str(exc).strip()})") from exc

    def _tables(self) -> set[str]:
        return {r[0] for r in self._execute(_PG_TABLES)}

    def _create_schema(self, meta: dict[str, str]) -> None:
        try:
            with self.conn.transaction(), self.conn.cursor() as cur:
                # A transaction-level advisory lock serialises concurrent creators (released
                # at commit or rollback); CREATE TABLE IF NOT EXISTS alone is not enough, as
                # two concurrent ones can still collide in the catalogue.
                cur.execute("SELECT pg_advisory_xact_lock(%s)", (_PG_SCHEMA_LOCK,))
                cur.execute(_PG_TABLES)
                tables = {r[0] for r in cur.fetchall()}
                if "scorelens_meta" not in tables:
                    self._refuse_foreign(tables)
                    for statement in _PG_SCHEMA:
                        cur.execute(statement)
                    cur.executemany("INSERT INTO scorelens_meta (key, value) VALUES (%s, %s)", list(meta.items()))
        except self._psycopg.Error as exc:
            raise StoreError(f"{self.url}: cannot create the database ({str(exc).strip()})") from exc

    def _insert_track(self, record: dict, hash_blob: bytes, frame_blob: bytes) -> int:
        cols = list(record)
        try:
            with self.conn.transaction(), self.conn.cursor() as cur:
                # Another process may be storing the same audio: the insert waits for its
                # transaction and, when it commits, keeps its row (read back below; each
                # statement sees the latest commits at the default isolation level).
                cur.execute(f"INSERT INTO tracks ({', '.join(cols)}) VALUES ({', '.join(['%s'] * len(cols))}) "
                            "ON CONFLICT (content_digest) DO NOTHING RETURNING id", tuple(record[c] for c in cols))
                row = cur.fetchone()
                if row is None:
                    cur.execute("SELECT id FROM tracks WHERE content_digest = %s", (record["content_digest"],))
                    return int(cur.fetchone()[0])
                track_id = int(row[0])
                cur.execute("INSERT INTO fingerprints (track_id, hashes, frames) VALUES (%s, %s, %s)",
                            (track_id, hash_blob, frame_blob))
            return track_id
        except self._psycopg.Error as exc:
            raise StoreError(f"{self.url}: cannot store track {record['title']!r} ({str(exc).strip()})") from exc

    def size_bytes(self) -> int:
        """Total size in bytes of the tables (with indexes) in the current schema."""
        rows = self._execute("SELECT COALESCE(SUM(pg_total_relation_size(quote_ident(table_name))), 0) FROM "
                             "information_schema.tables WHERE table_schema = current_schema()")
        return int(rows[0][0])

    def close(self) -> None:
        """Close the connection; returns None."""
        self.conn.close()


def _redact(url: str) -> str:
    """The URL with any password replaced by ``***`` (for messages)."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        if ":" in creds:
            creds = creds.split(":", 1)[0] + ":***"
        return f"{scheme}://{creds}@{host}"
    return url


def open_store(url: str, config: StamperConfig, *, create: bool = True) -> FingerprintStore:
    """Open the fingerprint database named by ``url``.

    Parameters
    ----------
    url : str
        A file path (SQLite) or ``postgresql://…`` / ``postgres://…``.
    config : StamperConfig
        Its analysis settings must match the database's.
    create : bool
        Create the database/tables when missing.

    Returns
    -------
    FingerprintStore
        A :class:`SQLiteStore` or a :class:`PostgresStore`.

    Raises
    ------
    StoreError
        Unsupported URL; no database there and ``create`` false; a file that is not a
        scorelens database, is locked or a folder; an unreachable server; another schema
        version or other analysis settings.
    """
    if url.startswith(("postgresql://", "postgres://")):
        return PostgresStore(url, config, create=create)
    if "://" in url and not url.startswith("sqlite://"):
        raise StoreError(f"{url}: unsupported database URL (use a file path or postgresql://…)")
    return SQLiteStore(url.removeprefix("sqlite://"), config, create=create)


#: Public name of the password-hiding URL formatter (for settings records and messages).
redact_url = _redact
