import dataclasses
import hashlib
import json
import sqlite3
import subprocess
import sys
import threading

import numpy as np
import pytest

from scorelens.exceptions import StoreError
from scorelens.stamp._fingerprint import fingerprint_file
from scorelens.stamp._pipeline import index_tracks
from scorelens.stamp._store import SCHEMA_VERSION, open_store, pack_fingerprint, unpack_fingerprint


def test_pack_round_trip():
    rng = np.random.default_rng(0)
    hashes = rng.integers(0, 2 ** 23, 1000).astype(np.uint32)
    frames = np.sort(rng.integers(0, 100000, 1000)).astype(np.int32)
    h, f = unpack_fingerprint(*pack_fingerprint(hashes, frames))
    np.testing.assert_array_equal(h, hashes)
    np.testing.assert_array_equal(f, frames)


def _index_twice(url, soundtrack, config, tmp_path):
    paths = [p for p, _ in soundtrack.values()]
    with open_store(url, config) as store:
        first = index_tracks(paths, store, config)
        assert [o.status for o in first] == ["added"] * 3
        # Same files again, and a byte-different copy of the same audio (other name and tags).
        copy = tmp_path / "renamed copy.wav"
        copy.write_bytes(paths[2].read_bytes()[:44] + paths[2].read_bytes()[44:])
        again = index_tracks(paths + [copy], store, config)
        assert [o.status for o in again] == ["known"] * 4
        assert [o.track_id for o in again[:3]] == [o.track_id for o in first]
        tracks = store.tracks()
        assert len(tracks) == 3
        stored = store.fingerprints(tracks["id"])
        assert all(h.size > 1000 for h, _ in stored)
        return tracks


def test_sqlite_index_is_idempotent(tmp_path, soundtrack, config):
    tracks = _index_twice(str(tmp_path / "fp.sqlite"), soundtrack, config, tmp_path)
    assert set(tracks["title"]) == set(soundtrack)


@pytest.mark.postgres
def test_postgres_index_is_idempotent(fresh_postgres, soundtrack, config, tmp_path):
    tracks = _index_twice(fresh_postgres, soundtrack, config, tmp_path)
    assert set(tracks["title"]) == set(soundtrack)
    with open_store(fresh_postgres, config) as store:
        assert store.size_bytes() > 0
        store.remove_track(int(tracks["id"].iloc[0]))
        assert len(store.tracks()) == 2


@pytest.mark.postgres
def test_postgres_bad_url_is_a_clear_error(config):
    with pytest.raises(StoreError, match=r"postgresql://nobody:\*\*\*@127\.0\.0\.1:1/x: cannot connect"):
        open_store("postgresql://nobody:secret@127.0.0.1:1/x", config)


def test_database_with_other_settings_is_refused(tmp_path, soundtrack, config):
    db = str(tmp_path / "fp.sqlite")
    with open_store(db, config) as store:
        index_tracks([next(iter(soundtrack.values()))[0]], store, config)
    other = dataclasses.replace(config, fan_out=3)
    with pytest.raises(StoreError, match=r"built with other fingerprint settings \(fan_out: database 6 vs now 3\)"):
        open_store(db, other)
    # Matching settings may differ freely.
    open_store(db, dataclasses.replace(config, min_votes=9)).close()


def test_database_from_another_version_is_refused(tmp_path, config):
    db = tmp_path / "fp.sqlite"
    open_store(str(db), config).close()
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE scorelens_meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION + 1),))
    with pytest.raises(StoreError, match=f"schema version {SCHEMA_VERSION + 1}"):
        open_store(str(db), config)


def test_foreign_and_corrupt_databases_are_refused(tmp_path, config):
    other = tmp_path / "other.sqlite"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE songs (id INTEGER)")
    with pytest.raises(StoreError, match="not a scorelens fingerprint database"):
        open_store(str(other), config)
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"this is not a database at all" * 100)
    with pytest.raises(StoreError, match=r"junk\.sqlite"):
        open_store(str(junk), config)
    with pytest.raises(StoreError, match="no fingerprint database here"):
        open_store(str(tmp_path / "absent.sqlite"), config, create=False)
    with pytest.raises(StoreError, match="unsupported database URL"):
        open_store("mysql://x/y", config)


