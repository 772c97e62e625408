"""The study's published Table 4 (Ma et al., PLOS ONE 2021), shown beside a workspace's own."""

from __future__ import annotations

__all__ = ["STUDY_TABLE4", "study_row"]

#: (feature kind, model family or network key) -> (the study's model name, precision, recall, F1):
#: leave-one-out, cue-level features, macro over the six genres. Simple MI and IMV are the
#: study's best base classifier, so they stand beside this workspace's best of each family.
STUDY_TABLE4: dict[tuple[str, str], tuple[str, float, float, float]] = {
    ("none", "random"): ("Random Guess", .32, .32, .32),
    ("none", "plurality"): ("Plurality Label", .14, .34, .19),
    ("vggish", "simple_mi"): ("kNN - Simple MI", .64, .59, .61),
    ("vggish", "imv"): ("SVM - IMV", .64, .42, .44),
    ("vggish", "network:max"): ("Max Pooling", .56, .48, .49),
    ("vggish", "network:average"): ("Avg. Pooling", .55, .78, .62),
    ("vggish", "network:linear_softmax"): ("Linear Softmax", .62, .59, .59),
    ("vggish", "network:attention"): ("Single Attn", .60, .73, .65),
    ("vggish", "network:multi_attention"): ("Multi-Attn", .45, .72, .52),
    ("vggish", "network:feature_attention"): ("FL Attn", .53, .74, .57),
    ("mir", "simple_mi"): ("SVM - Simple MI", .60, .52, .56),
    ("mir", "imv"): ("SVM - IMV", .55, .40, .42),
    ("mir", "network:max"): ("Max Pooling", .40, .10, .15),
    ("mir", "network:average"): ("Avg. Pooling", .55, .78, .61),
    ("mir", "network:linear_softmax"): ("Linear Softmax", .55, .61, .57),
    ("mir", "network:attention"): ("Single Attn", .49, .76, .55),
    ("mir", "network:multi_attention"): ("Multi-Attn", .44, .70, .51),
    ("mir", "network:feature_attention"): ("FL Attn", .53, .67, .56),
}


def study_row(features: str, key: str) -> tuple[str, float, float, float] | None:
    """The study's Table 4 row for a run (feature kind, model key), or None where it has none.

    Parameters
    ----------
    features : str
        ``vggish``, ``mir`` or ``none``/``None`` (the baselines).
    key : str
        A model key (``simple_mi:svm``, ``network:attention``, ``random`` …).

    Returns
    -------
    tuple of (str, float, float, float) or None
    """
    family = str(key).split(":")[0]
    kind = str(features).lower()
    return STUDY_TABLE4.get((kind, str(key))) or STUDY_TABLE4.get((kind, family))
