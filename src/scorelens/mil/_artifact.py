"""A trained genre model in one file, and what ``scorelens predict`` needs from it.

The artifact holds the fitted estimator (its scaler inside), the feature specification
(kind, level, column names in order), the taxonomy, the training prior, the settings
and the scorelens version. Loading checks the format first and the features second:
an artifact refuses features that lack any of its columns, naming them.

A model also remembers how its features were computed (format 2): the feature table's
record (:func:`scorelens.features._pipeline.kind_record`: the kind's name and version, its
settings, such as a MIR texture window or the digest of the VGGish weights, and the
pipeline's :class:`~scorelens.config.FeatureConfig`). :meth:`GenreModel.feature_pipeline`
rebuilds exactly that kind here, or says in one line what is missing (weights, another
kind version, other weights), so that ``predict`` and ``profile`` never describe new music
with settings the model was not trained on: the column names alone would still match.

Artifacts of format 1 (before the record) still load, with a :class:`LegacyArtifactWarning`:
they score features computed by the caller (:func:`predict_film` on a table), but
:meth:`GenreModel.feature_pipeline` refuses them, since nothing says which settings their
features had; retrain them with ``scorelens train``.

File format: a ``torch.save`` archive of a dict ``{"format", "version", "header",
"payload"}``, read with ``weights_only=True``. The header is plain data, checked before
anything else; the payload is the pickled estimator as a byte tensor, unpickled only
once the header is accepted. Unpickling runs code: load only artifacts you trust.
"""

from __future__ import annotations

import io
import json
import os
import pickle
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from scorelens._version import __version__
from scorelens.exceptions import ModelError, ParameterError
from scorelens.mil._validation import check_bags

if TYPE_CHECKING:  # annotations only: pandas is imported where tables are read
    import pandas as pd

    from scorelens.config import EmbeddingConfig, FeatureConfig
    from scorelens.features._base import FeatureKind

__all__ = ["GenreModel", "BagPrediction", "save_artifact", "load_artifact", "predict_film", "read_feature_record",
           "rebuild_kind", "LegacyArtifactWarning", "ARTIFACT_FORMAT", "ARTIFACT_VERSION"]

ARTIFACT_FORMAT = "scorelens-genre-model"
#: 2: the header holds the feature record (``features``). Format 1 is still read (see the module docstring).
ARTIFACT_VERSION = 2
_READABLE_VERSIONS = (1, 2)

#: The keys of a feature table's record that say how its values were computed (not which films it holds).
_RECORD_KEYS = ("kind", "version", "settings", "sample_rate", "native_frame_rate_hz", "grid_rate_hz", "pipeline")

#: Kinds whose recorded settings are not all options of the kind: only these are passed when the kind is
#: rebuilt; the rest (a weights file's name and digest, a frame rate) follow from the options and the files
#: found here, and are compared after the kind is built. A kind not listed gets every recorded setting.
_OPTIONS_IN_SETTINGS = {"vggish": ("final_relu", "postprocess"), "musicnn": ("model", "tags")}
_WEIGHTS_HINT = {"vggish": "point embeddings.vggish_dir (or SCORELENS_VGGISH_DIR) at the weights the model was "
                           "trained with",
                 "musicnn": "install the musicnn wheel the model was trained with"}


class LegacyArtifactWarning(UserWarning):
    """A model artifact of format 1: usable on features computed by the caller, not by ``predict``."""


@dataclass
class BagPrediction:
    """A model's answer for one film.

    Attributes
    ----------
    probabilities : dict of str to float
        Probability of each genre, in taxonomy order.
    predicted : list of str
        Genres at or above the model's threshold (its own decision for Simple MI / IMV).
    instance_weights : np.ndarray [shape=(n_instances, n_genres)] or None
        How much each instance (cue) weighed in each genre's prediction: attention weights
        for networks, the share of votes for IMV, uniform for Simple MI; None for
        baselines and for a film without cues.
    from_prior : bool
        True when the film had no cues and the answer is the training prior.
    """

    probabilities: dict
    predicted: list
    instance_weights: np.ndarray | None = None
    from_prior: bool = False

    def top_instances(self, genre: str, k: int = 3) -> list[tuple[int, float]]:
        """The ``k`` instances that weighed most in ``genre``'s prediction, as ``(index, weight)``.

        Parameters
        ----------
        genre : str
            One of the model's genres.
        k : int
            How many instances.

        Returns
        -------
        list of (int, float)
            Instance index and weight, heaviest first; empty when the model gives no
            instance weights (a film without cues, a model without weights).

        Raises
        ------
        ParameterError
            ``genre`` is not in the model's taxonomy.
        """
        if self.instance_weights is None:
            return []
        names = list(self.probabilities)
        if genre not in names:
            raise ParameterError(f"genre {genre!r} is not in the model's taxonomy ({', '.join(names)})")
        w = self.instance_weights[:, names.index(genre)]
        order = np.argsort(-w, kind="stable")[:k]
        return [(int(i), float(w[i])) for i in order]