def test_failed_track_leaves_earlier_tracks_indexed(tmp_path, soundtrack, config):
    bad = tmp_path / "broken.mp3"
    bad.write_bytes(b"\x00" * 5000)
    good = [p for p, _ in soundtrack.values()][:2]
    db = str(tmp_path / "fp.sqlite")
    with open_store(db, config) as store:
        with pytest.raises(Exception, match=r"broken\.mp3"):
            index_tracks(good + [bad], store, config)
        assert len(store.tracks()) == 2
        outcomes = index_tracks(good + [bad], store, config, keep_going=True)
        assert [o.status for o in outcomes] == ["known", "known", "failed"]
        assert "broken.mp3" in outcomes[2].message


# --- concurrent creators and indexers --------------------------------------------------

def _race(n: int, target) -> list:
    """Run ``target()`` in ``n`` threads released together; return what each returned or raised.

    Each thread opens its own connection, and both drivers release the GIL while waiting
    on the database, so the threads race as separate processes would.
    """
    barrier = threading.Barrier(n)
    results: list = [None] * n

    def run(i):
        barrier.wait()
        try:
            results[i] = target()
        except Exception as exc:  # noqa: BLE001 - collected and asserted on below
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def _open_and_read_meta(url, config):
    with open_store(url, config) as store:
        return dict(store._execute("SELECT key, value FROM scorelens_meta"))


def _assert_one_database(results, config):
    errors = [r for r in results if isinstance(r, Exception)]
    assert not errors, errors
    # Everyone sees the same complete metadata (written once, by whoever won).
    assert all(r == results[0] for r in results)
    assert results[0]["schema_version"] == str(SCHEMA_VERSION)
    assert json.loads(results[0]["analysis_settings"]) == config.analysis_settings()


def test_sqlite_concurrent_creators_share_one_database(tmp_path, config):
    # Before the creation was one transaction, 20 rounds of 4 threads failed dozens of
    # times ("table scorelens_meta already exists", "schema version 0"); and about one
    # round in 80 failed on switching the new file to WAL ("database is locked").
    for r in range(100):
        url = str(tmp_path / f"race{r}.sqlite")
        _assert_one_database(_race(4, lambda url=url: _open_and_read_meta(url, config)), config)
        with sqlite3.connect(url) as conn:
            assert conn.execute("SELECT COUNT(*) FROM scorelens_meta").fetchone()[0] == 3


@pytest.mark.postgres
def test_postgres_concurrent_creators_share_one_database(fresh_postgres, config):
    import psycopg

    # Each round a new empty schema (cheaper than a new database), made the connections'
    # current schema through the URL.
    for r in range(10):
        with psycopg.connect(fresh_postgres, autocommit=True) as conn:
            conn.execute(f"CREATE SCHEMA race{r}")
        url = f"{fresh_postgres}?options=-csearch_path%3Drace{r}"
        _assert_one_database(_race(4, lambda url=url: _open_and_read_meta(url, config)), config)
        with psycopg.connect(fresh_postgres) as conn:
            assert conn.execute(f"SELECT COUNT(*) FROM race{r}.scorelens_meta").fetchone()[0] == 3


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request, tmp_path):
    """A new database: a SQLite file, or an empty PostgreSQL database."""
    return str(tmp_path / "fp.sqlite") if request.param == "sqlite" else request.getfixturevalue("fresh_postgres")


