import numpy as np
import pytest
import torch

from scorelens.exceptions import ParameterError
from scorelens.mil import MILClassifier
from scorelens.mil.network import NETWORK_POOLINGS, MILNetwork
from scorelens.mil.pooling import (AttentionPooling, AveragePooling, LinearSoftmaxPooling, MaxPooling,
                                   make_pooling)

# One bag of three instances (plus one padding row) and two channels, by hand.
VALUES = torch.tensor([[[0.2, 0.9], [0.6, 0.1], [0.4, 0.5], [0.99, 0.99]]])   # (1, 4, 2)
MASK = torch.tensor([[True, True, True, False]])                               # (1, 4)


def test_max_and_average_by_hand():
    out = MaxPooling()(VALUES, MASK)
    assert torch.allclose(out.pooled, torch.tensor([[0.6, 0.9]]))              # padding's 0.99 ignored
    assert out.weights[0, :, 0].tolist() == [0.0, 1.0, 0.0, 0.0]
    out = AveragePooling()(VALUES, MASK)
    assert torch.allclose(out.pooled, torch.tensor([[0.4, 0.5]]))
    assert torch.allclose(out.weights[0, :, 1], torch.tensor([1 / 3, 1 / 3, 1 / 3, 0.0]))


def test_linear_softmax_by_hand():
    out = LinearSoftmaxPooling()(VALUES, MASK)
    # sum x^2 / sum x: (0.04 + 0.36 + 0.16) / 1.2 and (0.81 + 0.01 + 0.25) / 1.5
    assert torch.allclose(out.pooled, torch.tensor([[0.56 / 1.2, 1.07 / 1.5]]))
    assert torch.allclose(out.weights[0, :, 0], torch.tensor([0.2, 0.6, 0.4, 0.0]) / 1.2)


def test_attention_by_hand():
    scores = torch.tensor([[[1.0, 0.5], [0.5, 0.5], [0.5, 0.5], [1.0, 1.0]]])
    out = AttentionPooling()(VALUES, MASK, scores)
    expected = torch.tensor([[(1.0 * 0.2 + 0.5 * 0.6 + 0.5 * 0.4) / 2.0, 0.5]])
    assert torch.allclose(out.pooled, expected, atol=1e-6)
    assert torch.allclose(out.weights.sum(dim=1), torch.ones(1, 2))
    with pytest.raises(ParameterError, match="needs attention scores"):
        AttentionPooling()(VALUES, MASK)


def test_registry_refuses_unknown():
    with pytest.raises(ParameterError, match="pooling='median' is unknown"):
        make_pooling("median")


@pytest.mark.parametrize("pooling", NETWORK_POOLINGS)
def test_network_is_invariant_to_instance_order_and_padding(pooling):
    torch.manual_seed(0)
    net = MILNetwork(5, 3, 8, pooling, seeds=[7, 8])
    x = torch.randn(2, 1, 6, 5)
    mask = torch.tensor([[[True] * 6], [[True] * 4 + [False] * 2]])
    perm = torch.tensor([3, 0, 2, 1, 4, 5])     # permutes the 4 real instances of model 1 among themselves
    out = net(x, mask)
    out_perm = net(x[:, :, perm], mask[:, :, perm])
    assert torch.allclose(out.proba, out_perm.proba, atol=1e-6)
    assert torch.allclose(out.weights[:, :, perm], out_perm.weights, atol=1e-6)
    # Padding content never matters.
    x2 = x.clone()
    x2[1, 0, 4:] = 100.0
    assert torch.allclose(net(x2, mask).proba[1], out.proba[1], atol=1e-6)
    assert torch.allclose(out.weights[1, 0, 4:], torch.zeros(2, 3))
    assert out.proba.shape == (2, 1, 3) and ((out.proba > 0) & (out.proba < 1)).all()


@pytest.mark.parametrize("pooling", NETWORK_POOLINGS)
def test_estimator_invariant_to_instance_order(pooling, rng):
    bags = [rng.normal(size=(int(rng.integers(1, 7)), 4)).astype(np.float32) for _ in range(10)]
    Y = (rng.random((10, 2)) < 0.5).astype(int)
    clf = MILClassifier(pooling, hidden=8, epochs=2, learning_rate=1e-2, random_state=0).fit(bags, Y)
    shuffled = [b[rng.permutation(len(b))] for b in bags]
    np.testing.assert_allclose(clf.predict_proba(shuffled), clf.predict_proba(bags), atol=1e-6)