@dataclass
class GenreModel:
    """A fitted estimator with everything needed to use it on new films.

    Attributes
    ----------
    estimator : fitted bag classifier
    key : str
        Model key (:mod:`scorelens.mil._models`).
    taxonomy : tuple of str
    feature_names : list of str
        Columns the estimator was trained on, in order.
    kind : str
        Feature kind (``vggish``, ``mir`` …).
    level : {"cue", "frame"}
    prior : np.ndarray [shape=(n_genres,)]
        Share of training films with each genre; the answer for a film without cues.
    settings : dict
        The resolved training settings.
    trained_on : list of str
        Film ids of the training corpus.
    scorelens_version : str
    features : dict or None
        How the training features were computed (:func:`read_feature_record`): ``kind,
        version, settings, sample_rate, native_frame_rate_hz, grid_rate_hz, pipeline``; None
        for features without a scorelens record (a foreign Parquet file, a format-1 artifact).
    path : Path or None
        The file the model was loaded from (names it in messages); not stored.
    """

    estimator: object
    key: str
    taxonomy: tuple
    feature_names: list
    kind: str
    level: str
    prior: np.ndarray
    settings: dict = field(default_factory=dict)
    trained_on: list = field(default_factory=list)
    scorelens_version: str = __version__
    features: dict | None = None
    path: Path | None = field(default=None, compare=False, repr=False)
    # Kinds rebuilt by feature_pipeline, by EmbeddingConfig: a checked VGGish is loaded once.
    _pipelines: dict = field(default_factory=dict, init=False, compare=False, repr=False)

    def header(self) -> dict:
        """What the artifact stores beside the estimator (everything but the fitted weights).

        Returns
        -------
        dict
            ``key, taxonomy, feature_names, kind, level, prior, settings, trained_on,
            scorelens_version, features``, JSON-compatible.
        """
        return {"key": self.key, "taxonomy": list(self.taxonomy), "feature_names": list(self.feature_names),
                "kind": self.kind, "level": self.level, "prior": [float(p) for p in self.prior],
                "settings": self.settings, "trained_on": list(self.trained_on),
                "scorelens_version": self.scorelens_version,
                "features": None if self.features is None else _plain(self.features)}

    def feature_pipeline(self, *, embeddings: EmbeddingConfig | None = None) -> tuple[FeatureKind, FeatureConfig]:
        """The feature kind and pipeline settings the model was trained with, rebuilt here.

        The kind is built from the recorded settings (and, for the embeddings, the weights
        found with ``embeddings``), then its record is compared with the model's: same kind
        version, same settings (weights digests included), same pipeline settings.

        Parameters
        ----------
        embeddings : EmbeddingConfig, optional
            Where the embedding weights are here (``vggish_dir``); the defaults if not given.
            Settings that change the values (``musicnn_model``, ``vggish_postprocess`` …)
            come from the model, not from here.

        Returns
        -------
        kind : FeatureKind
        config : FeatureConfig
            Ready for :func:`scorelens.features._pipeline.compute_film`.

        Raises
        ------
        ModelError
            One line naming what is missing: no record (format 1, foreign features), a kind
            not registered here, weights that cannot be found, another kind version, or
            settings that come out different here (other weights).
        """
        from scorelens.config import EmbeddingConfig

        embeddings = embeddings or EmbeddingConfig()
        if embeddings not in self._pipelines:
            self._pipelines[embeddings] = self._rebuild(embeddings)
        return self._pipelines[embeddings]

    def _rebuild(self, embeddings: EmbeddingConfig) -> tuple[FeatureKind, FeatureConfig]:
        where = str(self.path) if self.path is not None else f"the {self.kind} model"
        if self.features is None:
            raise ModelError(f"{where}: the model does not record how its {self.kind} features were computed (format "
                             "1, or features from a Parquet file without a scorelens record), so they cannot be "
                             "computed again exactly; retrain it with `scorelens train` on workspace features")
        kind, config = rebuild_kind(self.features, embeddings=embeddings, where=where)
        missing = [c for c in self.feature_names if c not in set(kind.column_names())]
        if missing:
            raise ModelError(f"{where}: the {kind.name} kind rebuilt here lacks {len(missing)} of the model's columns "
                             f"(e.g. {', '.join(missing[:3])})")
        return kind, config

    def feature_differences(self, record: dict | None) -> list[str]:
        """How features computed as ``record`` says differ from the model's (empty: the same features).

        Parameters
        ----------
        record : dict or None
            A feature table's record (:func:`read_feature_record`).

        Returns
        -------
        list of str
            ``"<key> <model's value> in the model, <value> here"`` per setting that differs;
            one entry when either record is missing.
        """
        if self.features is None or record is None:
            return ["no record of the feature settings" + (" in the model" if self.features is None else " here")]
        return _differences(_plain({k: self.features.get(k) for k in _RECORD_KEYS}),
                            _plain({k: record.get(k) for k in _RECORD_KEYS}))

    def standardise(self, X) -> np.ndarray | None:
        """Instances in the model's input space: standardised with the model's own training statistics.

        Parameters
        ----------
        X : np.ndarray [shape=(n, n_features)]
            Instances in the model's column order.

        Returns
        -------
        np.ndarray [shape=(n, n_features), dtype=float64] or None
            ``(X - mean) / scale`` with the scaler the estimator fitted (Simple MI, IMV,
            networks); None for an estimator without one (the baselines).
        """
        X = np.asarray(X, dtype=np.float64)
        est = self.estimator
        scaler = getattr(est, "scaler_", None)
        if scaler is not None:
            return scaler.transform(X)
        if getattr(est, "mean_", None) is not None and getattr(est, "scale_", None) is not None:
            scale = np.asarray(est.scale_, dtype=np.float64)
            return (X - np.asarray(est.mean_, dtype=np.float64)) / np.where(scale > 0, scale, 1.0)
        return None

    def column_order(self, names) -> np.ndarray:
        """Positions in ``names`` of this model's features, in training order.

        Parameters
        ----------
        names : sequence of str
            Column names of the features given.

        Returns
        -------
        np.ndarray [shape=(n_model_features,), dtype=int64]
            Position in ``names`` of each of the model's features.

        Raises
        ------
        ModelError
            When ``names`` lacks any of the model's features (extra columns are ignored).
        """
        names = list(names)
        where = {n: i for i, n in enumerate(names)}
        missing = [n for n in self.feature_names if n not in where]
        if missing:
            extra = [n for n in names if n not in set(self.feature_names)]
            raise ModelError(
                f"the model ({self.kind}, {self.level}-level, {len(self.feature_names)} features) does not match "
                f"the features given: {len(missing)} missing (e.g. {', '.join(missing[:3])})"
                + (f", {len(extra)} unexpected (e.g. {', '.join(extra[:3])})" if extra else "")
                + "; compute the features with the kind and settings the model was trained on")
        return np.array([where[n] for n in self.feature_names], dtype=np.int64)

    def predict_bag(self, bag, feature_names=None) -> BagPrediction:
        """Genre probabilities and per-instance weights for one film.

        Parameters
        ----------
        bag : np.ndarray [shape=(n_instances, n_features)] or None
            The film's instances (cues); None or 0 rows for a film without cues, which
            gets the training prior.
        feature_names : list of str, optional
            Column names of ``bag``; when given, columns are checked and reordered to
            the model's.

        Returns
        -------
        BagPrediction

        Raises
        ------
        ParameterError
            ``bag`` is not 2-D, or ``feature_names`` does not name its columns one for one.
        ModelError
            ``feature_names`` lacks some of the model's features, or ``bag`` has another
            number of columns than the model's features.
        """
        genres = list(self.taxonomy)
        if bag is None or np.asarray(bag).shape[0] == 0:
            return BagPrediction(dict(zip(genres, map(float, self.prior))), [], None, from_prior=True)
        bag = np.asarray(bag, dtype=np.float32)
        if bag.ndim != 2:
            raise ParameterError(f"bag must be 2-D (n_instances, n_features), got shape {bag.shape}")
        if feature_names is not None:
            if len(feature_names) != bag.shape[1]:
                raise ParameterError(f"{len(feature_names)} feature names for {bag.shape[1]} columns")
            bag = bag[:, self.column_order(feature_names)]
        elif bag.shape[1] != len(self.feature_names):
            raise ModelError(f"bag has {bag.shape[1]} features but the model was trained on "
                             f"{len(self.feature_names)} ({self.kind}, {self.level}-level)")
        (bag,) = check_bags([bag], n_features=len(self.feature_names))
        est = self.estimator
        proba = np.atleast_2d(est.predict_proba([bag]))[0]
        pred = np.atleast_2d(est.predict([bag]))[0]
        weights = self._weights(bag)
        return BagPrediction(dict(zip(genres, map(float, proba))), [g for g, p in zip(genres, pred) if p], weights)

    def predict_table(self, table) -> tuple[BagPrediction, "pd.DataFrame"]:
        """Predict one film from its feature table (the pieces ``scorelens predict`` chains).

        Parameters
        ----------
        table : pd.DataFrame
            The film's rows of a cue-level (``cue_id``, features) or frame-level
            (``cue_id, time_s``, features) table; frames are averaged per cue for a
            cue-level model. Other columns (``film_id``, ``start_s`` …) are kept as keys.

        Returns
        -------
        prediction : BagPrediction
        instances : pd.DataFrame
            One row per instance, in ``prediction.instance_weights`` order: the table's
            non-feature columns (``cue_id``, and ``time_s`` at frame level).

        Raises
        ------
        ModelError
            The table lacks some of the model's features, or a frame-level table has no
            ``cue_id`` column for a cue-level model.
        """
        import pandas as pd

        features = [c for c in table.columns if isinstance(c, str) and c.count("/") == 2]
        keys = [c for c in table.columns if c not in features]
        if self.level == "cue" and "time_s" in table.columns:
            if "cue_id" not in table.columns:
                raise ModelError("a frame-level table needs a 'cue_id' column to build cue-level instances")
            first = [c for c in keys if c not in ("time_s", "cue_id")]
            table = table.groupby("cue_id", sort=True).agg({**{c: "first" for c in first},
                                                            **{c: "mean" for c in features}}).reset_index()
            keys = [c for c in table.columns if c not in features]
        order = ["cue_id", "time_s"] if "time_s" in table.columns else ["cue_id"]
        if all(c in table.columns for c in order):
            table = table.sort_values(order, kind="stable")
        instances = table[keys].reset_index(drop=True) if keys else pd.DataFrame(index=range(len(table)))
        prediction = self.predict_bag(table[features].to_numpy(dtype=np.float32), feature_names=features)
        return prediction, instances

    def _weights(self, bag: np.ndarray) -> np.ndarray | None:
        est = self.estimator
        n, c = bag.shape[0], len(self.taxonomy)
        if hasattr(est, "instance_weights"):
            w = np.asarray(est.instance_weights([bag])[0], dtype=float)
            return w.reshape(n, c)
        if hasattr(est, "instance_votes"):
            votes = np.asarray(est.instance_votes([bag])[0], dtype=float).reshape(n, c)
            total = votes.sum(axis=0, keepdims=True)
            # A genre nobody voted for: every cue counts the same (nothing singled out).
            return np.divide(votes, total, out=np.full_like(votes, 1.0 / n), where=total > 0)
        if self.key.startswith("simple_mi"):
            return np.full((n, c), 1.0 / n)
        return None


