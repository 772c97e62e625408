import math

import numpy as np
import pytest
import torch

from scorelens.exceptions import ParameterError
from scorelens.mil import MILClassifier
from scorelens.mil._network import NETWORK_POOLINGS, MILNetwork
from scorelens.mil._pooling import AttentionPooling, AveragePooling, LinearSoftmaxPooling, MaxPooling, make_pooling

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


def _sig(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-z))


def _identity_network(pooling: str) -> MILNetwork:
    """A 2-feature, 2-unit, 1-label network whose embedding layers pass non-negative inputs through.

    Identity weights and zero biases make every embedding layer ``relu(x) = x`` for x >= 0,
    so the heads see the instances themselves and the pooled values can be worked out by hand.
    """
    net = MILNetwork(2, 1, 2, pooling, seeds=[0])
    with torch.no_grad():
        for p in net.params.values():
            p.zero_()
        for layer in ("emb1", "emb2", "emb3"):
            net.params[f"{layer}_w"][0] = torch.eye(2)
    return net


# One bag of two instances (plus one padding row whose values must not matter).
BAG = torch.tensor([[[[1.0, 0.0], [0.0, 2.0], [5.0, 5.0]]]])                 # (1 model, 1 bag, 3, 2 features)
BAG_MASK = torch.tensor([[[True, True, False]]])


def test_multi_attention_by_hand():
    net = _identity_network("multi_attention")
    p = net.params
    with torch.no_grad():
        # Layer 2's head: classifier reads feature 0, attention reads feature 1.
        p["cla2_w"][0] = torch.tensor([[1.0], [0.0]])
        p["att2_w"][0] = torch.tensor([[0.0], [1.0]])
        # Layer 3 swaps the two units, so its head sees (x1, x0) and the two heads differ.
        p["emb3_w"][0] = torch.tensor([[0.0, 1.0], [1.0, 0.0]])
        # Layer 3's head: classifier reads unit 1 (x0) with a bias, attention is flat (sigmoid(0) = 0.5).
        p["cla3_w"][0] = torch.tensor([[0.0], [1.0]])
        p["cla3_b"][0] = torch.tensor([-1.0])
        # Output layer: 2 * pooled2 - pooled3 + 0.5.
        p["out_w"][0] = torch.tensor([[2.0], [-1.0]])
        p["out_b"][0] = torch.tensor([0.5])
    out = net(BAG, BAG_MASK)
    # Instances x1 = (1, 0), x2 = (0, 2).
    cla2, att2 = [_sig(1.0), _sig(0.0)], [_sig(0.0), _sig(2.0)]
    pooled2 = (att2[0] * cla2[0] + att2[1] * cla2[1]) / (att2[0] + att2[1])
    cla3 = [_sig(1.0 - 1.0), _sig(0.0 - 1.0)]               # x0 of each instance, minus 1
    pooled3 = (0.5 * cla3[0] + 0.5 * cla3[1]) / 1.0          # equal attention: the mean
    expected = _sig(2.0 * pooled2 - 1.0 * pooled3 + 0.5)
    assert out.proba.item() == pytest.approx(expected, rel=1e-6)
    # Instance weights: the mean of the two layers' normalised attention, 0 on padding.
    w2 = [a / sum(att2) for a in att2]
    np.testing.assert_allclose(out.weights[0, 0, :, 0].detach().numpy(), [(w2[0] + 0.5) / 2, (w2[1] + 0.5) / 2, 0.0],
                               rtol=1e-6)


def test_feature_level_attention_by_hand():
    net = _identity_network("feature_attention")
    p = net.params
    with torch.no_grad():
        # Values: unit 0 = x0 + x1, unit 1 = x0 - x1 - 1.
        p["val_w"][0] = torch.tensor([[1.0, 1.0], [1.0, -1.0]])
        p["val_b"][0] = torch.tensor([0.0, -1.0])
        # Attention per unit: unit 0 attends by x1, unit 1 by -x0.
        p["att_w"][0] = torch.tensor([[0.0, -1.0], [1.0, 0.0]])
        # Output: 0.5 * relu(h0) + 3 * relu(h1) - 1.
        p["out_w"][0] = torch.tensor([[0.5], [3.0]])
        p["out_b"][0] = torch.tensor([-1.0])
    out = net(BAG, BAG_MASK)
    x = [(1.0, 0.0), (0.0, 2.0)]
    val = [[a + b, a - b - 1.0] for a, b in x]               # [[1, 0], [2, -3]]
    att = [[_sig(b), _sig(-a)] for a, b in x]                # unit 0: sig(x1); unit 1: sig(-x0)
    h = [(att[0][j] * val[0][j] + att[1][j] * val[1][j]) / (att[0][j] + att[1][j]) for j in range(2)]
    expected = _sig(0.5 * max(h[0], 0.0) + 3.0 * max(h[1], 0.0) - 1.0)
    assert h[1] < 0                                          # the ReLU after pooling matters here
    assert out.proba.item() == pytest.approx(expected, rel=1e-6)
    # Instance weight: each unit's normalised attention, averaged over the units.
    share = [[att[i][j] / (att[0][j] + att[1][j]) for j in range(2)] for i in range(2)]
    np.testing.assert_allclose(out.weights[0, 0, :, 0].detach().numpy(), [np.mean(share[0]), np.mean(share[1]), 0.0],
                               rtol=1e-6)
