"""Input checks shared by every multiple-instance estimator.

A *bag* is a 2-D array ``(n_instances, n_features)``; a film is a bag and its cues
(or frames) are the instances ("Multiple instance learning" section of the study).
A plain 2-D array ``X`` of shape ``(n_samples, n_features)`` is accepted too and read
as ``n_samples`` bags of one instance each, so the estimators also work on ordinary
single-instance data (and scikit-learn's own estimator checks can run on them).
"""

from __future__ import annotations

import numpy as np

from scorelens.exceptions import ParameterError

__all__ = ["check_bags", "check_bag_labels", "bag_sizes"]


def check_bags(bags, *, n_features: int | None = None, name: str = "bags") -> list[np.ndarray]:
    """Validate bags and return them as a list of C-contiguous float32 arrays.

    Parameters
    ----------
    bags : list of array-like [shape=(n_instances_i, n_features)] or array-like [shape=(n_bags, n_features)]
        A list (or tuple) of 2-D arrays, one per bag; a 2-D array is read as bags of
        one instance each.
    n_features : int, optional
        Expected number of features (the one seen in ``fit``).
    name : str
        Name used in error messages.

    Returns
    -------
    list of np.ndarray [shape=(n_instances_i, n_features), dtype=float32]

    Raises
    ------
    ParameterError
        No bags, an empty bag, a bag that is not 2-D, inconsistent or unexpected feature
        counts, NaN or infinite values.
    """
    if isinstance(bags, (list, tuple)) and len(bags) and np.ndim(bags[0]) == 1:
        bags = np.asarray(bags)  # a list of 1-D rows is the plain (n_samples, n_features) form
    shape = None
    if isinstance(bags, (list, tuple)):
        if len(bags) == 0:
            raise ParameterError(f"{name}: got 0 bags; at least one bag is required")
        out = []
        for i, bag in enumerate(bags):
            try:
                arr = np.asarray(bag, dtype=np.float32)
            except (TypeError, ValueError) as exc:
                raise ParameterError(f"{name}[{i}]: not a numeric array ({exc})") from exc
            if arr.ndim != 2:
                raise ParameterError(f"{name}[{i}]: a bag must be 2-D (n_instances, n_features), "
                                     f"got shape {arr.shape}")
            if arr.shape[0] == 0:
                raise ParameterError(f"{name}[{i}]: empty bag (0 instances); a film without cues "
                                     "cannot be a bag (see scorelens.analysis._data for how they are handled)")
            out.append(np.ascontiguousarray(arr))
    else:
        try:
            X = np.asarray(bags, dtype=np.float32)
        except (TypeError, ValueError) as exc:
            raise ParameterError(f"{name}: not a numeric array or a list of bags ({exc})") from exc
        if X.ndim != 2:
            raise ParameterError(f"{name}: expected a list of 2-D bags or a 2-D array, got shape {X.shape}")
        if X.shape[0] == 0:
            raise ParameterError(f"{name}: got 0 bags (shape {X.shape}); at least one bag is required")
        out = [X[i:i + 1] for i in range(X.shape[0])]
        shape = X.shape
    widths = {b.shape[1] for b in out}
    if len(widths) > 1:
        raise ParameterError(f"{name}: bags have different numbers of features {sorted(widths)}")
    width = widths.pop()
    if width == 0:
        # Worded as scikit-learn's own message, which its estimator checks look for.
        raise ParameterError(f"{name}: 0 feature(s) (shape={shape or out[0].shape}) while a minimum of 1 is "
                             "required.")
    if n_features is not None and width != n_features:
        raise ParameterError(f"{name}: bags have {width} features but the estimator was fitted "
                             f"with {n_features}")
    for i, b in enumerate(out):
        if not np.isfinite(b).all():
            bad = np.argwhere(~np.isfinite(b))[0]
            raise ParameterError(f"{name}[{i}]: NaN or infinite value at instance {bad[0]}, "
                                 f"feature {bad[1]}; impute or drop such features first")
    return out


def check_bag_labels(y, n_bags: int, *, n_labels: int | None = None) -> tuple[np.ndarray, bool]:
    """Validate bag labels and return them as a 2-D 0/1 matrix.

    Parameters
    ----------
    y : array-like [shape=(n_bags,) or (n_bags, n_labels)]
        0/1 (or boolean) labels.
    n_bags : int
    n_labels : int, optional
        Expected number of label columns.

    Returns
    -------
    Y : np.ndarray [shape=(n_bags, n_labels), dtype=int64]
    one_d : bool
        Whether ``y`` was 1-D (predictions are then returned 1-D too).
    """
    Y = np.asarray(y)
    if Y.ndim not in (1, 2):
        raise ParameterError(f"y: expected shape (n_bags,) or (n_bags, n_labels), got {Y.shape}")
    one_d = Y.ndim == 1
    if one_d:
        Y = Y[:, None]
    if Y.shape[0] != n_bags:
        raise ParameterError(f"y has {Y.shape[0]} rows but there are {n_bags} bags")
    if Y.shape[1] == 0:
        raise ParameterError("y has 0 label columns")
    if n_labels is not None and Y.shape[1] != n_labels:
        raise ParameterError(f"y has {Y.shape[1]} label columns, expected {n_labels}")
    if Y.dtype.kind == "f" and not np.isfinite(Y).all():
        raise ParameterError("y holds NaN or infinite values")
    if Y.dtype.kind not in "biuf" or not np.isin(Y, (0, 1)).all():
        values = np.unique(Y)[:6]
        raise ParameterError(f"y must hold 0/1 labels (binary or multi-label), got values {values.tolist()}")
    return Y.astype(np.int64), one_d


def bag_sizes(bags: list[np.ndarray]) -> np.ndarray:
    """Number of instances of each bag, shape ``(n_bags,)``."""
    return np.array([b.shape[0] for b in bags], dtype=np.int64)