def test_track_stored_meanwhile_by_another_process_is_reused(store_url, config, monkeypatch):
    # The race add_track loses: another connection stores the same audio between this
    # one's look-up and its insert. Its row is kept and its id returned.
    rng = np.random.default_rng(3)
    hashes = rng.integers(0, 2 ** 20, 500).astype(np.uint32)
    frames = np.sort(rng.integers(0, 10000, 500)).astype(np.int32)
    track = dict(title="t", path="/x/t.wav", content_digest="c" * 64, duration_s=12.0, hashes=hashes, frames=frames)
    with open_store(store_url, config) as first, open_store(store_url, config) as second:
        first_id = first.add_track(file_digest="f1", **track)
        monkeypatch.setattr(second, "find", lambda **_: None)  # its look-up came before first's commit
        assert second.add_track(file_digest="f2", **{**track, "hashes": hashes[:10], "frames": frames[:10]}) == first_id
        assert len(second.tracks()) == 1
        stored_h, stored_f = second.fingerprints([first_id])[0]
        np.testing.assert_array_equal(stored_h, hashes)
        np.testing.assert_array_equal(stored_f, frames)


_INDEXER = """
import hashlib, json, os, sys, time
from scorelens.config import StamperConfig
from scorelens.stamp._pipeline import index_tracks, stamp_film
from scorelens.stamp._store import open_store

url, go, film, *paths = sys.argv[1:]
print("ready", flush=True)
while not os.path.exists(go):
    time.sleep(0.001)
config = StamperConfig()
with open_store(url, config) as store:
    ids = [o.track_id for o in index_tracks(paths, store, config)]
    digests = [hashlib.sha256(h.tobytes() + f.tobytes()).hexdigest() for h, f in store.fingerprints(ids)]
    cues = stamp_film(film, store, config, track_ids=ids).cues.to_dict("records") if film != "-" else None
print(json.dumps({"ids": ids, "digests": digests, "cues": cues}), flush=True)
"""


def _run_together(n: int, url: str, go, film: str, paths: list[str]) -> list[dict]:
    """Run :data:`_INDEXER` in ``n`` processes released at once; what each printed."""
    procs = [subprocess.Popen([sys.executable, "-c", _INDEXER, url, str(go), film, *paths], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(n)]
    try:
        for p in procs:  # all have imported scorelens: release them together
            assert p.stdout.readline().strip() == "ready"
        go.touch()
        outs = [p.communicate(timeout=300) for p in procs]
    finally:
        for p in procs:
            p.kill()
    assert [p.returncode for p in procs] == [0] * n, [err[-2000:] for _, err in outs]
    return [json.loads(out) for out, _ in outs]


@pytest.mark.parametrize("database", ["new", "existing"])
def test_two_processes_index_the_same_tracks_at_once(database, store_url, soundtrack, config, tmp_path):
    # Two `index` runs of the same soundtrack into one database, started together: both
    # create or open the database, then fingerprint the same tracks at the same pace and
    # store them at nearly the same moment (before, the second failed on the database's
    # creation, or else on "UNIQUE constraint failed: tracks.content_digest").
    paths = [str(p) for p, _ in soundtrack.values()][:2]
    if database == "existing":
        open_store(store_url, config).close()
    a, b = _run_together(2, store_url, tmp_path / "go", "-", paths)
    assert a == b
    with open_store(store_url, config) as store:
        tracks = store.tracks()
        assert sorted(tracks["id"]) == sorted(a["ids"])
        # The stored fingerprints are those of the files (computed here, in one process).
        for path, digest in zip(paths, a["digests"]):
            fp = fingerprint_file(path, config)
            assert hashlib.sha256(fp.hashes.astype("<u4").tobytes() + fp.frames.astype(np.int32).tobytes()
                                  ).hexdigest() == digest


@pytest.mark.postgres
def test_stamping_processes_share_one_postgres_server(fresh_postgres, soundtrack, film, config, tmp_path):
    # Issue 12: several stamping processes on one server, each indexing the film's
    # soundtrack (the same tracks, at once) and stamping the film against it.
    paths = [str(p) for p, _ in soundtrack.values()]
    a, b = _run_together(2, fresh_postgres, tmp_path / "go", str(film[0]), paths)
    assert a == b
    truth = film[1]
    assert [c["track"] for c in a["cues"]] == list(truth["track"])
    np.testing.assert_allclose([c["end_s"] for c in a["cues"]], truth["end_s"], atol=1.0)
