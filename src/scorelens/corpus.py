"""The corpus manifest: which films a study uses, their soundtracks and genre labels.

A manifest is a TOML file people edit by hand, or a CSV for large corpora. Paths are
relative to the manifest's folder. Validation collects every problem (missing files,
unknown genres, duplicate ids, …) and reports them all at once.

TOML::

    [corpus]
    name = "my-study"
    genres = ["Action", "Comedy", "Drama", "Horror", "Romance", "Science Fiction"]  # optional

    [[film]]
    id = "heat"
    title = "Heat"
    year = 1995
    film = "films/heat.mkv"
    soundtrack = "soundtracks/heat/"          # a folder, or a list of track files
    genres = ["Action", "Drama"]
    cues = "annotations/heat.csv"             # optional hand-annotated cues

CSV: columns ``id,title,year,film,soundtrack,genres,cues``; several genres or track
files in one cell are separated by ``;``.
"""

from __future__ import annotations

import csv
import dataclasses
import os
import re
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from scorelens.config import DEFAULT_GENRES
from scorelens.exceptions import ManifestError, MediaError, ParameterError
from scorelens.io._audio import AUDIO_EXTENSIONS

__all__ = ["Film", "Corpus", "load_corpus", "soundtrack_files", "find_audio_files", "normalise_genre"]

_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_GENRE_ALIASES = {"scifi": "science fiction", "sf": "science fiction", "romcom": None}


def _genre_key(name: str) -> str:
    key = re.sub(r"[^a-z0-9]", "", name.lower())
    alias = _GENRE_ALIASES.get(key)
    return re.sub(r"[^a-z0-9]", "", alias) if alias else key


def normalise_genre(name: str, taxonomy: Iterable[str]) -> str | None:
    """Return the taxonomy's spelling of ``name`` (case, spaces and "Sci-Fi" forgiven), or None."""
    wanted = _genre_key(name)
    for genre in taxonomy:
        if _genre_key(genre) == wanted:
            return genre
    return None


def soundtrack_files(folder: Path) -> list[Path]:
    """Audio files directly inside ``folder`` (by extension), sorted by name."""
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in AUDIO_EXTENSIONS)


def find_audio_files(folder: str | os.PathLike, *, recursive: bool = True) -> list[Path]:
    """Audio files in ``folder`` and, by default, in its subfolders (a folder of per-film folders).

    Files are recognised by extension (:data:`scorelens.io._audio.AUDIO_EXTENSIONS`, any
    case). Hidden files and folders (a name starting with ``.``, such as ``.Trash`` or
    macOS's ``._track.mp3`` companions) are skipped. Symbolic links to folders are
    followed, each folder read once (under the first of its paths by name), so a link
    back up the tree does not loop and linked tracks are not listed twice.

    Parameters
    ----------
    folder : path
    recursive : bool
        Look into subfolders; otherwise only the files directly inside ``folder``.

    Returns
    -------
    list of Path
        Sorted by their path below ``folder``, so a film's tracks stay together.

    Raises
    ------
    MediaError
        If ``folder`` is not a folder.
    """
    root = Path(folder)
    if not root.is_dir():
        raise MediaError(f"{root}: not a folder" if root.exists() else f"{root}: no such folder")
    found: list[Path] = []
    seen: set[tuple[int, int]] = set()
    # os.walk rather than Path.rglob: it lets hidden folders be pruned before descending,
    # and the visited set guards the followed links against cycles.
    for here, dirs, files in os.walk(root, followlinks=True):
        st = os.stat(here)
        if (st.st_dev, st.st_ino) in seen:
            dirs[:] = []
            continue
        seen.add((st.st_dev, st.st_ino))
        # Sorted, so that of two paths to one folder the first by name is the one read.
        dirs[:] = sorted(d for d in dirs if not d.startswith(".")) if recursive else []
        for name in files:
            path = Path(here, name)
            if not name.startswith(".") and path.suffix.lower() in AUDIO_EXTENSIONS and path.is_file():
                found.append(path)
    return sorted(found, key=lambda p: p.relative_to(root).parts)


