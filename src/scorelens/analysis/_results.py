"""The results of an evaluation: each model's cross-validated run, and Table 4 from them."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from scorelens._version import __version__
from scorelens.analysis._table4_text import format_p, format_score
from scorelens.config import ModelConfig
from scorelens.mil._crossval import FoldMap, cross_val_estimator, cross_validate, fit_and_predict, make_folds  # noqa: F401
from scorelens.mil._models import display_name


@dataclass
class ModelRun:
    """One model's cross-validated results on one feature kind.

    Attributes
    ----------
    features : str
        Feature kind, or ``"none"`` for the baselines.
    key : str
        Model key (:mod:`scorelens.mil._models`).
    proba, pred : np.ndarray [shape=(n_films, n_genres)]
    scores : dict
        :func:`scorelens.analysis._metrics.genre_scores`.
    tests : dict
        Paired t-tests against the random baseline, by metric.
    seconds : float
    weights : list of np.ndarray or None
        Networks: each film's instance weights ``(n_instances_i, n_genres)``.
    hidden : int or None
        Networks: units per embedding layer; None for the other models.
    """

    features: str
    key: str
    proba: np.ndarray
    pred: np.ndarray
    scores: dict = field(default_factory=dict)
    tests: dict = field(default_factory=dict)
    seconds: float = 0.0
    weights: list | None = None
    hidden: int | None = None

    @property
    def name(self) -> str:
        return display_name(self.key)

    @property
    def family(self) -> str:
        return self.key.split(":")[0]


@dataclass
class Evaluation:
    """All runs of one evaluation, plus what is needed to report them."""

    film_ids: list
    taxonomy: tuple
    Y: np.ndarray
    config: ModelConfig
    runs: list
    missing: list = field(default_factory=list)
    kinds: list = field(default_factory=list)
    instance_keys: dict = field(default_factory=dict)
    run_info: dict = field(default_factory=dict)
    """How the run was made where the settings leave it to the machine: the networks' precision
    and why (``precision="auto"`` decides by the CPU, :func:`scorelens.mil._network.choose_precision`)."""

    def table4(self) -> list[dict]:
        """Table 4's rows: baselines, then per feature kind the best Simple MI, the best IMV and each network.

        Returns
        -------
        list of dict
            ``features, model, key, hidden, precision, recall, f1, p_precision`` per row;
            ``hidden`` is the units of the network's better hidden size (None for the other
            models).
        """
        rows = []

        def row(run: ModelRun) -> dict:
            return {"features": "None" if run.features == "none" else run.features, "model": run.name,
                    "key": run.key, "hidden": run.hidden, "precision": run.scores["macro"]["precision"],
                    "recall": run.scores["macro"]["recall"], "f1": run.scores["macro"]["f1"],
                    "p_precision": run.tests.get("precision", {}).get("p", float("nan"))}

        for run in self.runs:
            if run.features == "none":
                rows.append(row(run))
        for kind in self.kinds:
            mine = [r for r in self.runs if r.features == kind]
            for family in ("simple_mi", "imv"):
                candidates = [r for r in mine if r.family == family]
                if candidates:
                    rows.append(row(_best(candidates)))
            rows.extend(row(r) for r in self.shown_networks(kind))
        return rows

    def shown_networks(self, kind: str) -> list[ModelRun]:
        """The network runs Table 4 shows for a feature kind: per pooling, the better hidden size.

        Parameters
        ----------
        kind : str
            Feature kind.

        Returns
        -------
        list of ModelRun
            One per pooling, in the order evaluated; of the runs with several hidden sizes, the
            one with the best macro F1 (a tie goes to the size evaluated first).
        """
        by_key: dict[str, list[ModelRun]] = {}
        for r in self.runs:
            if r.features == kind and r.family == "network":
                by_key.setdefault(r.key, []).append(r)
        return [_best(candidates) for candidates in by_key.values()]

    def _exported(self) -> list[ModelRun]:
        """Runs whose predictions and weights are written: all but the networks' unshown hidden sizes."""
        shown = {id(r) for kind in self.kinds for r in self.shown_networks(kind)}
        return [r for r in self.runs if r.family != "network" or id(r) in shown]

    def to_markdown(self) -> str:
        """Table 4 as a Markdown table, with a caption stating the protocol.

        Returns
        -------
        str
        """
        cv = "leave-one-out" if self.config.cv == "loo" else self.config.cv
        sizes = self.config.hidden_sizes
        hidden = ("" if not any(r.family == "network" for r in self.runs)
                  else f" Hidden: the networks' units per embedding layer ({sizes[0]})." if len(sizes) == 1
                  else f" Hidden: the networks' units per embedding layer, the better of "
                       f"{', '.join(map(str, sizes[:-1]))} and {sizes[-1]} by macro F1.")
        lines = [f"Table 4 (scorelens {__version__}): {len(self.film_ids)} films, {cv} cross-validation, "
                 f"{self.config.level}-level instances, seed {self.config.seed}. "
                 "p: paired t-test across films of per-film precision against the random guess." + hidden,
                 "",
                 "| Features | Model | Hidden | Precision | Recall | F1-Score | p (vs random) |",
                 "|---|---|---:|---:|---:|---:|---:|"]
        for r in self.table4():
            p = "" if r["key"] == "random" else format_p(r["p_precision"])
            hidden = "" if r["hidden"] is None else str(r["hidden"])
            lines.append(f"| {r['features']} | {r['model']} | {hidden} | {format_score(r['precision'])} | "
                         f"{format_score(r['recall'])} | {format_score(r['f1'])} | {p} |")
        if self.missing:
            lines += ["", f"Films without cues, left out: {', '.join(self.missing)}."]
        return "\n".join(lines) + "\n"

    def to_frame(self) -> pd.DataFrame:
        """Table 4 as a DataFrame (the CSV's content); ``hidden`` is an integer column, empty for non-networks.

        Returns
        -------
        pd.DataFrame
            :meth:`table4`'s rows.
        """
        df = pd.DataFrame(self.table4())
        df["hidden"] = df["hidden"].astype("Int64")
        return df

    def to_json(self) -> dict:
        """Everything: settings, films, Table 4, and every run with per-genre scores and tests.

        Returns
        -------
        dict
            JSON-compatible (NaN aside).
        """
        return {
            "scorelens": __version__,
            "settings": asdict(self.config),
            "run_info": self.run_info,
            "taxonomy": list(self.taxonomy),
            "films": list(self.film_ids),
            "films_without_cues": list(self.missing),
            "table4": self.table4(),
            "runs": [{"features": r.features, "key": r.key, "model": r.name, "hidden": r.hidden,
                      "seconds": round(r.seconds, 3), "macro": r.scores["macro"], "genres": r.scores["genres"],
                      "tests": r.tests}
                     for r in self.runs],
        }

    def predictions(self) -> pd.DataFrame:
        """Per-film, per-genre probabilities of every run (long format), for later plots.

        A network evaluated with several hidden sizes contributes the size Table 4 shows,
        so that each (features, model) pair names one run.

        Returns
        -------
        pd.DataFrame
            ``film_id, features, model, genre, probability, predicted, true``.
        """
        frames = []
        n, g = len(self.film_ids), len(self.taxonomy)
        for r in self._exported():
            frames.append(pd.DataFrame({
                "film_id": np.repeat(self.film_ids, g), "features": r.features, "model": r.key,
                "genre": np.tile(self.taxonomy, n), "probability": r.proba.reshape(-1).astype(np.float64),
                "predicted": r.pred.reshape(-1).astype(np.int8), "true": self.Y.reshape(-1).astype(np.int8)}))
        return pd.concat(frames, ignore_index=True)

    def instance_weights(self) -> pd.DataFrame:
        """Each network's weight of every instance of every film (which cues drove a prediction).

        Networks evaluated with several hidden sizes contribute the size Table 4 shows.

        Returns
        -------
        pd.DataFrame
            ``film_id, features, model, instance``, the instance keys (e.g. ``cue_id``),
            then one weight column per genre; empty when no network ran.
        """
        frames = []
        for r in self._exported():
            if r.weights is None:
                continue
            keys = self.instance_keys.get(r.features, [])
            for i, (film, w) in enumerate(zip(self.film_ids, r.weights)):
                df = pd.DataFrame(w, columns=list(self.taxonomy))
                df.insert(0, "instance", np.arange(len(w)))
                if i < len(keys):
                    for col in keys[i].columns[::-1]:
                        df.insert(1, col, keys[i][col].to_numpy())
                df.insert(0, "model", r.key)
                df.insert(0, "features", r.features)
                df.insert(0, "film_id", film)
                frames.append(df)
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _best(candidates: list[ModelRun]) -> ModelRun:
    """The run with the best macro F1; ties go to the earlier (knn, svm, rf; hidden sizes as listed)."""
    # By position, not list.index: runs compare their arrays under ==.
    _, best = max(enumerate(candidates), key=lambda ir: (ir[1].scores["macro"]["f1"], -ir[0]))
    return best
