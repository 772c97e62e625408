import os

import pytest

from scorelens.corpus import find_audio_files, load_corpus, normalise_genre, soundtrack_files
from scorelens.exceptions import ManifestError, MediaError


@pytest.fixture
def layout(tmp_path):
    (tmp_path / "films").mkdir()
    (tmp_path / "films" / "a.mp4").write_bytes(b"x")
    (tmp_path / "films" / "b.mkv").write_bytes(b"x")
    st = tmp_path / "st" / "a"
    st.mkdir(parents=True)
    (st / "01.mp3").write_bytes(b"x")
    (st / "02.flac").write_bytes(b"x")
    (st / "cover.jpg").write_bytes(b"x")
    (tmp_path / "st" / "b.wav").write_bytes(b"x")
    return tmp_path


def test_toml_manifest(layout):
    (layout / "c.toml").write_text('''
[corpus]
name = "study"

[[film]]
id = "a"
title = "Film A"
year = 2016
film = "films/a.mp4"
soundtrack = "st/a/"
genres = ["Action", "sci-fi"]

[[film]]
id = "b"
film = "films/b.mkv"
soundtrack = ["st/b.wav"]
genres = ["romance"]
''')
    corpus = load_corpus(layout / "c.toml")
    assert corpus.name == "study" and len(corpus) == 2
    a = corpus.film("a")
    assert [p.name for p in a.tracks] == ["01.mp3", "02.flac"]  # cover.jpg is not audio
    assert a.genres == ("Action", "Science Fiction") and a.year == 2016
    ids, Y = corpus.label_matrix()
    assert ids == ["a", "b"]
    assert Y.tolist() == [[1, 0, 0, 0, 0, 1], [0, 0, 0, 0, 1, 0]]


def test_csv_manifest_and_custom_taxonomy(layout):
    (layout / "c.csv").write_text("id,title,year,film,soundtrack,genres,cues\n"
                                  "a,Film A,2016,films/a.mp4,st/a/,Noir;Western,\n")
    corpus = load_corpus(layout / "c.csv", genres=["Noir", "Western"])
    assert corpus.films[0].genres == ("Noir", "Western")


def test_every_problem_is_reported_at_once(layout):
    (layout / "bad.toml").write_text('''
[[film]]
id = "a"
film = "films/missing.mp4"
soundtrack = "st/a/"
genres = ["Action", "Musical"]

[[film]]
id = "a"
film = "films/b.mkv"
soundtrack = "st/empty/"
genres = []
cues = "nowhere.csv"
''')
    (layout / "st" / "empty").mkdir()
    with pytest.raises(ManifestError) as err:
        load_corpus(layout / "bad.toml")
    problems = err.value.problems
    text = str(err.value)
    assert len(problems) == 6, problems
    assert "missing.mp4 does not exist" in text
    assert "unknown genre 'Musical'" in text
    assert "duplicate id" in text
    assert "holds no audio files" in text
    assert "no genres given" in text
    assert "nowhere.csv does not exist" in text
    assert text.startswith(str(layout / "bad.toml"))


def test_malformed_files(tmp_path):
    with pytest.raises(ManifestError, match="no such manifest file"):
        load_corpus(tmp_path / "none.toml")
    (tmp_path / "x.toml").write_text("[[film]\nid=")
    with pytest.raises(ManifestError, match="not valid TOML"):
        load_corpus(tmp_path / "x.toml")
    (tmp_path / "x.csv").write_text("id,film\n")
    with pytest.raises(ManifestError, match=r"missing column\(s\): genres, soundtrack"):
        load_corpus(tmp_path / "x.csv")


def test_genre_spellings():
    taxonomy = ("Action", "Science Fiction")
    assert normalise_genre("SCI-FI", taxonomy) == "Science Fiction"
    assert normalise_genre("science fiction", taxonomy) == "Science Fiction"
    assert normalise_genre("Horror", taxonomy) is None


def test_find_audio_files_in_per_film_folders(tmp_path):
    # A folder of per-film soundtrack folders, with the clutter a real one has.
    files = ["heat/01 Heat.mp3", "heat/02 Coffee Shop.FLAC", "heat/cover.jpg", "heat/disc 2/01 Bonus.ogg",
             "alien/Main Title.wav", "alien/.hidden.mp3", "alien/._Main Title.wav", ".Trash/old.mp3",
             "notes.txt", "loose.m4a", "zulu.aiff.txt"]
    for name in files:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "empty.mp3").mkdir()  # a folder named like a track is not a track
    os.symlink(tmp_path, tmp_path / "heat" / "loop")  # a link back up the tree
    os.symlink(tmp_path / "heat", tmp_path / "zz heat")  # a link to a folder already read
    os.symlink(tmp_path / "alien", tmp_path / "aa alien")  # read here, first by name
    found = [p.relative_to(tmp_path).as_posix() for p in find_audio_files(tmp_path)]
    assert found == ["aa alien/Main Title.wav", "heat/01 Heat.mp3",
                     "heat/02 Coffee Shop.FLAC", "heat/disc 2/01 Bonus.ogg", "loose.m4a"]
    assert [p.name for p in find_audio_files(tmp_path, recursive=False)] == ["loose.m4a"]
    assert find_audio_files(tmp_path / "heat", recursive=False) == soundtrack_files(tmp_path / "heat")


def test_find_audio_files_needs_a_folder(tmp_path):
    (tmp_path / "track.mp3").write_bytes(b"x")
    with pytest.raises(MediaError, match=r"track\.mp3: not a folder"):
        find_audio_files(tmp_path / "track.mp3")
    with pytest.raises(MediaError, match=r"absent: no such folder"):
        find_audio_files(tmp_path / "absent")