@dataclass(frozen=True)
class Film:
    """One film of a corpus.

    Attributes
    ----------
    id : str
        Short unique identifier (letters, digits, ``._-``), used in file names.
    title : str
    year : int or None
    film : Path
        The film file (any container FFmpeg reads).
    tracks : tuple of Path
        The soundtrack's audio files.
    genres : tuple of str
        Genre labels, spelled as in the corpus taxonomy.
    cues : Path or None
        Hand-annotated cue table (CSV with ``track,start_s,end_s``), if any.
    """

    id: str
    title: str
    year: int | None
    film: Path
    tracks: tuple[Path, ...]
    genres: tuple[str, ...]
    cues: Path | None = None


@dataclass(frozen=True)
class Corpus:
    """A validated manifest: films plus the genre taxonomy.

    Attributes
    ----------
    path : Path
        The manifest file.
    name : str
    taxonomy : tuple of str
        Genre names in label-matrix column order.
    films : tuple of Film
    """

    path: Path
    name: str
    taxonomy: tuple[str, ...]
    films: tuple[Film, ...] = field(default_factory=tuple)

    def __len__(self) -> int:
        return len(self.films)

    def film(self, film_id: str) -> Film:
        """The film with this id (KeyError naming the known ids otherwise)."""
        for f in self.films:
            if f.id == film_id:
                return f
        raise KeyError(f"{self.path}: no film with id {film_id!r} (known: {', '.join(f.id for f in self.films)})")

    def select(self, films: Iterable[str] | None = None) -> Corpus:
        """The corpus with only ``films`` (in the corpus' order); all of it when ``films`` is empty.

        Parameters
        ----------
        films : iterable of str, optional
            Film ids (``--film``).

        Returns
        -------
        Corpus

        Raises
        ------
        ParameterError
            A film id that is not in the corpus.
        """
        wanted = list(films or [])
        if not wanted:
            return self
        ids = [f.id for f in self.films]
        unknown = [w for w in wanted if w not in ids]
        if unknown:
            raise ParameterError(f"{self.path}: no film(s) {', '.join(unknown)} (known: {', '.join(ids)})")
        return dataclasses.replace(self, films=tuple(f for f in self.films if f.id in set(wanted)))

    def label_matrix(self) -> tuple[list[str], np.ndarray]:
        """Film ids and their multi-hot labels.

        Returns
        -------
        ids : list of str [length n_films]
        Y : np.ndarray [shape=(n_films, n_genres), dtype=int]
            ``Y[i, k] = 1`` when film ``i`` has genre ``taxonomy[k]``.
        """
        Y = np.zeros((len(self.films), len(self.taxonomy)), dtype=int)
        for i, f in enumerate(self.films):
            for g in f.genres:
                Y[i, self.taxonomy.index(g)] = 1
        return [f.id for f in self.films], Y


def _as_list(value) -> list:
    if value is None:
        return []
    if isinstance(value, str):
        return [v.strip() for v in value.split(";") if v.strip()]
    if isinstance(value, (list, tuple)):
        return list(value)
    return [value]


def _read_toml(path: Path) -> tuple[dict, list[dict]]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ManifestError(path, [f"not valid TOML: {exc}"]) from exc
    header = data.get("corpus", {})
    films = data.get("film", [])
    if not isinstance(films, list):
        raise ManifestError(path, ["[[film]] entries must be an array of tables"])
    return header, films


def _read_csv(path: Path) -> tuple[dict, list[dict]]:
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            missing = {"id", "film", "soundtrack", "genres"} - set(reader.fieldnames or [])
            if missing:
                raise ManifestError(path, [f"missing column(s): {', '.join(sorted(missing))}"])
            rows = [{k: (v.strip() if isinstance(v, str) else v) for k, v in row.items() if k} for row in reader]
    except UnicodeDecodeError as exc:
        raise ManifestError(path, [f"not UTF-8 text: {exc}"]) from exc
    for row in rows:
        for key in ("year", "cues", "title"):
            if row.get(key) == "":
                row.pop(key)
    return {}, rows


