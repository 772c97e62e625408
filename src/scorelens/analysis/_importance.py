"""Permutation feature importance by feature group: the study's Fig 3.

The study's "Musical feature relevance scoring" section: a model is cross-validated
(leave-one-out), and the importance of feature group ``k`` is

    s_k = 1 - F1_perm_k / F1_orig

where ``F1_orig`` is the F1-score of the out-of-fold predictions and ``F1_perm_k`` the
F1-score of the same fold models when the held-out films' features of group ``k`` are
permuted. It is computed per genre and over all genres ("Overall": macro F1), over 100
runs, with 95% intervals; the model is the MIR average-pooling network with 64 hidden
units; the groups are MFCCs, ΔMFCCs, ΔΔMFCCs, Dynamics, Pitch, Rhythm, Timbre and Tone
(:mod:`scorelens.features._groups`).

How the study's words are read here (decisions, so that the numbers can be checked):

* **The fold models are trained once.** Each fold's model predicts its own held-out
  films in the permuted data; nothing is retrained ("permuting the values of that
  feature across all validation set examples"). ``F1_orig`` is therefore exactly the
  out-of-fold F1 that ``scorelens evaluate`` reports for the same model, settings and
  seed, and every permuted corpus is predicted exactly as the corpus was (same batch
  shapes), so a score reflects the permutation alone, not a rounding difference.
* **What is permuted.** Every film is a validation example once, so a permutation runs
  over the instances (cues) of the whole corpus: instance ``i``'s value of a feature is
  replaced by another instance's, drawn without replacement over all instances of all
  films. "We randomly permuted all features individually from the others": each column
  of the group gets its own permutation. Bag sizes never change.
* **Runs and intervals.** Run ``r`` draws its permutations from ``SeedSequence([seed,
  r, h(group)])``, ``h`` a hash of the group's name, so a run is reproducible alone and a
  group's permutation does not depend on which other groups are scored (or present).
  The reported score is the mean over runs; the 95% interval is the 2.5th-97.5th
  percentile of the runs (the spread of ``s_k`` under
  permutation: the interval of one run's score, which is what tells whether permuting a
  group *significantly* degrades performance, as the study reads its error bars; the
  standard error of the mean is kept too, and would make almost any non-zero mean look
  significant after 100 runs).
* **Undefined scores.** A genre the model never predicts correctly has ``F1_orig = 0``
  and no score (NaN, with the reason in ``note``).

The same code scores any bag classifier (Simple MI, IMV, networks): the fold models are
kept from one cross-validation and asked again on the permuted inputs.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.metrics import f1_score

from scorelens._version import __version__
from scorelens.analysis._data import CorpusBags
from scorelens.analysis._evaluation import no_progress
from scorelens.config import ModelConfig
from scorelens.exceptions import ParameterError
from scorelens.features._groups import group_columns
from scorelens.mil._crossval import FoldModels, cross_validate, make_folds
from scorelens.mil._models import display_name, normalise_key
from scorelens.mil._training import fold_stacks
from scorelens.mil._validation import check_bag_labels, check_bags

__all__ = ["FoldModels", "cross_validate", "permuted_variants", "GroupImportance", "group_importance"]

#: Variants (run x group) predicted per pass, at most: bounds the permuted copies held at once.
_VARIANT_BLOCK = 64
#: Bytes of permuted corpora held per pass (frame-level corpora can be hundreds of MB each;
#: the models predict one variant at a time, so only the held copies count).
_BLOCK_BYTES = 256 << 20


def _runs_per_block(bags: Sequence[np.ndarray], n_groups: int) -> int:
    """Permutation runs per pass: at most ``_VARIANT_BLOCK`` variants and ``_BLOCK_BYTES`` of permuted copies."""
    corpus = sum(b.shape[0] for b in bags) * bags[0].shape[1] * 4
    variants = max(1, min(_VARIANT_BLOCK, _BLOCK_BYTES // max(1, corpus)))
    return max(1, variants // n_groups)


def permuted_variants(bags: Sequence[np.ndarray], groups: dict[str, np.ndarray], runs: Sequence[int],
                      seed: int) -> list[tuple[int, str, list[np.ndarray]]]:
    """The corpus with one feature group permuted, for each run and group.

    Parameters
    ----------
    bags : list of np.ndarray [shape=(n_instances_i, n_features)]
    groups : dict of str -> np.ndarray of int
        Column indices of each group; the group's name (not its position) seeds its
        permutations.
    runs : sequence of int
    seed : int

    Returns
    -------
    list of (run, group, bags)
        Each column of the group permuted on its own over all instances of all bags.
    """
    X = np.concatenate(bags)
    cuts = np.cumsum([b.shape[0] for b in bags])[:-1]
    out = []
    for r in runs:
        for name, cols in groups.items():
            rng = np.random.default_rng(np.random.SeedSequence([int(seed), int(r), _name_seed(name)]))
            Xp = X.copy()
            for c in cols:
                Xp[:, c] = X[rng.permutation(len(X)), c]
            out.append((int(r), name, np.split(Xp, cuts)))
    return out


def _name_seed(name: str) -> int:
    """A stable 64-bit integer from a group's name (Python's ``hash`` changes between runs)."""
    return int.from_bytes(hashlib.blake2b(name.encode("utf-8"), digest_size=8).digest(), "little")


def _f1(Y: np.ndarray, P: np.ndarray) -> np.ndarray:
    """Per-genre F1 and, last, the macro F1 (zero where a genre has no true or predicted positive)."""
    per = f1_score(Y, P, average=None, zero_division=0.0)
    return np.append(per, per.mean())


@dataclass
class GroupImportance:
    """Permutation importance of feature groups for one model.

    Attributes
    ----------
    key, features : str
        Model key and feature kind.
    taxonomy : tuple of str
    groups : dict of str -> list of str
        Feature columns of each group.
    f1_orig : np.ndarray [shape=(n_labels + 1,)]
        Out-of-fold F1 per genre, then macro ("Overall").
    f1_perm : np.ndarray [shape=(n_runs, n_groups, n_labels + 1)]
    config : ModelConfig
    runs : int
    seconds : float
    """

    key: str
    features: str
    taxonomy: tuple
    groups: dict
    f1_orig: np.ndarray
    f1_perm: np.ndarray
    config: ModelConfig
    runs: int
    seconds: float = 0.0
    film_ids: list = field(default_factory=list)

    @property
    def columns(self) -> list[str]:
        """Genres, then ``Overall``."""
        return list(self.taxonomy) + ["Overall"]

    def scores(self) -> np.ndarray:
        """``s_k = 1 - F1_perm / F1_orig`` per run, group and genre (NaN where ``F1_orig`` is 0).

        Returns
        -------
        np.ndarray [shape=(n_runs, n_groups, n_labels + 1)]
        """
        with np.errstate(divide="ignore", invalid="ignore"):
            s = 1.0 - self.f1_perm / self.f1_orig[None, None, :]
        s[..., self.f1_orig == 0] = np.nan
        return s

    def runs_frame(self) -> pd.DataFrame:
        """Every run's F1 and score, long format (``run, group, genre, f1_perm, score``).

        Returns
        -------
        pd.DataFrame
        """
        s = self.scores()
        n_runs, n_groups, n_cols = s.shape
        return pd.DataFrame({
            "run": np.repeat(np.arange(n_runs), n_groups * n_cols),
            "group": np.tile(np.repeat(list(self.groups), n_cols), n_runs),
            "genre": np.tile(self.columns, n_runs * n_groups),
            "f1_perm": self.f1_perm.reshape(-1),
            "score": s.reshape(-1),
        })

    def summary(self, level: float = 0.95) -> pd.DataFrame:
        """Mean score per group and genre, with the runs' central interval and standard error.

        Parameters
        ----------
        level : float
            Coverage of the interval (percentiles of the runs' scores).

        Returns
        -------
        pd.DataFrame
            ``group, genre, f1_orig, f1_perm_mean, score, ci_low, ci_high, sem, significant, note``;
            ``significant``: the interval lies above zero (permuting the group degrades F1).
        """
        s = self.scores()
        lo, hi = (1 - level) / 2 * 100, (1 + level) / 2 * 100
        rows = []
        for g, name in enumerate(self.groups):
            for j, genre in enumerate(self.columns):
                col = s[:, g, j]
                defined = bool(self.f1_orig[j] > 0)
                rows.append({
                    "group": name, "genre": genre, "f1_orig": float(self.f1_orig[j]),
                    "f1_perm_mean": float(self.f1_perm[:, g, j].mean()),
                    "score": float(col.mean()) if defined else np.nan,
                    "ci_low": float(np.percentile(col, lo)) if defined else np.nan,
                    "ci_high": float(np.percentile(col, hi)) if defined else np.nan,
                    "sem": float(col.std(ddof=1) / np.sqrt(len(col))) if defined and len(col) > 1 else np.nan,
                    "significant": bool(defined and np.percentile(col, lo) > 0),
                    "note": "" if defined else "F1_orig is 0: the model never predicts this genre correctly",
                })
        return pd.DataFrame(rows)

    def to_markdown(self) -> str:
        """Fig 3's numbers as a table: groups by genres, mean score [interval]; * where significant.

        Returns
        -------
        str
        """
        summ = self.summary()
        lines = [f"Permutation feature importance (scorelens {__version__}): {self.features}, "
                 f"{display_name(self.key)}, {self.runs} runs, seed {self.config.seed}, "
                 f"{len(self.film_ids)} films. s = 1 - F1_perm / F1_orig; mean [2.5%, 97.5%] of the runs; "
                 "* where the interval lies above 0.",
                 "",
                 "| Group | " + " | ".join(self.columns) + " |",
                 "|---|" + "---:|" * len(self.columns),
                 "| F1 (original) | " + " | ".join(f"{v:.2f}" for v in self.f1_orig) + " |"]
        for name in self.groups:
            cells = []
            for genre in self.columns:
                r = summ[(summ.group == name) & (summ.genre == genre)].iloc[0]
                if np.isnan(r.score):
                    cells.append("n/a")
                else:
                    star = "*" if r.significant else ""
                    cells.append(f"{r.score:.3f}{star} [{r.ci_low:.3f}, {r.ci_high:.3f}]")
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
        return "\n".join(lines) + "\n"

    def to_json(self) -> dict:
        """Settings, original F1, the summary and the feature columns of each group.

        Returns
        -------
        dict
            JSON-compatible (undefined scores as null).
        """
        from dataclasses import asdict

        return {"scorelens": __version__, "model": self.key, "features": self.features,
                "settings": asdict(self.config), "runs": self.runs, "films": list(self.film_ids),
                "taxonomy": list(self.taxonomy),
                "f1_orig": dict(zip(self.columns, map(float, self.f1_orig))),
                "groups": {k: list(v) for k, v in self.groups.items()},
                "summary": self.summary().replace({np.nan: None}).to_dict(orient="records"),
                "seconds": round(self.seconds, 3)}


def group_importance(corpus: CorpusBags, key: str = "network:average", config: ModelConfig | None = None, *,
                     runs: int = 100, groups: dict[str, list[str]] | None = None, n_jobs: int | None = None,
                     progress=None, fold_map=None, n_chunks: int = 1) -> GroupImportance:
    """Permutation feature importance of feature groups (the study's Fig 3).

    Parameters
    ----------
    corpus : CorpusBags
        Feature kind with named columns (``group/feature/statistic``); MIR features for
        the study's groups.
    key : str
        Model key; the study uses ``network:average`` with ``config.hidden = 64``.
    config : ModelConfig, optional
        Cross-validation and training settings (default: the study's, hidden 128; pass
        ``hidden=64`` for the study's PFI model).
    runs : int
        Permutation runs (study: 100).
    groups : dict of str -> list of str, optional
        Feature columns per group; default: the study's groups from the column names
        (``group/feature/statistic``), and any other prefix as a group of its own.
    n_jobs : int, optional
    progress : callable, optional
        ``progress(description, total) -> advance`` (see :func:`scorelens.analysis._evaluation.evaluate`).
    fold_map : callable, optional
        Networks: train the fold models in ``n_chunks`` chunks on other workers (Dask);
        the permutations are then predicted here. Same numbers.
    n_chunks : int

    Returns
    -------
    GroupImportance

    Raises
    ------
    ParameterError
        No feature groups, unknown columns, ``runs < 1``, fewer than 2 films, or a model that
        ignores the features.
    """
    config = config or ModelConfig()
    progress = progress or no_progress
    if normalise_key(key).split(":")[0] in ("random", "plurality"):
        raise ParameterError(f"model {key!r} ignores the features; permutation importance needs a model that "
                             "reads them")
    if runs < 1:
        raise ParameterError(f"runs={runs} must be at least 1")
    names = list(corpus.feature_names)
    groups = group_columns(names, strict=False) if groups is None else {k: list(v) for k, v in groups.items()}
    if not groups:
        raise ParameterError(f"{corpus.kind or 'features'}: no feature groups (columns must be named "
                             "'group/feature/statistic')")
    position = {c: i for i, c in enumerate(names)}
    unknown = [c for cols in groups.values() for c in cols if c not in position]
    if unknown:
        raise ParameterError(f"group columns not among the features: {', '.join(unknown[:5])}")
    empty = [k for k, cols in groups.items() if not cols]
    if empty:
        raise ParameterError(f"feature groups without columns: {', '.join(empty)}")
    index = {k: np.array([position[c] for c in cols]) for k, cols in groups.items()}
    bags = check_bags(corpus.bags, name=f"{corpus.kind or 'feature'} bags")
    if len(bags) < 2:
        # Cross-validation needs films to train on besides the held-out one.
        raise ParameterError(f"{corpus.kind or 'features'}: {len(bags)} film; permutation importance needs at least "
                             "2 films with cues")
    Y, _ = check_bag_labels(corpus.Y, len(bags), n_labels=len(corpus.taxonomy))
    folds = make_folds(len(bags), config)
    t0 = time.perf_counter()
    family = normalise_key(key).split(":")[0]
    if family == "network":
        import torch

        n_stacks = len(fold_stacks(len(folds), n_jobs=n_jobs or torch.get_num_threads()))
        advance = progress(f"{corpus.kind} · {display_name(key)} (stack-epochs)", n_stacks * config.epochs)
        if fold_map is not None:
            advance = progress(f"{corpus.kind} · {display_name(key)} (folds)", len(folds))
            models = cross_validate(key, bags, Y, folds, config, keep_models=True, fold_map=fold_map,
                                    n_chunks=n_chunks, advance=advance)
        else:
            models = cross_validate(key, bags, Y, folds, config, keep_models=True, n_jobs=n_jobs,
                                    on_epoch=lambda _: advance(1))
    else:
        advance = progress(f"{corpus.kind} · {display_name(key)} (folds)", len(folds))
        models = cross_validate(key, bags, Y, folds, config, keep_models=True, n_jobs=n_jobs, advance=advance)
    f1_orig = _f1(Y, models.pred)
    f1_perm = np.zeros((runs, len(index), len(f1_orig)))
    advance = progress(f"{corpus.kind} · permutations", runs * len(index))
    order = {name: g for g, name in enumerate(index)}
    runs_per_block = _runs_per_block(bags, len(index))
    for start in range(0, runs, runs_per_block):
        block = permuted_variants(bags, index, range(start, min(runs, start + runs_per_block)), config.seed)
        preds = models.predict_held_out([v[2] for v in block])
        for (r, name, _), P in zip(block, preds):
            f1_perm[r, order[name]] = _f1(Y, P)
        advance(len(block))
    return GroupImportance(normalise_key(key), corpus.kind, tuple(corpus.taxonomy), groups, f1_orig, f1_perm,
                           config, runs, time.perf_counter() - t0, list(corpus.film_ids))
