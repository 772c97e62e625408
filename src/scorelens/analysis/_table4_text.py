"""Table 4's numbers as text, the way the study prints them."""

from __future__ import annotations

from scorelens.mil._crossval import FoldMap, cross_val_estimator, cross_validate, fit_and_predict, make_folds  # noqa: F401


def format_score(x: float) -> str:
    """A score as Table 4 prints it: two decimals without the leading zero (``.64``).

    Parameters
    ----------
    x : float

    Returns
    -------
    str
    """
    return f"{x:.2f}".replace("0.", ".", 1) if 0 <= x < 1 else f"{x:.2f}"


def format_p(p: float) -> str:
    """A p-value as Table 4 prints it: ``< .001``, three decimals otherwise, ``n/a`` for NaN.

    Parameters
    ----------
    p : float

    Returns
    -------
    str
    """
    if p != p:
        return "n/a"
    return "< .001" if p < 0.001 else f"{p:.3f}".replace("0.", ".", 1)
