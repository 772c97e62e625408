"""A finished study, read back as pandas: what a notebook opens after ``scorelens run``.

:func:`open_study` (``scorelens.open``) returns a read-only :class:`Study`. Each accessor reads
one kind of file through that file's one reader and returns a DataFrame (or a dict); a result
that was not computed is a one-line :class:`~scorelens.exceptions.ResultMissing` naming the
stage that makes it. Nothing here writes to the workspace, creates it, or locks it, so a study
can be opened while another process is running on it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

from scorelens.exceptions import ResultMissing, WorkspaceError

if TYPE_CHECKING:  # annotations only: pandas is imported when a table is read
    import pandas as pd

__all__ = ["Study", "open_study"]


class Study:
    """A workspace's results as DataFrames (read-only).

    Parameters
    ----------
    workspace : path
        A workspace written by ``scorelens run`` (or the per-stage commands).
    manifest : path, optional
        The corpus manifest; default: the one the last run recorded in ``results/run.json``,
        else the workspace's demo manifest.

    Raises
    ------
    WorkspaceError
        ``workspace`` is not a scorelens workspace.

    Examples
    --------
    >>> import scorelens
    >>> study = scorelens.open("work")                               # doctest: +SKIP
    >>> study.table4().sort_values("f1", ascending=False).head()    # doctest: +SKIP
    """

    def __init__(self, workspace: str | os.PathLike, *, manifest: str | os.PathLike | None = None):
        from scorelens.workspace import WorkspaceLayout

        self.root = Path(workspace)
        self.layout = WorkspaceLayout(self.root)
        if not self.layout.marker.is_file():
            raise WorkspaceError(f"{self.root}: not a scorelens workspace (no {self.layout.marker.name}); run "
                                 f"`scorelens run MANIFEST -w {self.root}` first")
        from scorelens.workspace import Workspace

        self._workspace = Workspace(self.root)  # an existing workspace: nothing is written
        self._manifest = Path(manifest) if manifest is not None else None
        self._corpus = None

    def __repr__(self) -> str:
        return f"Study({str(self.root)!r})"

    # --- the corpus
    @property
    def manifest(self) -> Path | None:
        """The corpus manifest the study was run on (None when it cannot be found)."""
        if self._manifest is not None:
            return self._manifest
        record = self._run_record_or_none() or {}
        candidates = [Path(record["manifest"])] if record.get("manifest") else []
        candidates.append(self.layout.corpus_manifest)
        return next((p for p in candidates if p.is_file()), None)

    def _load_corpus(self):
        if self._corpus is None:
            from scorelens.corpus import load_corpus

            if self.manifest is None:
                raise ResultMissing(f"{self.root}: no manifest recorded or given; open it with "
                                    "scorelens.open(workspace, manifest=...)")
            self._corpus = load_corpus(self.manifest, check_files=False)
        return self._corpus

    def corpus(self) -> pd.DataFrame:
        """The films: ``film_id, title, year, genres, duration_s, n_cues, music_s, music_share``.

        ``duration_s`` is the film audio's length the stamper decoded (NaN before stamping);
        ``music_s`` the seconds covered by identified music; ``music_share`` their ratio.
        """
        import pandas as pd

        rows = []
        for film in self._load_corpus().films:
            path = self.layout.cue_table(film.id)
            record = self._workspace.record(path)
            duration = float(record.get("duration_s", float("nan"))) if record else float("nan")
            n_cues, music = 0, 0.0
            if path.is_file():
                cues = self._read_cues(path, film.id)
                n_cues, music = len(cues), float((cues["end_s"] - cues["start_s"]).sum())
            rows.append({"film_id": film.id, "title": film.title, "year": film.year, "genres": list(film.genres),
                         "duration_s": duration, "n_cues": n_cues, "music_s": music,
                         "music_share": music / duration if duration == duration and duration > 0 else float("nan")})
        return pd.DataFrame(rows)

    # --- stamp
    @staticmethod
    def _read_cues(path: Path, film_id: str) -> pd.DataFrame:
        from scorelens.stamp._cuetable import read_cue_table

        return read_cue_table(path, film_id=film_id)

    def cues(self, film: str | None = None) -> pd.DataFrame:
        """The Score Stamper's cue tables: one film's, or every film's of the corpus in its order.

        Parameters
        ----------
        film : str, optional

        Returns
        -------
        pd.DataFrame
            ``film_id, cue_id, track, start_s, end_s, track_offset_s, speed, votes, …``.
        """
        import pandas as pd

        if film is not None:
            path = self.layout.existing_cue_table(film)
            if not path.is_file():
                raise ResultMissing(f"{path}: no cue table for film {film!r}; the stamp stage makes it")
            return self._read_cues(path, film)
        found = self.layout.cue_tables()
        ids = [f.id for f in self._load_corpus().films] if self.manifest is not None else list(found)
        tables = [self._read_cues(found[i], i) for i in ids if i in found]
        if not tables:
            raise ResultMissing(f"{self.layout.cues_dir}: no cue tables; the stamp stage makes them")
        return pd.concat(tables, ignore_index=True)

    def stamp_eval(self) -> pd.DataFrame:
        """The Score Stamper's per-film scores against the hand annotations (``results/stamp_eval.json``)."""
        import pandas as pd

        data = self._json(self.layout.stamp_eval(), "stamp (on films with annotated cues)")
        return pd.DataFrame(data["per_film"])

    # --- features
    def features(self, kind: str, level: str = "cue") -> pd.DataFrame:
        """A feature kind's table (``mir``, ``musicnn``, ``vggish``, ``visual``).

        Parameters
        ----------
        kind : str
        level : {"cue", "frame"}

        Returns
        -------
        pd.DataFrame
            ``film_id, cue_id`` (``time_s`` for frames), then one column per feature.
        """
        from scorelens.stages._features import load_features

        path = self.layout.features(kind, level)
        if not path.is_file():
            stage = "visual" if kind == "visual" else "features"
            raise ResultMissing(f"{path}: no {level}-level {kind!r} features; the {stage} stage makes them")
        return load_features(self.root, kind, level=level)

    # --- models
    def table4(self, level: str = "cue") -> pd.DataFrame:
        """Table 4: macro precision, recall and F1 of every model on every feature kind."""
        import pandas as pd

        path = self._need(self.layout.table4(level, "csv"), "evaluate")
        table = pd.read_csv(path)
        # The baselines' feature kind is the text "None" (they use no features), not a missing value.
        table["features"] = pd.read_csv(path, usecols=["features"], keep_default_na=False)["features"]
        return table

    def predictions(self, level: str = "cue") -> pd.DataFrame:
        """Out-of-fold genre probabilities per film, model and feature kind (long format)."""
        from scorelens.analysis._predictions import read_predictions

        return read_predictions(self._need(self.layout.predictions(level), "evaluate"))

    def attention(self, level: str = "cue") -> pd.DataFrame:
        """The networks' instance weights per cue and genre (how much each cue drove each genre)."""
        import pandas as pd

        return pd.read_parquet(self._need(self.layout.instance_weights(level), "evaluate (with a network model)"))

    def importance(self, *, runs: bool = False) -> pd.DataFrame:
        """Fig 3: each feature group's permutation importance per genre (or every run with ``runs=True``).

        With several importance runs in the workspace (other models or settings), the most
        recent is read; its folder is in ``df.attrs["source"]``.
        """
        import pandas as pd

        layout = self.layout
        found = [layout.importance_runs(f) if runs else layout.importance_summary(f, "csv")
                 for f in layout.importance_runs_dirs()]
        found = [f for f in found if f.is_file()]
        if not found:
            raise ResultMissing(f"{layout.importance_root}: no permutation importance; the importance stage makes it")
        df = pd.read_parquet(found[-1]) if runs else pd.read_csv(found[-1])
        df.attrs["source"] = str(found[-1].parent)
        return df

    def table5(self) -> pd.DataFrame:
        """Table 5: brightness and contrast of the music's clips by actual, predicted and false-positive genre."""
        import pandas as pd

        return pd.read_csv(self._need(self.layout.table5("csv"), "crossmodal"))

    def run_record(self) -> dict:
        """What the last ``scorelens run`` did, stage by stage (``results/run.json``)."""
        return self._json(self.layout.run_record(), "run (scorelens run)")

    # --- helpers
    def _need(self, path: Path, stage: str) -> Path:
        if not path.is_file():
            raise ResultMissing(f"{path}: not computed; the {stage} stage makes it")
        return path

    def _json(self, path: Path, stage: str) -> dict:
        try:
            return json.loads(self._need(path, stage).read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise WorkspaceError(f"{path}: damaged ({exc}); run the {stage} stage again") from None

    def _run_record_or_none(self) -> dict | None:
        try:
            return json.loads(self.layout.run_record().read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            return None


def open_study(workspace: str | os.PathLike, *, manifest: str | os.PathLike | None = None) -> Study:
    """Open a workspace's results for reading (``scorelens.open``).

    Parameters
    ----------
    workspace : path
    manifest : path, optional
        Default: the manifest of the last run.

    Returns
    -------
    Study

    Raises
    ------
    WorkspaceError
        Not a workspace.
    """
    return Study(workspace, manifest=manifest)
