"""The workspace: one output folder that every stage writes into, and that makes re-runs resume.

:class:`WorkspaceLayout` (``Workspace.layout``) is the one place that spells a path inside a
workspace; every stage asks it where to read and write. Layout::

    WORKSPACE/
      .scorelens-workspace        marks the folder (refuses to write into arbitrary folders)
      .scorelens.lock             held while `scorelens run` works here (one run at a time)
      fingerprints.sqlite         default fingerprint database (index, stamp)
      corpus/                     the demo's synthetic films and manifest (demo)
      cues/<film>.parquet|.csv    cue tables (stamp)
      features/<kind>/            films/<film>.parquet shards, frames.parquet, cues.parquet
      results/evaluation/<level>/ Table 4, predictions, instance weights, saved runs (evaluate)
      results/importance/<run>/   Fig 3 (importance)
      results/crossmodal/         Table 5 (crossmodal)
      results/figures/            PR curves, per-film scatter, cue timeline (figures)
      results/report/             report.md, report.html, index.html (the interactive report), assets/,
                                  clips/<film>/<cue>.ogg, cue_sheets/ (report)
      results/models/             trained model artifacts (train)
      results/stamp_eval.json     the Score Stamper against annotations (stamp-eval)
      results/run.json            what the last `scorelens run` did, stage by stage
      settings/<stage>.json       resolved settings of the last run of each stage

Every output is written to a temporary file in the same folder and moved into place
atomically, and then a small *record* (``<output>.done.json``) is written beside it
holding the unit's key: a digest of the input content and the settings. A unit is
done when its record exists and its key matches; a crash at any point leaves either
the old output, or a new output without a record (redone on the next run), never a
half-written file that looks finished.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import json
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from scorelens._version import __version__
from scorelens.exceptions import WorkspaceError
from scorelens.io._atomic import atomic_path, write_json_atomic

__all__ = ["Workspace", "WorkspaceLayout", "atomic_path", "write_json_atomic"]

_MARKER = ".scorelens-workspace"
_LOCK = ".scorelens.lock"


def _safe(name: str) -> str:
    """A model key or kind as a file-name part (``simple_mi:svm`` -> ``simple_mi_svm``)."""
    return str(name).replace(":", "_").replace("/", "_")


class WorkspaceLayout:
    """Where every file of a workspace lives: the one place that spells a workspace path.

    Methods return paths and create nothing; writers go through :meth:`Workspace.commit`
    (or :func:`~scorelens.io._atomic.atomic_path`), which creates the folders.

    Parameters
    ----------
    root : path
        The workspace folder.
    """

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)

    # --- the workspace itself
    @property
    def marker(self) -> Path:
        return self.root / _MARKER

    @property
    def lock(self) -> Path:
        return self.root / _LOCK

    @property
    def fingerprints(self) -> Path:
        """The default fingerprint database (SQLite)."""
        return self.root / "fingerprints.sqlite"

    def library_index(self, database_url: str) -> Path:
        """Folder of the library indexes (whole-index stamping) of one fingerprint database."""
        from scorelens.stamp._library import library_folder_name

        return self.root / "library" / library_folder_name(database_url)

    def settings(self, stage: str) -> Path:
        """Resolved settings of a stage's last run."""
        return self.root / "settings" / f"{stage}.json"

    @property
    def settings_dir(self) -> Path:
        return self.root / "settings"

    # --- inputs made by the demo
    @property
    def corpus_dir(self) -> Path:
        return self.root / "corpus"

    @property
    def corpus_manifest(self) -> Path:
        return self.corpus_dir / "corpus.toml"

    # --- stamp
    @property
    def cues_dir(self) -> Path:
        return self.root / "cues"

    def cue_table(self, film_id: str, fmt: str = "parquet") -> Path:
        """A film's cue table (``parquet``, the one stages read; ``csv``, a copy for people)."""
        return self.cues_dir / f"{film_id}.{fmt}"

    def cue_tables(self) -> dict[str, Path]:
        """Each film's cue table, by film id (the Parquet file where both it and a CSV exist)."""
        folder = self.cues_dir
        if not folder.is_dir():
            return {}
        found = {p.stem: p for p in folder.glob("*.csv") if not p.name.startswith(".")}
        found.update({p.stem: p for p in folder.glob("*.parquet") if not p.name.startswith(".")})
        return dict(sorted(found.items()))

    def existing_cue_table(self, film_id: str) -> Path:
        """The film's Parquet cue table, or its CSV when only that exists (hand-made tables)."""
        parquet = self.cue_table(film_id)
        csv = self.cue_table(film_id, "csv")
        return csv if not parquet.exists() and csv.exists() else parquet

    def stamp_eval(self) -> Path:
        """The Score Stamper scored against annotations (per film and mean; one schema)."""
        return self.results_dir / "stamp_eval.json"

    # --- features
    @property
    def features_dir(self) -> Path:
        return self.root / "features"

    def feature_dir(self, kind: str) -> Path:
        return self.features_dir / kind

    def feature_shard(self, kind: str, film_id: str) -> Path:
        """One film's frames of one kind (with the unit keys that let changed cue tables reuse them)."""
        return self.feature_dir(kind) / "films" / f"{film_id}.parquet"

    def features(self, kind: str, level: str = "cue") -> Path:
        """A kind's frame-level (``frame``) or cue-level (``cue``) table."""
        if level not in ("cue", "frame"):
            raise WorkspaceError(f"level={level!r} must be 'cue' or 'frame'")
        return self.feature_dir(kind) / ("cues.parquet" if level == "cue" else "frames.parquet")

    def feature_kinds(self) -> list[str]:
        """Kinds with a folder under ``features/``, sorted (``visual`` included)."""
        folder = self.features_dir
        return sorted(p.name for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []

    # --- results
    @property
    def results_dir(self) -> Path:
        return self.root / "results"

    def evaluation_dir(self, level: str = "cue") -> Path:
        return self.results_dir / "evaluation" / level

    def table4(self, level: str = "cue", fmt: str = "md") -> Path:
        return self.evaluation_dir(level) / f"table4.{fmt}"

    def predictions(self, level: str = "cue") -> Path:
        """Out-of-fold probabilities per film, genre and model (what crossmodal and figures read)."""
        return self.evaluation_dir(level) / "predictions.parquet"

    def instance_weights(self, level: str = "cue") -> Path:
        return self.evaluation_dir(level) / "instance_weights.parquet"

    def evaluation_runs(self, level: str = "cue") -> Path:
        """Saved model runs of an evaluation (resume an interrupted sweep)."""
        return self.evaluation_dir(level) / "runs"

    def model(self, kind: str, key: str) -> Path:
        """A trained model artifact."""
        return self.results_dir / "models" / f"{_safe(kind)}-{_safe(key)}.pt"

    @property
    def importance_root(self) -> Path:
        return self.results_dir / "importance"

    def importance_dir(self, kind: str, key: str, hidden: int, level: str = "cue") -> Path:
        return self.importance_root / f"{_safe(kind)}-{_safe(key)}-h{hidden}-{level}"

    def importance_runs_dirs(self) -> list[Path]:
        """Every importance run's folder, oldest first (by the time its summary was written)."""
        root = self.importance_root
        found = [p for p in root.iterdir() if self.importance_summary(p, "csv").is_file()] if root.is_dir() else []
        return sorted(found, key=lambda p: self.importance_summary(p, "csv").stat().st_mtime)

    @staticmethod
    def importance_summary(run_dir: Path, fmt: str = "csv") -> Path:
        """Fig 3's table of one importance run (``md``, ``csv`` or ``json``)."""
        return Path(run_dir) / f"pfi_summary.{fmt}"

    @staticmethod
    def importance_runs(run_dir: Path) -> Path:
        """Every permutation run's scores of one importance run."""
        return Path(run_dir) / "pfi_runs.parquet"

    @staticmethod
    def importance_figure(run_dir: Path, ext: str = "png") -> Path:
        """Fig 3 of one importance run."""
        return Path(run_dir) / f"fig3.{ext}"

    @property
    def crossmodal_dir(self) -> Path:
        return self.results_dir / "crossmodal"

    def table5(self, fmt: str = "md") -> Path:
        return self.crossmodal_dir / f"table5.{fmt}"

    @property
    def figures_dir(self) -> Path:
        return self.results_dir / "figures"

    def figure(self, name: str, ext: str = "png") -> Path:
        return self.figures_dir / f"{name}.{ext}"

    def figure_table(self, name: str) -> Path:
        """The data behind a figure (``average_precision``, ``per_film_scores``) as CSV."""
        return self.figures_dir / f"{name}.csv"

    @property
    def report_dir(self) -> Path:
        return self.results_dir / "report"

    def report(self, fmt: str = "html") -> Path:
        return self.report_dir / f"report.{fmt}"

    def report_explorer(self) -> Path:
        """The interactive report, opened from the file system (``results/report/index.html``)."""
        return self.report_dir / "index.html"

    def report_asset(self, name: str) -> Path:
        """A script or style the interactive report loads from beside it (no network)."""
        return self.report_dir / "assets" / _safe(name)

    @property
    def report_clips_dir(self) -> Path:
        return self.report_dir / "clips"

    def report_clip(self, film_id: str, cue_id: int, ext: str) -> Path:
        """The playable excerpt of one cue (``clips/<film>/<cue_id>.<ext>``)."""
        return self.report_clips_dir / _safe(film_id) / f"{int(cue_id)}.{ext}"

    def report_cue_sheet(self, fmt: str, film_id: str | None = None) -> Path:
        """A cue sheet: every film's (``csv``, ``json``) or one film's (``audacity``, ``elan``)."""
        folder = self.report_dir / "cue_sheets"
        if fmt in ("csv", "json"):
            return folder / f"cue_sheet.{fmt}"
        if fmt in ("audacity", "elan") and film_id is not None:
            return folder / f"{_safe(film_id)}.{fmt}.txt"
        raise WorkspaceError(f"fmt={fmt!r} must be csv or json, or audacity or elan with a film id")

    def run_record(self) -> Path:
        """What the last ``scorelens run`` did, stage by stage (``results/run.json``)."""
        return self.results_dir / "run.json"


class Workspace:
    """An output folder shared by all stages.

    Parameters
    ----------
    root : str or path-like
        Folder to use; created if missing. An existing non-empty folder that is not a
        workspace is refused, so a typo cannot scatter outputs into a home folder.
    """

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)
        if self.root.exists() and not self.root.is_dir():
            raise WorkspaceError(f"{self.root}: workspace must be a folder, not a file")
        marker = self.root / _MARKER
        if self.root.is_dir() and any(self.root.iterdir()) and not marker.exists():
            raise WorkspaceError(
                f"{self.root}: folder is not empty and is not a scorelens workspace "
                f"(no {_MARKER} file); choose an empty or new folder")
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            if not marker.exists():
                marker.write_text(json.dumps({"created_by": f"scorelens {__version__}",
                                              "created": time.strftime("%Y-%m-%dT%H:%M:%S")}) + "\n")
        except OSError as exc:
            raise WorkspaceError(f"{self.root}: cannot write to the workspace ({exc.strerror})") from exc

    def __repr__(self) -> str:
        return f"Workspace({str(self.root)!r})"

    @property
    def layout(self) -> WorkspaceLayout:
        """Where every file of this workspace lives."""
        return WorkspaceLayout(self.root)

    @contextlib.contextmanager
    def lock(self, what: str = "scorelens run") -> Iterator[None]:
        """Hold the workspace for one run: a second process is refused with a clear error.

        An advisory ``flock`` on ``.scorelens.lock``: the kernel releases it when the holder
        exits, however it exits (SIGKILL included), so a crashed run never leaves the
        workspace locked.

        Raises
        ------
        WorkspaceError
            Another process holds the workspace.
        """
        path = self.layout.lock
        fh = open(path, "a+", encoding="utf-8")
        try:
            try:
                fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                fh.seek(0)
                holder = fh.read().strip() or "another process"
                raise WorkspaceError(f"{self.root}: workspace is in use by {holder}; wait for it to finish "
                                     "or use another --workspace") from None
            fh.seek(0)
            fh.truncate()
            fh.write(f"{what} (pid {os.getpid()}, since {time.strftime('%Y-%m-%d %H:%M:%S')})\n")
            fh.flush()
            yield
        finally:
            fh.close()  # closing the descriptor releases the lock

    def path(self, *parts: str) -> Path:
        """A path inside the workspace (parent folders created)."""
        p = self.root.joinpath(*parts)
        p.parent.mkdir(parents=True, exist_ok=True)
        return p

    @property
    def default_db(self) -> str:
        """The default fingerprint database: a SQLite file in the workspace."""
        return str(self.layout.fingerprints)

    @staticmethod
    def _record_path(output: Path) -> Path:
        return output.with_name(output.name + ".done.json")

    @staticmethod
    def _failure_path(output: Path) -> Path:
        return output.with_name(output.name + ".failed.json")

    def is_done(self, output: str | os.PathLike, key: str) -> bool:
        """Whether ``output`` exists, was produced for this ``key`` (inputs + settings digest) and is whole.

        An output whose size differs from the one recorded when it was committed (a file
        truncated or replaced since) is not done, so the next run rebuilds it.
        """
        output = Path(output)
        record = self._record_path(output)
        if not (output.exists() and record.exists()):
            return False
        try:
            data = json.loads(record.read_text())
        except (OSError, json.JSONDecodeError):
            return False
        if data.get("key") != key:
            return False
        size = data.get("bytes")
        if size is not None and output.is_file() and output.stat().st_size != size:
            import logging

            logging.getLogger(__name__).warning("%s: damaged since it was written (%d bytes, recorded %d); "
                                                "rebuilding it", output, output.stat().st_size, size)
            return False
        return True

    def record_failure(self, output: str | os.PathLike, key: str, reason: str) -> None:
        """Remember that the unit of ``output`` failed for ``key`` (a re-run does not try it again)."""
        write_json_atomic(self._failure_path(Path(output)), {"key": key, "reason": str(reason),
                                                             "scorelens": __version__,
                                                             "failed": time.strftime("%Y-%m-%dT%H:%M:%S")})

    def recorded_failure(self, output: str | os.PathLike, key: str) -> str | None:
        """The reason the unit of ``output`` failed for the same ``key`` before, or None."""
        try:
            data = json.loads(self._failure_path(Path(output)).read_text())
        except (OSError, json.JSONDecodeError):
            return None
        return data.get("reason") if data.get("key") == key else None

    def record(self, output: str | os.PathLike) -> dict | None:
        """The record written beside ``output``, or None."""
        record = self._record_path(Path(output))
        try:
            return json.loads(record.read_text())
        except (OSError, json.JSONDecodeError):
            return None

    def commit(self, output: str | os.PathLike, key: str, write: Callable[[Path], None],
               meta: dict | None = None) -> Path:
        """Produce ``output`` atomically with ``write(tmp_path)`` and record it as done for ``key``.

        Parameters
        ----------
        output : path
            Final location (inside the workspace).
        key : str
            Digest of the inputs and settings; a later :meth:`is_done` with the same key skips the work.
        write : callable
            Writes the output to the temporary path it is given.
        meta : dict, optional
            Extra information kept in the record (settings, input files, counts).
        """
        output = Path(output)
        record = self._record_path(output)
        if record.exists():
            record.unlink()  # the old record must not vouch for the new output while it is written
        with atomic_path(output) as tmp:
            write(tmp)
        size = output.stat().st_size if output.is_file() else None
        write_json_atomic(record, {"key": key, "scorelens": __version__,
                                   "finished": time.strftime("%Y-%m-%dT%H:%M:%S"), "bytes": size, **(meta or {})})
        self._failure_path(output).unlink(missing_ok=True)
        return output

    def save_settings(self, stage: str, *configs, **sections) -> Path:
        """Write the resolved settings of a stage to ``settings/<stage>.json``, keyed by settings section.

        Parameters
        ----------
        stage : str
        *configs : dataclass or dict
            Settings objects; each is keyed by its section name in a ``[settings]`` table
            (``stamp``, ``model``, …: :data:`scorelens.config.SETTINGS_SECTIONS`); a dict
            is merged at the top level.
        **sections
            More entries, by name.

        Returns
        -------
        Path
        """
        from scorelens.config import SETTINGS_SECTIONS

        section_of = {cls: name for name, cls in SETTINGS_SECTIONS.items()}
        data: dict = {"scorelens": __version__}
        for cfg in configs:
            if dataclasses.is_dataclass(cfg):
                data[section_of.get(type(cfg), type(cfg).__name__)] = dataclasses.asdict(cfg)
            else:
                data.update(cfg)
        data.update({k: dataclasses.asdict(v) if dataclasses.is_dataclass(v) else v for k, v in sections.items()})
        target = self.layout.settings(stage)
        write_json_atomic(target, data)
        return target
