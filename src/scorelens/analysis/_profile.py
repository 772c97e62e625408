"""A music supervisor's view: what a trained genre model hears in a piece of music.

:func:`profile` takes pieces of music (a track, a stem, a cue exported from an editor) and a
model artifact from ``scorelens train``, and answers, per piece:

* **Genres.** The model's probabilities, with the piece as a bag of instances the way the
  model was trained: a cue-level model gets consecutive segments of about
  :attr:`ProfileConfig.segment_s` seconds (each the mean of its 1 Hz frames, as a cue is the
  mean of its frames), a frame-level model every frame. The features are exactly the ones
  the model was trained on (:meth:`~scorelens.mil._artifact.GenreModel.feature_pipeline`).
* **Nearest cues.** With a workspace: the corpus cues (with the report stage's clip of each,
  where the workspace has one) closest to the piece in the model's
  input space -- the features standardised with the model's own training mean and spread,
  the piece as the mean of its frames (what a cue of it would be), the distance the root
  mean square of the standardised differences. The workspace's features must have been
  computed as the model's were, or the comparison is refused in one line.
* **Descriptors.** Where the piece's tempo, spectral centroid, mode, key strength,
  roughness and loudness (MIR means over the piece) sit in each genre's distribution of the
  corpus cues (a cue counts for every genre of its film), plus, for the piece's leading
  genre, the descriptor that separates that genre most in each of the feature groups that
  matter most for it: from the workspace's permutation importance (Fig 3) when there is
  one for MIR features, else ranked by how far the genre's cues lie from the others' in the
  corpus (Cohen's d), and said so.

The result is a :class:`MusicProfile` (``to_json()``); :mod:`scorelens.report._profile`
renders it as a self-contained HTML page.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from scorelens._version import __version__
from scorelens.exceptions import MediaError, ModelError, ParameterError, WorkspaceError

__all__ = ["ProfileConfig", "PieceProfile", "MusicProfile", "profile", "MAIN_DESCRIPTORS", "DESCRIPTOR_LABELS"]

log = logging.getLogger(__name__)

#: The descriptors every profile places (MIR columns, means over texture windows).
MAIN_DESCRIPTORS = ("rhythm/tempo/mean", "timbre/centroid/mean", "tone/key_mode/mean", "tone/key_strength/mean",
                    "timbre/roughness/mean", "dynamics/rms/mean")
#: How the descriptors are named for people.
DESCRIPTOR_LABELS = {
    "rhythm/tempo/mean": "Tempo (BPM)",
    "timbre/centroid/mean": "Brightness: spectral centroid (Hz)",
    "tone/key_mode/mean": "Mode (major > 0 > minor)",
    "tone/key_strength/mean": "Key strength",
    "timbre/roughness/mean": "Roughness",
    "dynamics/rms/mean": "Dynamics: RMS level",
}
# Extensions of the report stage's cue clips (ReportConfig.clip_format opus -> .ogg, aac -> .m4a).
_CLIP_EXTENSIONS = ("ogg", "m4a")
@dataclass(frozen=True)
class ProfileConfig:
    """Settings of :func:`profile`."""

    segment_s: float = 5.0
    """A cue-level model gets a piece as consecutive segments of about this many seconds (the study's 5-s
    texture window), each the mean of its frames; a frame-level model gets every frame."""
    neighbours: int = 5
    """Corpus cues listed as nearest to each piece."""
    top_groups: int = 3
    """Feature groups (Fig 3's) shown for each piece's leading genre."""
    top_segments: int = 3
    """Instances listed per predicted genre as the ones that weighed most."""
    descriptors: tuple[str, ...] = MAIN_DESCRIPTORS
    """MIR columns every profile places against the corpus."""

    def __post_init__(self) -> None:
        if not self.segment_s > 0:
            raise ParameterError(f"segment_s={self.segment_s!r} must be > 0")
        for name in ("neighbours", "top_groups", "top_segments"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ParameterError(f"{name}={value!r} must be a non-negative integer")
        object.__setattr__(self, "descriptors", tuple(self.descriptors))


@dataclass
class PieceProfile:
    """What the model hears in one piece.

    Attributes
    ----------
    path : Path
    duration_s : float
    instances : pd.DataFrame
        ``start_s, end_s`` of each instance (segment or frame), in bag order.
    prediction : BagPrediction
    leading_genre : str
        The most probable genre.
    neighbours : pd.DataFrame or None
        ``film_id, title, genres, cue_id, track, start_s, end_s, clip, distance``, nearest
        first (``clip``: the report stage's excerpt of the cue, None where there is none);
        None without a workspace.
    descriptors : dict of str -> float
        MIR column -> the piece's value (mean over its frames).
    percentiles : dict of str -> dict of str -> float
        MIR column -> genre -> percentage of the genre's corpus cues at or below the piece's
        value (ties count half); empty without corpus MIR features.
    groups : list of dict
        ``{"group", "score", "descriptor"}`` for the leading genre, most important first.
    """

    path: Path
    duration_s: float
    instances: pd.DataFrame
    prediction: object
    leading_genre: str
    neighbours: pd.DataFrame | None = None
    descriptors: dict = field(default_factory=dict)
    percentiles: dict = field(default_factory=dict)
    groups: list = field(default_factory=list)

    def top_instances(self, k: int) -> dict[str, list[dict]]:
        """The instances that weighed most in each predicted genre, with their times.

        Parameters
        ----------
        k : int

        Returns
        -------
        dict of str -> list of dict
            Genre -> ``{"start_s", "end_s", "weight"}``, heaviest first.
        """
        out = {}
        for genre in self.prediction.predicted:
            out[genre] = [{"start_s": float(self.instances["start_s"].iloc[i]),
                           "end_s": float(self.instances["end_s"].iloc[i]), "weight": w}
                          for i, w in self.prediction.top_instances(genre, k)]
        return out


@dataclass
class MusicProfile:
    """:func:`profile`'s answer for every piece, and what it was measured against.

    Attributes
    ----------
    model : GenreModel
    pieces : list of PieceProfile
    config : ProfileConfig
    instance : str
        What an instance of a piece is (``"5-s segment"`` or ``"1-s frame"``).
    workspace : Path or None
    corpus : pd.DataFrame or None
        The corpus cues' MIR descriptor values (``film_id, cue_id, genres`` and the
        descriptor columns) behind the distributions; None without them.
    descriptor_reasons : dict of str -> str
        Each placed descriptor and why it is shown.
    group_source : str or None
        Where the feature-group ranking comes from.
    notes : list of str
        What could not be done, and why.
    """

    model: object
    pieces: list
    config: ProfileConfig
    instance: str
    workspace: Path | None = None
    corpus: pd.DataFrame | None = None
    descriptor_reasons: dict = field(default_factory=dict)
    group_source: str | None = None
    notes: list = field(default_factory=list)

    @property
    def taxonomy(self) -> list[str]:
        """The model's genres, in order."""
        return list(self.model.taxonomy)

    def genre_values(self, column: str) -> dict[str, np.ndarray]:
        """The corpus cues' values of one descriptor, per genre (empty without corpus MIR features).

        Parameters
        ----------
        column : str
            A MIR column.

        Returns
        -------
        dict of str -> np.ndarray
            Genre -> values of the cues of its films; genres without cues are left out.
        """
        if self.corpus is None or column not in self.corpus.columns:
            return {}
        out = {}
        for genre in self.taxonomy:
            mask = self.corpus["genres"].map(lambda gs, g=genre: g in gs).to_numpy(dtype=bool)
            if mask.any():
                out[genre] = self.corpus.loc[mask, column].to_numpy(dtype=float)
        return out

    def to_json(self) -> dict:
        """The profile as JSON data: model, feature settings, and per piece genres, cues, descriptors.

        Returns
        -------
        dict
        """
        m = self.model
        pieces = []
        for p in self.pieces:
            neighbours = None
            if p.neighbours is not None:
                neighbours = [{**r, "genres": list(r["genres"]), "cue_id": int(r["cue_id"]),
                               "start_s": round(float(r["start_s"]), 3), "end_s": round(float(r["end_s"]), 3),
                               "distance": round(float(r["distance"]), 4)}
                              for r in p.neighbours.to_dict(orient="records")]
            pieces.append({
                "file": str(p.path), "duration_s": round(p.duration_s, 3), "instances": len(p.instances),
                "probabilities": {g: round(float(v), 4) for g, v in p.prediction.probabilities.items()},
                "predicted": list(p.prediction.predicted), "leading_genre": p.leading_genre,
                "instances_that_weighed_most": p.top_instances(self.config.top_segments),
                "nearest_cues": neighbours,
                "descriptors": {c: {"value": _finite(v), "percentile_by_genre": {
                    g: round(q, 1) for g, q in p.percentiles.get(c, {}).items()}} for c, v in p.descriptors.items()},
                "groups": p.groups,
            })
        return {"scorelens": __version__, "model": str(m.path) if m.path else None, "model_key": m.key,
                "features": m.kind, "level": m.level, "feature_settings": m.features, "instance": self.instance,
                "taxonomy": self.taxonomy, "workspace": str(self.workspace) if self.workspace else None,
                "corpus_cues": None if self.corpus is None else len(self.corpus),
                "descriptors": {c: {"label": DESCRIPTOR_LABELS.get(c, c), "why": why}
                                for c, why in self.descriptor_reasons.items()},
                "group_ranking": self.group_source, "pieces": pieces, "notes": list(self.notes)}


def _finite(v) -> float | None:
    v = float(v)
    return round(v, 6) if np.isfinite(v) else None


# --------------------------------------------------------------------------- the corpus side

@dataclass
class _Corpus:
    """What a workspace holds for a profile: the model-kind cue features, their keys, MIR cues."""

    features: pd.DataFrame                  # cue-level, model kind: film_id, cue_id, features
    cues: pd.DataFrame                      # film_id, cue_id, title, genres, track, start_s, end_s
    mir: pd.DataFrame | None                # cue-level MIR: film_id, cue_id, genres, MIR columns
    mir_record: dict | None
    importance: list = field(default_factory=list)   # [(folder name, summary dict)]
    notes: list = field(default_factory=list)


def _cue_table(layout, kind: str) -> tuple[Path, pd.DataFrame] | None:
    from scorelens.analysis._data import load_feature_table
    from scorelens.features._pipeline import cue_level

    cue_path, frame_path = layout.features(kind, "cue"), layout.features(kind, "frame")
    if cue_path.is_file():
        return cue_path, load_feature_table(cue_path)
    if frame_path.is_file():
        return frame_path, cue_level(load_feature_table(frame_path))
    return None


def _genres(layout, manifest):
    from scorelens.corpus import load_corpus

    if manifest is None and layout.corpus_manifest.is_file():
        manifest = layout.corpus_manifest
    if manifest is None and layout.run_record().is_file():
        try:
            recorded = json.loads(layout.run_record().read_text(encoding="utf-8")).get("manifest")
        except (OSError, ValueError):
            recorded = None
        if recorded and Path(recorded).is_file():
            manifest = Path(recorded)
    if manifest is None:
        raise WorkspaceError(f"{layout.root}: the workspace does not say the films' genres (no manifest in it or "
                             "in its run record); give the corpus manifest (--manifest)")
    return load_corpus(manifest, check_files=False)


def _open_corpus(workspace, model, manifest) -> _Corpus:
    from scorelens.mil._artifact import read_feature_record
    from scorelens.report._sources import read_cue_tables
    from scorelens.workspace import Workspace, WorkspaceLayout

    # Read only: a Workspace would create a folder that is not there.
    root = workspace.root if isinstance(workspace, Workspace) else Path(workspace)
    if not root.is_dir():
        raise WorkspaceError(f"{root}: no such workspace")
    layout = WorkspaceLayout(root)
    kind = model.features["kind"]
    found = _cue_table(layout, kind)
    model_name = str(model.path) if model.path else "the model"
    if found is None:
        have = [k for k in layout.feature_kinds() if k != "visual"]
        raise ModelError(f"{root}: the workspace has no {kind} features (it has {', '.join(have) or 'none'}), "
                         f"and {model_name} was trained on {kind} features: give the workspace it was trained in")
    path, table = found
    diffs = model.feature_differences(read_feature_record(path))
    if diffs:
        raise ModelError(f"{root}: the workspace's {kind} features were computed otherwise than those of "
                         f"{model_name} ({'; '.join(diffs[:3])}): its cues and the piece would be described "
                         "differently")
    names = [c for c in table.columns if isinstance(c, str) and c.count("/") == 2]
    try:
        order = model.column_order(names)
    except ModelError as exc:
        raise ModelError(f"{path}: {exc}") from None
    features = pd.concat([table[["film_id", "cue_id"]].reset_index(drop=True),
                          table[[names[i] for i in order]].reset_index(drop=True)], axis=1)
    corpus = _genres(layout, manifest)
    films = {f.id: f for f in corpus.films}
    notes = []
    unknown = sorted(set(features["film_id"].astype(str)) - set(films))
    if unknown:
        notes.append(f"{len(unknown)} film(s) of the workspace are not in the manifest and are left out: "
                     f"{', '.join(unknown[:5])}{' …' if len(unknown) > 5 else ''}")
    features = features[features["film_id"].astype(str).isin(films)].reset_index(drop=True)
    if features.empty:
        raise WorkspaceError(f"{root}: none of the workspace's {kind} cues belong to the manifest's films "
                             f"({corpus.path})")
    cue_tables = read_cue_tables(layout, sorted(set(features["film_id"].astype(str))))
    keys = features[["film_id", "cue_id"]].astype({"film_id": str})
    cues = keys.merge(cue_tables[["film_id", "cue_id", "track", "start_s", "end_s"]].astype({"film_id": str}),
                      on=["film_id", "cue_id"], how="left")
    cues["title"] = cues["film_id"].map(lambda f: films[f].title)
    cues["genres"] = cues["film_id"].map(lambda f: tuple(films[f].genres))
    # An object Series keeps None (a list of str and None would become NaN where None).
    cues["clip"] = pd.Series([_clip(layout, f, c) for f, c in zip(cues["film_id"], cues["cue_id"])],
                             index=cues.index, dtype=object)
    mir, mir_record = None, None
    if kind == "mir":
        mir, mir_record = table, model.features
    else:
        found_mir = _cue_table(layout, "mir")
        if found_mir is not None:
            mir, mir_record = found_mir[1], read_feature_record(found_mir[0])
            if mir_record is None:
                notes.append(f"{found_mir[0]}: no record of its settings; descriptors are not placed against it")
                mir = None
        else:
            notes.append("the workspace has no MIR features: descriptors are not placed against the corpus (run "
                         "`scorelens features --kind mir`)")
    if mir is not None:
        mir = mir.assign(film_id=mir["film_id"].astype(str))
        mir = mir[mir["film_id"].isin(films)].reset_index(drop=True)
        mir.insert(2, "genres", mir["film_id"].map(lambda f: tuple(films[f].genres)))
    importance = []
    level = model.level
    if layout.importance_root.is_dir():
        for folder in sorted(layout.importance_root.glob(f"mir-*-{level}")):
            summary = layout.importance_summary(folder, "json")
            if summary.is_file():
                try:
                    importance.append((folder.name, json.loads(summary.read_text(encoding="utf-8"))))
                except (OSError, ValueError):
                    notes.append(f"{summary}: unreadable; left out")
    return _Corpus(features, cues, mir, mir_record, importance, notes)


def _clip(layout, film_id: str, cue_id) -> str | None:
    """The report stage's playable excerpt of a cue, where the workspace has one."""
    # Clips are the interactive report's (WorkspaceLayout.report_clip); a layout without them has none.
    clip_of = getattr(layout, "report_clip", None)
    if clip_of is None:
        return None
    for ext in _CLIP_EXTENSIONS:
        path = clip_of(film_id, int(cue_id), ext)
        if path.is_file():
            return str(path)
    return None


# --------------------------------------------------------------------------- one piece

def _instances(values: np.ndarray, times: np.ndarray, level: str, segment_s: float
               ) -> tuple[np.ndarray, pd.DataFrame]:
    """The piece's bag: every frame (frame level) or means of consecutive ~segment_s runs of frames."""
    from scorelens.features._base import GRID_RATE_HZ

    half = 0.5 / GRID_RATE_HZ
    if level == "frame":
        return values, pd.DataFrame({"start_s": times - half, "end_s": times + half})
    per_segment = segment_s * GRID_RATE_HZ
    k = max(1, int(round(len(values) / per_segment)))
    parts = np.array_split(np.arange(len(values)), k)
    X = np.stack([values[p].mean(axis=0) for p in parts]).astype(np.float32)
    spans = pd.DataFrame({"start_s": [times[p[0]] - half for p in parts],
                          "end_s": [times[p[-1]] + half for p in parts]})
    return X, spans


def _frames(kind, config, path: Path):
    from scorelens.features._pipeline import cue_frames
    from scorelens.io._audio import load_audio

    y = load_audio(path, sample_rate=kind.sample_rate)
    duration = y.size / kind.sample_rate
    if duration < config.min_cue_s:
        raise MediaError(f"{path}: {duration:.3f}s of audio; the model's features need at least {config.min_cue_s}s")
    return cue_frames(kind, y, where=str(path), grid_method=config.grid_method), duration


def _percentiles(value: float, by_genre: dict[str, np.ndarray]) -> dict[str, float]:
    out = {}
    for genre, x in by_genre.items():
        if len(x) and np.isfinite(value):
            out[genre] = float(100.0 * (np.sum(x < value) + 0.5 * np.sum(x == value)) / len(x))
    return out


def _cohen_d(corpus: pd.DataFrame, genre: str, columns: Sequence[str]) -> pd.Series:
    """Standardised mean difference of each column between the genre's cues and the others'."""
    mask = corpus["genres"].map(lambda gs: genre in gs).to_numpy(dtype=bool)
    a, b = corpus.loc[mask, list(columns)], corpus.loc[~mask, list(columns)]
    if len(a) < 2 or len(b) < 2:
        return pd.Series(dtype=float)
    pooled = np.sqrt(((len(a) - 1) * a.var(ddof=1) + (len(b) - 1) * b.var(ddof=1)) / (len(a) + len(b) - 2))
    return ((a.mean() - b.mean()) / pooled.where(pooled > 0)).dropna()


def _ranked_groups(corp: _Corpus, genre: str, model, k: int) -> tuple[list[dict], str | None]:
    """The feature groups that matter most for ``genre``, each with its most separating MIR descriptor."""
    from scorelens.features._groups import group_columns

    if corp.mir is None or k == 0:
        return [], None
    means = [c for c in corp.mir.columns if isinstance(c, str) and c.count("/") == 2 and c.endswith("/mean")]
    d = _cohen_d(corp.mir, genre, means)
    groups = group_columns(means, strict=False)
    ranking, source = [], None
    if corp.importance:
        # The model's own importance run if there is one, else the first in the workspace.
        prefix = "mir-" + model.key.replace(":", "_").replace("/", "_") + "-"   # as WorkspaceLayout names it
        name, summary = next(((n, s) for n, s in corp.importance if n.startswith(prefix)), corp.importance[0])
        rows = [r for r in summary.get("summary", []) if r.get("genre") == genre and r.get("score") is not None]
        rows.sort(key=lambda r: -r["score"])
        ranking = [(r["group"], float(r["score"])) for r in rows if r["group"] in groups][:k]
        source = f"permutation importance of the workspace ({name}): 1 - F1 with the group permuted / F1"
    if not ranking and len(d):
        by_group = {g: float(d.reindex(cols).abs().max()) for g, cols in groups.items()
                    if d.reindex(cols).notna().any()}
        ranking = sorted(by_group.items(), key=lambda kv: -kv[1])[:k]
        source = ("the corpus (no importance results for MIR features in the workspace): the largest |Cohen's d| "
                  "of a group's descriptors between the genre's cues and the others'")
    out = []
    for group, score in ranking:
        cols = [c for c in groups.get(group, []) if c in d.index]
        best = max(cols, key=lambda c: abs(d[c])) if cols else None
        out.append({"group": group, "score": round(score, 4), "descriptor": best,
                    "cohen_d": None if best is None else round(float(d[best]), 3)})
    return out, source


def _nearest(corp: _Corpus, model, query: np.ndarray, k: int) -> pd.DataFrame:
    X = corp.features.iloc[:, 2:].to_numpy(dtype=np.float64)
    Z = model.standardise(np.vstack([X, query[None, :]]))
    if Z is None:  # a model without its own scaler: the corpus' spread
        mean, sd = X.mean(axis=0), X.std(axis=0)
        Z = (np.vstack([X, query[None, :]]) - mean) / np.where(sd > 0, sd, 1.0)
    distance = np.sqrt(np.mean((Z[:-1] - Z[-1]) ** 2, axis=1))
    order = np.argsort(distance, kind="stable")[:k]
    out = corp.cues.iloc[order][["film_id", "title", "genres", "cue_id", "track", "start_s", "end_s", "clip"]].copy()
    out["distance"] = distance[order]
    return out.reset_index(drop=True)


# --------------------------------------------------------------------------- the whole profile

def profile(audio: str | os.PathLike | Sequence[str | os.PathLike], model, *,
            workspace: str | os.PathLike | None = None, manifest: str | os.PathLike | None = None,
            config: ProfileConfig | None = None, embeddings=None) -> MusicProfile:
    """What a trained genre model hears in pieces of music, against the study's corpus.

    Parameters
    ----------
    audio : path or sequence of path
        Audio files (any format the decoder reads).
    model : path or GenreModel
        A model artifact from ``scorelens train`` (format 2: it records its feature settings).
    workspace : path or Workspace, optional
        The study the model was trained in: its cues give the nearest cues and the genre
        distributions. Its features must be of the model's kind and settings.
    manifest : path, optional
        The corpus manifest (the films' genres and titles); default: the one the workspace
        holds or its run record names.
    config : ProfileConfig, optional
    embeddings : EmbeddingConfig, optional
        Where embedding weights are here (a VGGish model).

    Returns
    -------
    MusicProfile

    Raises
    ------
    ModelError
        A model whose features cannot be computed here, or a workspace whose features are of
        another kind or settings (one line).
    MediaError
        A file that cannot be decoded, or is shorter than one frame.
    FeatureError
        Audio with non-finite samples.
    WorkspaceError
        A workspace that does not exist or does not say the films' genres.

    Examples
    --------
    >>> p = scorelens.profile(["cue.wav"], "work/results/models/mir-network_attention.pt",
    ...                       workspace="work")                                    # doctest: +SKIP
    >>> p.pieces[0].prediction.probabilities, p.pieces[0].neighbours.head(3)        # doctest: +SKIP
    """
    from scorelens.config import MIRConfig
    from scorelens.features._mir import MIRKind
    from scorelens.mil._artifact import GenreModel, load_artifact, rebuild_kind
    from scorelens.workspace import Workspace

    config = config or ProfileConfig()
    paths = [Path(audio)] if isinstance(audio, (str, os.PathLike)) else [Path(a) for a in audio]
    if not paths:
        raise ParameterError("no audio files to profile")
    model = model if isinstance(model, GenreModel) else load_artifact(model)
    kind, feature_config = model.feature_pipeline(embeddings=embeddings)
    corp = _open_corpus(workspace, model, manifest) if workspace is not None else None
    notes = list(corp.notes) if corp is not None else ["no workspace given: no nearest cues and no genre "
                                                       "distributions"]
    if feature_config.audio == "film":
        notes.append("the model was trained on the films' mixed audio (dialogue and effects included); a piece "
                     "on its own sounds cleaner than that")
    # The descriptors are MIR's: the model's own frames for a MIR model, else MIR as the corpus computed it.
    if kind.name == "mir":
        mir_kind = None
    elif corp is not None and corp.mir_record is not None:
        mir_kind, _ = rebuild_kind(corp.mir_record, where=str(workspace), subject="the workspace holds",
                                   owner="the workspace's")
    else:
        mir_kind = MIRKind(MIRConfig())
    column_positions = model.column_order(kind.column_names())
    pieces, group_source = [], None
    for path in paths:
        grid, duration = _frames(kind, feature_config, path)
        X, spans = _instances(grid.values, grid.times, model.level, config.segment_s)
        prediction = model.predict_bag(X, feature_names=kind.column_names())
        leading = max(prediction.probabilities, key=prediction.probabilities.get)
        if mir_kind is None:
            mir_means = pd.Series(grid.values.mean(axis=0), index=grid.names)
        else:
            mir_grid, _ = _frames(mir_kind, feature_config, path)
            mir_means = pd.Series(mir_grid.values.mean(axis=0), index=mir_grid.names)
        piece = PieceProfile(path, float(duration), spans, prediction, leading)
        if corp is not None:
            piece.neighbours = _nearest(corp, model, grid.values.mean(axis=0)[column_positions].astype(np.float64),
                                        config.neighbours)
            piece.groups, source = _ranked_groups(corp, leading, model, config.top_groups)
            group_source = group_source or source
        pieces.append((piece, mir_means))
    reasons = {c: "main descriptor" for c in config.descriptors}
    for piece, _ in pieces:
        for g in piece.groups:
            if g["descriptor"] and g["descriptor"] not in reasons:
                reasons[g["descriptor"]] = f"{g['group']}: among the groups that matter most for {piece.leading_genre}"
    result = MusicProfile(model, [p for p, _ in pieces], config,
                          instance="1-s frame" if model.level == "frame" else f"{config.segment_s:g}-s segment",
                          workspace=None if workspace is None else Path(
                              workspace.root if isinstance(workspace, Workspace) else workspace),
                          corpus=None if corp is None or corp.mir is None else corp.mir,
                          descriptor_reasons=reasons, group_source=group_source, notes=notes)
    for piece, means in pieces:
        for column in reasons:
            if column in means.index:
                piece.descriptors[column] = float(means[column])
                piece.percentiles[column] = _percentiles(piece.descriptors[column], result.genre_values(column))
    missing = [c for c in reasons if all(c not in p.descriptors for p in result.pieces)]
    if missing:
        notes.append(f"not MIR descriptors of this scorelens, left out: {', '.join(missing)}")
        for c in missing:
            reasons.pop(c)
    return result