def load_corpus(path: str | os.PathLike, *, genres: Iterable[str] | None = None,
                check_files: bool = True) -> Corpus:
    """Read and validate a corpus manifest (TOML or CSV).

    Parameters
    ----------
    path : str or path-like
        ``*.toml`` or ``*.csv`` manifest.
    genres : iterable of str, optional
        Taxonomy to use; default: the manifest's ``[corpus] genres`` or the study's six.
    check_files : bool
        Check that every film, track and annotation file exists.

    Returns
    -------
    Corpus

    Raises
    ------
    ManifestError
        Listing every problem found: missing fields or files, unknown genres, duplicate
        ids, a soundtrack folder with no audio.
    """
    path = Path(path)
    if not path.is_file():
        raise ManifestError(path, ["no such manifest file"])
    header, entries = _read_csv(path) if path.suffix.lower() == ".csv" else _read_toml(path)
    taxonomy = tuple(genres) if genres is not None else tuple(header.get("genres", DEFAULT_GENRES))
    root = path.parent
    problems: list[str] = []
    films: list[Film] = []
    seen: dict[str, int] = {}
    if len({_genre_key(g) for g in taxonomy}) != len(taxonomy):
        problems.append(f"taxonomy {list(taxonomy)} names a genre twice")
    if not entries:
        problems.append("no films listed")
    for n, entry in enumerate(entries, start=1):
        where = f"film #{n}"
        if not isinstance(entry, dict):
            problems.append(f"{where}: not a table")
            continue
        film_id = str(entry.get("id", "")).strip()
        if not film_id:
            problems.append(f"{where}: missing 'id'")
        else:
            where = f"film {film_id!r}"
            if not _ID_PATTERN.match(film_id):
                problems.append(f"{where}: id must use letters, digits, '.', '_' or '-' only")
            if film_id in seen:
                problems.append(f"{where}: duplicate id (also film #{seen[film_id]})")
            seen.setdefault(film_id, n)
        unknown_keys = set(entry) - {"id", "title", "year", "film", "soundtrack", "genres", "cues"}
        if unknown_keys:
            problems.append(f"{where}: unknown field(s) {', '.join(sorted(unknown_keys))}")
        year = entry.get("year")
        if year is not None:
            try:
                year = int(year)
            except (TypeError, ValueError):
                problems.append(f"{where}: year {year!r} is not a whole number")
                year = None
        film_rel = entry.get("film")
        film_path = root / str(film_rel) if film_rel else None
        if film_path is None:
            problems.append(f"{where}: missing 'film'")
        elif check_files and not film_path.is_file():
            problems.append(f"{where}: film file {film_path} does not exist")
        tracks: list[Path] = []
        sound = _as_list(entry.get("soundtrack"))
        if not sound:
            problems.append(f"{where}: missing 'soundtrack' (a folder or a list of track files)")
        for item in sound:
            p = root / str(item)
            if p.is_dir():
                found = soundtrack_files(p)
                if not found and check_files:
                    problems.append(f"{where}: soundtrack folder {p} holds no audio files "
                                    f"({', '.join(sorted(AUDIO_EXTENSIONS))})")
                tracks.extend(found)
            elif check_files and not p.is_file():
                problems.append(f"{where}: soundtrack {p} does not exist")
            else:
                tracks.append(p)
        labels: list[str] = []
        raw_genres = _as_list(entry.get("genres"))
        if not raw_genres:
            problems.append(f"{where}: no genres given")
        for g in raw_genres:
            known = normalise_genre(str(g), taxonomy)
            if known is None:
                problems.append(f"{where}: unknown genre {g!r} (taxonomy: {', '.join(taxonomy)})")
            elif known not in labels:
                labels.append(known)
        cues_rel = entry.get("cues")
        cues_path = root / str(cues_rel) if cues_rel else None
        if cues_path is not None and check_files and not cues_path.is_file():
            problems.append(f"{where}: cue annotation file {cues_path} does not exist")
        films.append(Film(id=film_id, title=str(entry.get("title") or film_id), year=year,
                          film=film_path or Path(), tracks=tuple(tracks),
                          genres=tuple(sorted(labels, key=taxonomy.index)), cues=cues_path))
    if problems:
        raise ManifestError(path, problems)
    return Corpus(path=path, name=str(header.get("name", path.stem)), taxonomy=taxonomy, films=tuple(films))
