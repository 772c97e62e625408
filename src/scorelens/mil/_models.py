"""Every genre model by one key, as the CLI, the evaluation and the artifacts name them.

========================  =================================================
key                       model
========================  =================================================
``random``                :class:`RandomGuess` (baseline)
``plurality``             :class:`PluralityLabel` (baseline)
``simple_mi:<base>``      :class:`SimpleMI` with base ``knn``, ``svm`` or ``rf``
``imv:<base>``            :class:`InstanceMajorityVote` with that base
``network:<pooling>``     :class:`MILClassifier` with a Table 3 pooling
``<pooling>``             short for ``network:<pooling>``
========================  =================================================
"""

from __future__ import annotations

from scorelens.config import ModelConfig as _StudyModel
from scorelens.exceptions import ParameterError
from scorelens.mil._base import BASE_CLASSIFIERS
from scorelens.mil._baselines import PluralityLabel, RandomGuess
from scorelens.mil._classifier import MILClassifier
from scorelens.mil._network import NETWORK_POOLINGS
from scorelens.mil._simple import SimpleMI
from scorelens.mil._voting import InstanceMajorityVote

#: The study's training settings (written once, in scorelens.config): the defaults below.
STUDY = _StudyModel()

__all__ = ["normalise_key", "make_model", "display_name", "model_keys"]

_POOLING_NAMES = {"max": "Max Pooling", "average": "Avg. Pooling", "linear_softmax": "Linear Softmax",
                  "attention": "Single Attn", "multi_attention": "Multi-Attn", "feature_attention": "FL Attn"}
_BASE_NAMES = {"knn": "kNN", "svm": "SVM", "rf": "RF"}


def model_keys() -> list[str]:
    """Every valid key, in Table 4's order.

    Returns
    -------
    list of str
        ``random``, ``plurality``, ``simple_mi:<base>``, ``imv:<base>``, ``network:<pooling>``.
    """
    return (["random", "plurality"] + [f"simple_mi:{b}" for b in BASE_CLASSIFIERS]
            + [f"imv:{b}" for b in BASE_CLASSIFIERS] + [f"network:{p}" for p in NETWORK_POOLINGS])


def normalise_key(key: str) -> str:
    """The canonical form of a model key (``attention`` -> ``network:attention``); ParameterError if unknown.

    Parameters
    ----------
    key : str
        A key of :func:`model_keys`, any case, or a pooling name alone.

    Returns
    -------
    str

    Raises
    ------
    ParameterError
        An unknown key (the message lists the valid ones).
    """
    key = str(key).strip().lower()
    if key in NETWORK_POOLINGS:
        key = f"network:{key}"
    if key not in model_keys():
        raise ParameterError(f"model {key!r} is unknown; choose one of {', '.join(model_keys())}")
    return key


def make_model(key: str, *, hidden: int = STUDY.hidden, epochs: int = STUDY.epochs,
               learning_rate: float = STUDY.learning_rate, batch_size: int = STUDY.batch_size,
               threshold: float = STUDY.threshold, precision: str = STUDY.precision, device: str = STUDY.device,
               random_state=None,
               imv_multi_output: bool = STUDY.imv_multi_output):
    """An unfitted estimator for ``key`` (network settings apply to ``network:*`` only;
    ``imv_multi_output`` to ``imv:rf``, see :class:`InstanceMajorityVote`).

    Parameters
    ----------
    key : str
        Model key (:func:`normalise_key`).
    hidden, epochs, learning_rate, batch_size, precision, device
        Networks only; see :class:`MILClassifier`.
    threshold : float
        Networks only: probability at which a genre is predicted.
    random_state : int or None
        Seed of the model's random choices (forests, SVMs, networks, the random baseline).
    imv_multi_output : bool
        ``imv:rf`` only: one forest per genre, the study's binary relevance (False), or one
        multi-output forest (True, faster).

    Returns
    -------
    bag classifier
        Unfitted, with the scikit-learn estimator API.

    Raises
    ------
    ParameterError
        An unknown key.
    """
    key = normalise_key(key)
    family, _, variant = key.partition(":")
    if family == "random":
        return RandomGuess(random_state=random_state)
    if family == "plurality":
        return PluralityLabel()
    if family == "simple_mi":
        return SimpleMI(estimator=variant, random_state=random_state)
    if family == "imv":
        return InstanceMajorityVote(estimator=variant, random_state=random_state, multi_output=imv_multi_output)
    return MILClassifier(pooling=variant, hidden=hidden, epochs=epochs, learning_rate=learning_rate,
                         batch_size=batch_size, threshold=threshold, precision=precision, device=device,
                         random_state=random_state)


def display_name(key: str) -> str:
    """Table 4's name of a model (``SVM - Simple MI``, ``Single Attn`` …).

    Parameters
    ----------
    key : str

    Returns
    -------
    str

    Raises
    ------
    ParameterError
        An unknown key.
    """
    key = normalise_key(key)
    family, _, variant = key.partition(":")
    if family == "random":
        return "Random Guess"
    if family == "plurality":
        return "Plurality Label"
    if family == "simple_mi":
        return f"{_BASE_NAMES[variant]} - Simple MI"
    if family == "imv":
        return f"{_BASE_NAMES[variant]} - IMV"
    return _POOLING_NAMES[variant]
