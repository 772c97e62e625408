"""The predict stage: a trained model's genres for a new film, from its film file and soundtrack.

The film's cues are described with exactly the features the model was trained on: the kind,
its settings and the pipeline settings recorded in the model
(:meth:`~scorelens.mil._artifact.GenreModel.feature_pipeline`), never the defaults.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from scorelens.config import EmbeddingConfig, StamperConfig
from scorelens.stages._stamp import stamp_single_film
from scorelens.workspace import Workspace

__all__ = ["PredictReport", "run_predict"]


@dataclass
class PredictReport:
    """A film's predicted genres, and the cues that weighed most for each."""

    film: Path
    model_path: Path
    artifact: object
    prediction: object
    cues: pd.DataFrame
    drivers: dict[str, list[dict]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        """The report as a JSON-ready dict: film, model, the feature settings used, probabilities per genre,
        predicted genres, drivers."""
        p = self.prediction
        return {"film": str(self.film), "model": str(self.model_path), "model_key": self.artifact.key,
                "features": self.artifact.kind, "level": self.artifact.level,
                "feature_settings": self.artifact.features, "cues": len(self.cues), "from_prior": p.from_prior,
                "probabilities": {g: round(float(v), 4) for g, v in p.probabilities.items()},
                "predicted": list(p.predicted), "cues_that_weighed_most": self.drivers}


def run_predict(workspace: Workspace, config: StamperConfig, film: str | os.PathLike, *,
                soundtrack: Sequence[str | os.PathLike], model,
                embeddings: EmbeddingConfig | None = None, db: str | None = None, top: int = 3,
                on_progress=None) -> PredictReport:
    """Stamp a new film, describe its cues with the model's recorded features and apply the model.

    Parameters
    ----------
    workspace : Workspace
        Where the film's cue table lands (``cues/<film>.parquet``).
    config : StamperConfig
    film : path
    soundtrack : sequence of path
        The film's track files.
    model : path or GenreModel
        A model artifact from ``train`` (or one already loaded).
    embeddings : EmbeddingConfig, optional
        Where the embedding weights are on this machine (``vggish_dir``); the feature settings
        themselves come from the model.
    db : str, optional
        Fingerprint database (default: the workspace's).
    top : int
        Cues listed per predicted genre.
    on_progress : callable, optional
        Seconds of film audio decoded.

    Returns
    -------
    PredictReport

    Raises
    ------
    ModelError
        Before any stamping: an unreadable artifact, or one whose features cannot be computed
        here exactly as it was trained (no record, missing weights, another kind version).
    """
    from scorelens.features._pipeline import SHARD_EXTRA_COLUMNS, compute_film, cue_level
    from scorelens.mil._artifact import load_artifact, predict_film
    from scorelens.stamp._cuetable import read_cue_table

    # A bad artifact, or one whose features cannot be rebuilt here, fails before any stamping.
    artifact = load_artifact(model) if isinstance(model, (str, os.PathLike)) else model
    model_path = Path(model) if isinstance(model, (str, os.PathLike)) else (artifact.path or Path("(in memory)"))
    kind, feature_config = artifact.feature_pipeline(embeddings=embeddings)
    film = Path(film)
    _, cue_path, warnings_ = stamp_single_film(workspace, config, film, soundtrack=soundtrack, db=db,
                                               on_progress=on_progress)
    cues = read_cue_table(cue_path, film_id=film.stem)
    frames = compute_film(kind, cues, config=feature_config, film_path=film)
    frames = frames.drop(columns=[c for c in SHARD_EXTRA_COLUMNS if c in frames.columns])
    table = cue_level(frames) if artifact.level == "cue" else frames
    prediction, instances = predict_film(artifact, table)
    by_cue = cues.set_index("cue_id")
    drivers = {}
    for genre in prediction.predicted:
        rows = []
        for position, weight in prediction.top_instances(genre, top):
            cue_id = int(instances.iloc[position]["cue_id"])
            cue = by_cue.loc[cue_id]
            rows.append({"cue_id": cue_id, "track": cue["track"], "start_s": float(cue["start_s"]),
                         "end_s": float(cue["end_s"]), "weight": weight})
        drivers[genre] = rows
    return PredictReport(film, model_path, artifact, prediction, cues, drivers, warnings_)
