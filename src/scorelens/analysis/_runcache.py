"""An evaluation's persistence: each finished model run saved and found again by the digest of its inputs."""

from __future__ import annotations

import hashlib
import json
import logging
import zipfile
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

import numpy as np

from scorelens._version import __version__
from scorelens.analysis._data import CorpusBags
from scorelens.analysis._results import ModelRun
from scorelens.config import ModelConfig
from scorelens.mil._crossval import FoldMap, cross_val_estimator, cross_validate, fit_and_predict, make_folds  # noqa: F401

log = logging.getLogger(__name__)


class RunCache:
    """Finished model runs of an evaluation, kept on disk so that an interrupted sweep resumes.

    Each run (feature kind x model) is saved as soon as it finishes, under a digest of
    everything its numbers depend on: the films, their bags and labels, the folds, the
    settings and the model key. A re-run with the same digest loads the run instead of
    computing it; anything changed computes it anew. Files are written atomically with a
    record (:meth:`scorelens.workspace.Workspace.commit`), so a crash mid-write leaves no
    run that looks finished.

    Parameters
    ----------
    workspace : Workspace
    folder : path
        Inside the workspace (``results/evaluation/<level>/runs`` from the CLI).
    """

    def __init__(self, workspace, folder: str | Path):
        self.workspace, self.folder = workspace, Path(folder)

    def _path(self, features: str, key: str, hidden: int | None = None) -> Path:
        size = "" if hidden is None else f"-h{hidden}"
        return self.folder / f"{features}-{key.replace(':', '_')}{size}.npz"

    def load(self, features: str, key: str, digest: str, hidden: int | None = None) -> ModelRun | None:
        """The saved run, or None when absent, unfinished or computed from other inputs.

        Parameters
        ----------
        features, key : str
            Feature kind and model key.
        digest : str
            Digest of the run's inputs and settings.
        hidden : int, optional
            Networks: the hidden size (each size is saved on its own).

        Returns
        -------
        ModelRun or None
        """
        path = self._path(features, key, hidden)
        if not self.workspace.is_done(path, digest):
            return None
        try:
            with np.load(path, allow_pickle=False) as z:
                weights = None
                if "weight_sizes" in z:
                    weights = np.split(z["weights"], np.cumsum(z["weight_sizes"])[:-1])
                return ModelRun(features, key, z["proba"], z["pred"], seconds=float(z["seconds"]), weights=weights,
                                hidden=hidden)
        # A truncated or corrupt archive raises zipfile.BadZipFile (not an OSError).
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
            log.warning("%s: unreadable saved run (%s); computing it again", path, exc)
            return None

    def save(self, run: ModelRun, digest: str) -> None:
        """Save a finished run under ``digest``.

        Parameters
        ----------
        run : ModelRun
        digest : str
            Digest of the run's inputs and settings (:meth:`load` finds it by this).
        """
        arrays = {"proba": run.proba, "pred": run.pred, "seconds": np.float64(run.seconds)}
        if run.weights is not None:
            arrays["weights"] = np.concatenate(run.weights)
            arrays["weight_sizes"] = np.array([len(w) for w in run.weights], dtype=np.int64)

        def write(tmp: Path) -> None:
            with open(tmp, "wb") as fh:
                np.savez(fh, **arrays)

        self.workspace.commit(self._path(run.features, run.key, run.hidden), digest, write,
                              meta={"model": run.key, "hidden": run.hidden})


def _run_digest(config: ModelConfig, key: str, film_ids, Y: np.ndarray, bags, folds,
                hidden: int | None = None) -> str:
    """Digest of everything a run's numbers depend on."""
    h = hashlib.blake2b(digest_size=12)
    settings = asdict(config)
    # A network depends on its own hidden size only (adding a size to the sweep keeps the
    # saved runs of the others); the other models on neither.
    settings.pop("hidden_sizes")
    settings["hidden"] = hidden
    # The scorelens version too: a release that changes a model must not load older runs.
    h.update(json.dumps({"config": settings, "key": key, "films": list(film_ids), "version": 1,
                         "scorelens": __version__},
                        sort_keys=True, default=str).encode())
    for test in folds:
        h.update(np.asarray(test, dtype=np.int64).tobytes() + b"|")
    hash_bags(h, film_ids, bags, Y)
    return h.hexdigest()


def hash_bags(h, film_ids: Sequence[str], bags: Sequence[np.ndarray], Y: np.ndarray) -> None:
    """Feed the films, their bags (values and shapes) and labels to the hash ``h``.

    The one digest of a corpus' bags, behind both a saved model run's key and the key of
    an evaluation's or an importance run's outputs.
    """
    h.update(np.ascontiguousarray(Y, dtype=np.int64).tobytes())
    for film, bag in zip(film_ids, bags):
        h.update(str(film).encode() + b"|")
        h.update(str(bag.shape).encode())
        h.update(np.ascontiguousarray(bag).tobytes())




def inputs_digest(evaluation_inputs: Sequence[CorpusBags], config: ModelConfig, keys: Sequence[str]) -> str:
    """Digest of the inputs and settings of a set of results (the key of their records).

    Covers what the numbers depend on besides the settings: the films' bags (values and
    shapes), their labels and taxonomy, and the feature names (permutation importance
    groups the columns by name), so that relabelled films or renamed columns with the
    same values are not taken for the same inputs.

    Parameters
    ----------
    evaluation_inputs : sequence of CorpusBags
    config : ModelConfig
    keys : sequence of str
        Model keys of the results.

    Returns
    -------
    str
        16 hexadecimal digits (BLAKE2b).
    """
    h = hashlib.blake2b(digest_size=8)
    h.update(json.dumps({"config": asdict(config), "keys": list(keys)}, sort_keys=True, default=str).encode())
    for fs in evaluation_inputs:
        h.update(json.dumps({"kind": fs.kind, "taxonomy": list(fs.taxonomy), "features": list(fs.feature_names)},
                            default=str).encode())
        hash_bags(h, fs.film_ids, fs.bags, fs.Y)
    return h.hexdigest()