def save_artifact(model: GenreModel, path: str | os.PathLike) -> Path:
    """Write ``model`` to ``path`` atomically (see the module docstring for the format).

    Parameters
    ----------
    model : GenreModel
    path : str or path-like
        Target file (``.pt`` by convention); replaced atomically.

    Returns
    -------
    Path
        ``path``.
    """
    from scorelens.io._atomic import atomic_path

    path = Path(path)
    payload = torch.frombuffer(bytearray(pickle.dumps(model.estimator, protocol=pickle.HIGHEST_PROTOCOL)),
                               dtype=torch.uint8)
    with atomic_path(path) as tmp:
        torch.save({"format": ARTIFACT_FORMAT, "version": ARTIFACT_VERSION, "header": model.header(),
                    "payload": payload}, tmp)
    return path


def load_artifact(path: str | os.PathLike, *, feature_names=None, kind: str | None = None,
                  level: str | None = None) -> GenreModel:
    """Read a model artifact, checking it against the features it will be given.

    Parameters
    ----------
    path : path
    feature_names : list of str, optional
        Columns of the features at hand; every model feature must be among them.
    kind, level : str, optional
        Feature kind and level at hand; must equal the model's.

    Returns
    -------
    GenreModel

    Raises
    ------
    ModelError
        Not a scorelens model, another format version, unreadable, or features that do
        not match.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"{path}: no such model file")
    try:
        data = torch.load(io.BytesIO(path.read_bytes()), weights_only=True)
    except Exception as exc:  # torch raises several types for foreign or corrupt files
        # torch.load's own messages run to several paragraphs; the first line says what failed.
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise ModelError(f"{path}: not a scorelens model artifact ({type(exc).__name__}: {reason})") from exc
    if not isinstance(data, dict) or data.get("format") != ARTIFACT_FORMAT:
        found = data.get("format") if isinstance(data, dict) else None
        raise ModelError(f"{path}: not a scorelens model artifact (format {found!r})")
    version = data.get("version")
    if version not in _READABLE_VERSIONS:
        raise ModelError(f"{path}: model format version {version!r}, this scorelens reads versions "
                         f"{', '.join(map(str, _READABLE_VERSIONS))}; retrain with `scorelens train`")
    h = data["header"]
    if version == 1:
        warnings.warn(f"{path}: a model of format 1, which does not record its feature settings: it scores "
                      "features you compute, but `scorelens predict` and `profile` refuse it; retrain with "
                      "`scorelens train`", LegacyArtifactWarning, stacklevel=2)
    if kind is not None and kind != h["kind"]:
        raise ModelError(f"{path}: the model was trained on {h['kind']!r} features, not {kind!r}")
    if level is not None and level != h["level"]:
        raise ModelError(f"{path}: the model was trained on {h['level']}-level instances, not {level}-level")
    if h["scorelens_version"] != __version__:
        warnings.warn(f"{path}: model saved by scorelens {h['scorelens_version']}, running {__version__}",
                      stacklevel=2)
    model = GenreModel(estimator=None, key=h["key"], taxonomy=tuple(h["taxonomy"]),
                       feature_names=list(h["feature_names"]), kind=h["kind"], level=h["level"],
                       prior=np.asarray(h["prior"], dtype=float), settings=h["settings"],
                       trained_on=list(h["trained_on"]), scorelens_version=h["scorelens_version"],
                       features=h.get("features"), path=path)
    if feature_names is not None:
        try:
            model.column_order(feature_names)
        except ModelError as exc:
            raise ModelError(f"{path}: {exc}") from None
    try:
        model.estimator = pickle.loads(data["payload"].numpy().tobytes())
    except Exception as exc:
        raise ModelError(f"{path}: the model's estimator cannot be restored ({type(exc).__name__}: {exc})") from exc
    return model


def predict_film(model: GenreModel | str | os.PathLike, table) -> tuple[BagPrediction, "pd.DataFrame"]:
    """Genre probabilities and per-cue weights for one new film: what ``scorelens predict`` prints.

    Parameters
    ----------
    model : GenreModel or path
        A loaded model, or an artifact to load (checked against the table's columns).
    table : pd.DataFrame
        The film's feature rows, cue-level or frame-level (see :meth:`GenreModel.predict_table`);
        no rows for a film without cues (the answer is then the training prior).

    Returns
    -------
    prediction : BagPrediction
    instances : pd.DataFrame
        The instances' keys (``cue_id``, and times when the table has them), in the
        order of ``prediction.instance_weights``.

    Examples
    --------
    >>> pred, cues = predict_film("model.pt", features_of_new_film)          # doctest: +SKIP
    >>> pred.probabilities["Horror"], cues.iloc[[i for i, _ in pred.top_instances("Horror")]]   # doctest: +SKIP
    """
    if not isinstance(model, GenreModel):
        names = [c for c in table.columns if isinstance(c, str) and c.count("/") == 2]
        model = load_artifact(model, feature_names=names)
    return model.predict_table(table)


def read_feature_record(path: str | os.PathLike) -> dict | None:
    """How a feature table's values were computed, as a model artifact records it.

    Parameters
    ----------
    path : str or path-like
        A feature table (Parquet) written by the feature stage.

    Returns
    -------
    dict or None
        ``kind, version, settings, sample_rate, native_frame_rate_hz, grid_rate_hz, pipeline``
        from the table's metadata (:func:`scorelens.features._pipeline.read_feature_metadata`);
        None for a table without a scorelens record (a Parquet file made elsewhere).
    """
    from scorelens.exceptions import FeatureError
    from scorelens.features._pipeline import read_feature_metadata

    try:
        meta = read_feature_metadata(path)
    except FeatureError:
        return None
    if any(k not in meta for k in _RECORD_KEYS):
        return None
    return _plain({k: meta[k] for k in _RECORD_KEYS})


def rebuild_kind(record: dict, *, embeddings: EmbeddingConfig | None = None, where: str = "features",
                 subject: str = "the model was trained on", owner: str = "the model's"
                 ) -> tuple[FeatureKind, FeatureConfig]:
    """The feature kind and pipeline settings a feature record describes, built here and checked.

    Parameters
    ----------
    record : dict
        A feature record (:func:`read_feature_record`, :attr:`GenreModel.features`).
    embeddings : EmbeddingConfig, optional
        Where the embedding weights are here; the values' settings come from ``record``.
    where, subject, owner : str
        Words of the messages: what the record belongs to (a file), ``subject`` before the
        kind's name, ``owner`` before "features".

    Returns
    -------
    kind : FeatureKind
    config : FeatureConfig

    Raises
    ------
    ModelError
        One line: a kind not registered here, pipeline settings not understood, a kind that
        cannot be built (weights not found), another kind version, or a record that comes
        out different here (other weights).
    """
    from scorelens.config import EmbeddingConfig, FeatureConfig
    from scorelens.exceptions import ScorelensError
    from scorelens.features._base import available_kinds, get_kind
    from scorelens.features._pipeline import kind_record

    embeddings = embeddings or EmbeddingConfig()
    name = record["kind"]
    if name not in available_kinds():
        raise ModelError(f"{where}: {subject} {name!r} features, a kind this scorelens does not have "
                         f"(known: {', '.join(available_kinds())}); register it first")
    try:
        config = FeatureConfig(**record["pipeline"])
    except (TypeError, ScorelensError) as exc:
        raise ModelError(f"{where}: {owner} feature pipeline settings {record['pipeline']} are not understood here "
                         f"({exc})") from None
    wanted = _OPTIONS_IN_SETTINGS.get(name)
    options = {**embeddings.kind_options(name),
               **{k: v for k, v in record["settings"].items() if wanted is None or k in wanted}}
    try:
        kind = get_kind(name, **options)
    except ScorelensError as exc:
        reason = str(exc).strip().splitlines()[0]
        raise ModelError(f"{where}: {owner} {name} features cannot be computed here: {reason}") from None
    if str(kind.version) != str(record["version"]):
        raise ModelError(f"{where}: {subject} {name} features version {record['version']}; this scorelens computes "
                         f"version {kind.version}, whose values differ: recompute them and retrain")
    here = _plain({k: v for k, v in kind_record(kind, config).items() if k in _RECORD_KEYS})
    diffs = _differences(_plain({k: record.get(k) for k in _RECORD_KEYS}), here)
    if diffs:
        hint = _WEIGHTS_HINT.get(name, "compute the features with the recorded settings")
        raise ModelError(f"{where}: the {name} features computed here would differ from {owner}: "
                         f"{'; '.join(diffs[:4])}{' …' if len(diffs) > 4 else ''}; {hint}")
    return kind, config


def _plain(obj):
    """``obj`` as JSON data (tuples as lists, paths as text): what the artifact's header holds."""
    return json.loads(json.dumps(obj, sort_keys=True, default=str))


def _differences(model: dict, here: dict, prefix: str = "") -> list[str]:
    """``key: model value, here value`` for each leaf where two records differ."""
    out = []
    for key in sorted(set(model) | set(here)):
        a, b = model.get(key), here.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            out += _differences(a, b, f"{prefix}{key}.")
        elif a != b:
            out.append(f"{prefix}{key} {_short(a)} in the model, {_short(b)} here")
    return out


def _short(value) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= 48 else text[:45] + "…"
