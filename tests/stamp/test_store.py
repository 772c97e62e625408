import dataclasses
import sqlite3

import numpy as np
import pytest

from scorelens.config import StamperConfig
from scorelens.exceptions import StoreError
from scorelens.stamp.pipeline import index_tracks
from scorelens.stamp.store import SCHEMA_VERSION, open_store, pack_fingerprint, unpack_fingerprint


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
