"""A subset of scikit-learn's estimator checks.

The full ``parametrize_with_checks`` suite assumes arbitrary class labels and a
``predict_proba`` of shape (n, 2); these estimators take 0/1 labels and return one
probability per label (see scorelens.mil._base), so only the API checks that do not
depend on those conventions run here.
"""

import pytest
from sklearn.utils import estimator_checks as ec

from scorelens.mil import InstanceMajorityVote, MILClassifier, PluralityLabel, RandomGuess, SimpleMI

ESTIMATORS = [SimpleMI("knn"), InstanceMajorityVote("knn"), RandomGuess(random_state=0), PluralityLabel(),
              MILClassifier("attention", hidden=4, epochs=2, random_state=0)]
CHECKS = [ec.check_no_attributes_set_in_init, ec.check_parameters_default_constructible,
          ec.check_get_params_invariance, ec.check_set_params, ec.check_fit_check_is_fitted,
          ec.check_estimators_unfitted, ec.check_fit2d_1sample, ec.check_estimators_nan_inf,
          ec.check_estimators_empty_data_messages]


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=lambda e: type(e).__name__)
@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__)
def test_sklearn_check(estimator, check):
    check(type(estimator).__name__, estimator)
