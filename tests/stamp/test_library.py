"""The library index behind whole-index stamping: its content against a brute-force inverted
index, the cap on popular hashes, reuse and rebuilds, and stamping through it."""

from __future__ import annotations

import dataclasses
import multiprocessing
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest

from scorelens.exceptions import StoreError
from scorelens.stamp._hashes import HASH_BITS
from scorelens.stamp._library import LibraryIndex, build_library_index, in_sample, open_library_index
from scorelens.stamp._pipeline import index_tracks, stamp_film
from scorelens.stamp._store import open_store


def _add_random_tracks(store, rng, n, *, popular: int | None = None, per_track_popular: int = 0) -> None:
    for k in range(n):
        size = int(rng.integers(200, 2000))
        frames = np.sort(rng.integers(0, 5000, size)).astype(np.int32)
        hashes = rng.integers(0, 1 << HASH_BITS, size).astype(np.uint32)
        if popular is not None:
            hashes[:per_track_popular] = popular
        store.add_track(title=f"t{k}", path=f"/x/t{k}", content_digest=f"c{k}-{rng.integers(1 << 60)}",
                        file_digest=f"f{k}", duration_s=60.0, hashes=hashes, frames=frames)


def _postings_by_value(index: LibraryIndex) -> dict[int, set[tuple[int, int]]]:
    """Decode the index into value -> {(track id, frame)} (positions read one by one)."""
    starts = np.asarray(index.starts)
    values = np.flatnonzero(np.diff(starts.astype(np.int64)))
    out = {}
    for v in values:
        line = np.asarray(index.postings[starts[v]:starts[v + 1]], dtype=np.int64)
        tracks = index.track_of(line)
        start_of = dict(zip(index.track_ids.tolist(), index.track_starts[:-1].tolist()))
        out[int(v)] = {(int(t), int(g - start_of[int(t)])) for g, t in zip(line, tracks)}
    return out


def _brute_force(store) -> dict[int, set[tuple[int, int]]]:
    table = defaultdict(set)
    ids = store.tracks()["id"].tolist()
    for track_id, (hashes, frames) in zip(ids, store.fingerprints(ids)):
        for h, f in zip(hashes.tolist(), frames.tolist()):
            table[h].add((track_id, f))
    return table


def test_library_index_holds_every_posting_of_the_sampled_values(tmp_path, config):
    cfg = dataclasses.replace(config, library_sample=4, library_cap=10_000)
    rng = np.random.default_rng(0)
    with open_store(str(tmp_path / "fp.sqlite"), cfg) as store:
        _add_random_tracks(store, rng, 7)
        index = build_library_index(store, tmp_path / "lib", cfg, batch_postings=2500)
        truth = _brute_force(store)
    got = _postings_by_value(index)
    sampled = {h: p for h, p in truth.items() if in_sample(np.array([h]), 4)[0]}
    assert got == sampled
    # One value in four, spread over the whole hash space (not one band of it).
    assert 0.2 < len(sampled) / len(truth) < 0.3
    values = np.array(sorted(sampled))
    assert np.histogram(values, bins=8, range=(0, 1 << HASH_BITS))[0].min() > 0.08 * values.size


def test_popular_values_keep_a_fixed_sample_of_their_postings(tmp_path, config):
    cfg = dataclasses.replace(config, library_sample=1, library_cap=20)
    rng = np.random.default_rng(1)
    popular = 12345
    with open_store(str(tmp_path / "fp.sqlite"), cfg) as store:
        _add_random_tracks(store, rng, 12, popular=popular, per_track_popular=30)  # 360 postings
        first = build_library_index(store, tmp_path / "a", cfg, batch_postings=3000)
        again = build_library_index(store, tmp_path / "b", cfg, batch_postings=10**7)
        truth = _brute_force(store)
    kept = _postings_by_value(first)[popular]
    assert kept <= truth[popular]
    assert 8 <= len(kept) <= 40  # about the cap, not all 360 and not none
    assert len({t for t, _ in kept}) >= 5  # a sample across tracks, not one track's postings
    # The same postings whatever the batching: the choice depends on (track, frame, value) only.
    assert np.array_equal(np.asarray(first.postings), np.asarray(again.postings))
    assert np.array_equal(np.asarray(first.starts), np.asarray(again.starts))
    # Values under the cap keep every posting.
    rare = {h: p for h, p in truth.items() if len(p) <= 20}
    got = _postings_by_value(first)
    assert all(got[h] == p for h, p in list(rare.items())[:500])


