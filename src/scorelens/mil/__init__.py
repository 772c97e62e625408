"""Genre models: films are bags, cues are instances ("Multiple instance learning").

Estimators follow scikit-learn's conventions and share one input format: a list of
2-D arrays ``(n_instances_i, n_features)``, one per bag, and 0/1 labels of shape
``(n_bags,)`` or ``(n_bags, n_labels)``.

=========================  ===========================================================
:class:`SimpleMI`          mean of a bag's instances, then kNN / SVM / random forest
:class:`InstanceMajorityVote`  instances inherit bag labels; bags take a majority vote
:class:`MILClassifier`     the study's network (Fig 2) with a Table 3 pooling
:class:`RandomGuess`       guess by class frequencies (baseline)
:class:`PluralityLabel`    the most common label set (baseline)
=========================  ===========================================================

A trained model is saved with :func:`save_artifact` and used on a new film with
:func:`predict_film` (per-genre probabilities and the cues that weighed most).
"""

from scorelens.mil._artifact import BagPrediction, GenreModel, load_artifact, predict_film, save_artifact
from scorelens.mil._base import BASE_CLASSIFIERS
from scorelens.mil._baselines import PluralityLabel, RandomGuess
from scorelens.mil._classifier import MILClassifier
from scorelens.mil._network import NETWORK_POOLINGS, resolve_device
from scorelens.mil._simple import SimpleMI
from scorelens.mil._voting import InstanceMajorityVote

__all__ = ["MILClassifier", "SimpleMI", "InstanceMajorityVote", "RandomGuess", "PluralityLabel", "resolve_device",
           "NETWORK_POOLINGS", "BASE_CLASSIFIERS", "GenreModel", "BagPrediction", "load_artifact", "save_artifact",
           "predict_film"]