def test_whole_index_stamping_equals_soundtrack_stamping_among_decoys(tmp_path, soundtrack, film, config,
                                                                        seconds_agreement):
    paths = [p for p, _ in soundtrack.values()]
    rng = np.random.default_rng(2)
    with open_store(str(tmp_path / "fp.sqlite"), config) as store:
        outcomes = index_tracks(paths, store, config)
        ids = [o.track_id for o in outcomes]
        _add_random_tracks(store, rng, 40)  # decoys with random hashes
        own = stamp_film(film[0], store, config, film_id="film", track_ids=ids)
        whole = stamp_film(film[0], store, config, film_id="film", track_ids=None, library_dir=tmp_path / "lib")
    # The search found the film's three tracks and next to none of the 40 decoys, and the full
    # matching of those candidates gives exactly the soundtrack's cue table.
    assert 3 <= whole.candidates <= 6
    assert whole.cues.equals(own.cues)
    precision, recall = seconds_agreement(film[1], whole.cues)
    assert precision > 0.9 and recall > 0.8


def test_index_is_reused_rebuilt_when_tracks_change_and_stale_ones_removed(tmp_path, config):
    rng = np.random.default_rng(3)
    folder = tmp_path / "lib"
    with open_store(str(tmp_path / "fp.sqlite"), config) as store:
        _add_random_tracks(store, rng, 3)
        first = open_library_index(store, folder, config)
        assert open_library_index(store, folder, config) is first  # mapped once per process
        _add_random_tracks(store, rng, 1)
        (folder / f".build-{first.key}-99999").mkdir()  # what a build killed mid-way leaves
        second = open_library_index(store, folder, config)
    assert second.key != first.key and second.track_ids.size == 4
    assert sorted(p.name for p in folder.iterdir() if p.is_dir()) == [second.key]
    assert first.postings.shape[0] > 0 and np.asarray(first.postings).sum() > 0  # a mapped old index still reads


def _open_in_child(db: str, folder: str, queue) -> None:
    from scorelens.config import StamperConfig

    with open_store(db, StamperConfig(), create=False) as store:
        queue.put(open_library_index(store, folder, StamperConfig()).meta["build_s"])


def test_concurrent_stampers_build_the_index_once(tmp_path, config):
    rng = np.random.default_rng(4)
    db = str(tmp_path / "fp.sqlite")
    with open_store(db, config) as store:
        _add_random_tracks(store, rng, 30)
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    children = [ctx.Process(target=_open_in_child, args=(db, str(tmp_path / "lib"), queue)) for _ in range(3)]
    for c in children:
        c.start()
    for c in children:
        c.join(120)
    builds = {queue.get(timeout=5) for _ in children}
    assert all(c.exitcode == 0 for c in children)
    assert len(builds) == 1  # every process opened the one build (its meta names one build time)
    assert len([p for p in (tmp_path / "lib").iterdir() if p.is_dir()]) == 1


def test_damaged_index_is_one_line_naming_it(tmp_path, config):
    rng = np.random.default_rng(5)
    with open_store(str(tmp_path / "fp.sqlite"), config) as store:
        _add_random_tracks(store, rng, 2)
        index = build_library_index(store, tmp_path / "lib", config)
    (Path(index.path) / "postings.npy").write_bytes(b"not an array")
    with pytest.raises(StoreError, match=r"lib: not a readable library index .*delete it to rebuild") as err:
        LibraryIndex(index.path)
    assert "\n" not in str(err.value)


def test_unwritable_library_folder_is_one_line_naming_it(tmp_path, config):
    rng = np.random.default_rng(6)
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with open_store(str(tmp_path / "fp.sqlite"), config) as store:
        _add_random_tracks(store, rng, 2)
        with pytest.raises(StoreError, match=r"a-file/lib: cannot write the library index") as err:
            open_library_index(store, blocker / "lib", config)
    assert "\n" not in str(err.value)


def test_film_with_none_of_the_librarys_music_is_an_empty_table_with_a_note(tmp_path, film, config):
    rng = np.random.default_rng(7)
    with open_store(str(tmp_path / "fp.sqlite"), config) as store:
        _add_random_tracks(store, rng, 20)
        result = stamp_film(film[0], store, config, track_ids=None, library_dir=tmp_path / "lib")
    assert result.cues.empty and result.candidates == 0
    assert "no" in result.speed_note.lower()


def test_pool_votes_adds_the_neighbouring_offsets_by_hand():
    from scorelens.stamp._match import pool_votes

    keys = np.array([10, 11, 13, 20, 21, 22], dtype=np.int64)
    counts = np.array([1, 2, 3, 4, 5, 6])
    assert pool_votes(keys, counts, 1).tolist() == [3, 3, 3, 9, 15, 11]
    assert pool_votes(keys, counts, 2).tolist() == [3, 6, 5, 15, 15, 15]
    assert pool_votes(keys, counts, 0).tolist() == counts.tolist()


def test_another_release_of_the_same_music_does_not_hide_its_cues(tmp_path, soundtrack, film, config):
    # The same song in another encoding (FLAC at 48 kHz beside the MP3), as when two films'
    # soundtracks both hold it: its windows tie, and before, the 2x runner-up rule lost the cues.
    from scorelens.demo._media import write_audio

    paths = [p for p, _ in soundtrack.values()]
    samples = soundtrack["track1_action"][1]
    other = write_audio(tmp_path / "track1_action_other_release.flac", samples, 44100)
    with open_store(str(tmp_path / "fp.sqlite"), config) as store:
        ids = [o.track_id for o in index_tracks(paths, store, config)]
        own = stamp_film(film[0], store, config, track_ids=ids).cues
        extra = [o.track_id for o in index_tracks([other], store, config)]
        both = stamp_film(film[0], store, config, track_ids=ids + extra).cues
        whole = stamp_film(film[0], store, config, track_ids=None, library_dir=tmp_path / "lib").cues
    releases = {"track1_action", "track1_action_other_release"}
    for cues in (both, whole):
        assert len(cues) == len(own)
        for mine, ref in zip(cues.sort_values("start_s").itertuples(), own.sort_values("start_s").itertuples()):
            assert abs(mine.start_s - ref.start_s) <= 0.5 and abs(mine.end_s - ref.end_s) <= 0.5
            assert mine.track == ref.track or {mine.track, ref.track} <= releases


def test_other_folders_and_indexes_of_other_settings_are_kept(tmp_path, config):
    import scorelens.stamp._library as library

    rng = np.random.default_rng(8)
    folder = tmp_path / "lib"
    (folder / "photos").mkdir(parents=True)  # not ours: never touched
    coarse = dataclasses.replace(config, library_sample=4)
    with open_store(str(tmp_path / "fp.sqlite"), config) as store:
        _add_random_tracks(store, rng, 3)
        a = open_library_index(store, folder, config)
        built = (Path(a.path) / "meta.json").stat().st_ino
        b = open_library_index(store, folder, coarse)
        library._OPEN.clear()  # as a new process would
        again = open_library_index(store, folder, config)
        reused = (Path(again.path) / "meta.json").stat().st_ino == built
        # A folder of the current name without its meta.json (an interrupted copy) is rebuilt.
        (Path(again.path) / "meta.json").unlink()
        library._OPEN.clear()
        rebuilt = open_library_index(store, folder, config)
    assert a.key != b.key
    assert reused  # not rebuilt after the other settings' build
    assert (folder / "photos").is_dir() and (folder / b.key / "meta.json").exists()
    assert rebuilt.key == a.key and (folder / a.key / "meta.json").exists()
    with pytest.raises(StoreError, match=r"already exists"):
        with open_store(str(tmp_path / "fp.sqlite"), config) as store:
            build_library_index(store, folder / a.key, config)
