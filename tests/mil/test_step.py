"""The hand-written training step against autograd through MILNetwork."""

import numpy as np
import pytest
import torch

from scorelens.mil._network import NETWORK_POOLINGS, MILNetwork, per_model
from scorelens.mil._pooling import _EPS
from scorelens.mil._step import StackTrainer, Workspace, _relu_, _relu_backward_, build_store, chunk_layout, padded_rows
from scorelens.mil._step import feature_attention_backward as fa_backward
from scorelens.mil._step import feature_attention_sums as fa_sums
from scorelens.mil._training import _batch, fold_standardisation, loss_weights, pad_bags


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_relu_on_bit_patterns_is_exact(dtype):
    x = torch.tensor([-2.5, -0.0, 0.0, 1e-30, 3.0, -1e-30, 7.5], dtype=dtype)
    assert torch.equal(_relu_(x.clone()), torch.relu(x))
    out = torch.relu(x)
    g = torch.linspace(-3, 3, len(x)).to(dtype)
    expected = torch.ops.aten.threshold_backward(g, out, 0)
    assert torch.equal(_relu_backward_(g.clone(), out), expected)


def test_padded_rows_repeat_few_shapes():
    assert padded_rows(1) == 32 and padded_rows(640) == 640 and padded_rows(641) == 672
    sizes = {padded_rows(n) for n in range(500, 1000)}
    assert len(sizes) <= 17 and all(padded_rows(n) - n < max(32, n / 16) for n in range(1, 5000))


@pytest.mark.parametrize("pooling", NETWORK_POOLINGS)
def test_gradients_equal_autograd_through_the_network(pooling, rng):
    n_bags, d, C, h = 7, 5, 3, 8
    bags = [(rng.normal(size=(int(rng.integers(1, 9)), d)) * [1, 10, 0.1, 1, 5] + [0, 100, -3, 0, 1])
            .astype(np.float32) for _ in range(n_bags)]
    Y = (rng.random((n_bags, C)) < 0.5).astype(np.int64)
    train = np.ones((2, n_bags), dtype=bool)
    train[1, 2] = False                             # model 1 holds bag 2 out
    store = build_store(bags, torch.float32)
    shift, scale, mean, dev = fold_standardisation(store, bags, train)
    pos, neg = loss_weights(Y, train)
    net = MILNetwork(d, C, h, pooling, seeds=[3, 4])
    reference = net.select([0, 1])
    trainer = StackTrainer(net, store, shift, scale, pos, neg, learning_rate=1e-3)
    chunk = np.array([4, 2, 0, 6])
    valid = torch.from_numpy(train[:, chunk])
    Yt = torch.from_numpy(Y.astype(np.float32))
    loss = trainer.step(chunk_layout(chunk, store), Yt[chunk], valid)

    # The same loss by the network's own forward on padded, fold-standardised bags.
    padded, sizes = pad_bags(bags)
    idx = np.tile(chunk, (2, 1))
    x, mask, _ = _batch(padded, sizes, idx, int(sizes.max()), torch.from_numpy(mean), torch.from_numpy(dev))
    out = reference(x, mask)
    p = out.proba.clamp(1e-7, 1 - 1e-7)
    y = Yt[chunk]
    pw, nw = torch.from_numpy(pos)[:, None], torch.from_numpy(neg)[:, None]
    bce = -(pw * y * torch.log(p) + nw * (1 - y) * torch.log(1 - p))
    w = valid.float()
    per_fold = (bce.mean(dim=2) * w).sum(dim=1) / w.sum(dim=1)
    grads = torch.autograd.grad(per_fold.sum(), list(reference.params.values()))
    torch.testing.assert_close(loss, per_fold.detach(), rtol=1e-5, atol=1e-6)
    mine = trainer.network_layout(trainer.grad)
    for name, g in zip(reference.params, grads):
        torch.testing.assert_close(mine[name], g, rtol=1e-4, atol=1e-6, msg=f"{pooling}: {name}")


def test_fused_adam_step_equals_torch_optim_adam(rng):
    """Several steps of the trainer's fused Adam against torch.optim.Adam on the same gradients.

    The reference keeps its own copy of every model's flat weights and steps it with
    ``torch.optim.Adam`` (lr as given, betas (0.9, 0.999), eps 1e-8, the study's Keras
    defaults) from the gradients each trainer step leaves in ``trainer.grad``. A model
    with no bag of a step in its training set gets no update and no step count (its
    parameter has no gradient in the reference, which torch.optim.Adam then skips).
    """
    n_bags, d, C, h = 6, 4, 2, 8
    bags = [rng.normal(size=(int(rng.integers(1, 6)), d)).astype(np.float32) for _ in range(n_bags)]
    Y = (rng.random((n_bags, C)) < 0.5).astype(np.int64)
    train = np.ones((2, n_bags), dtype=bool)
    train[1, [0, 1]] = False                       # model 1 never trains on bags 0 and 1
    store = build_store(bags, torch.float32)
    shift, scale, _, _ = fold_standardisation(store, bags, train)
    pos, neg = loss_weights(Y, train)
    lr = 3e-3
    trainer = StackTrainer(MILNetwork(d, C, h, "attention", seeds=[1, 2]), store, shift, scale, pos, neg,
                           learning_rate=lr)
    reference = [torch.nn.Parameter(trainer.flat[m].clone()) for m in range(2)]
    adam = torch.optim.Adam(reference, lr=lr, betas=(0.9, 0.999), eps=1e-8)
    Yt = torch.from_numpy(Y.astype(np.float32))
    chunks = [np.array([2, 3, 4]), np.array([0, 1]), np.array([5, 0, 3]), np.array([1, 4]), np.array([2, 5])]
    moved = torch.zeros(2)
    for chunk in chunks:                            # chunk [0, 1] is empty for model 1
        before = trainer.flat.clone()
        trainer.step(chunk_layout(chunk, store), Yt[chunk], torch.from_numpy(train[:, chunk]))
        for m in range(2):
            active = bool(train[m, chunk].any())
            reference[m].grad = trainer.grad[m].clone() if active else None
        adam.step()
        for m in range(2):
            torch.testing.assert_close(trainer.flat[m], reference[m].detach(), rtol=1e-6, atol=1e-9)
        moved += (trainer.flat - before).abs().amax(dim=1)
        if not train[1, chunk].any():
            assert torch.equal(trainer.flat[1], before[1])      # an empty step leaves the model alone
    assert (moved > lr).all()                     # the weights did move: the comparison is not vacuous
    assert adam.state[reference[1]]["step"].item() == len(chunks) - 1


@pytest.mark.parametrize("hidden, spread", [(64, 1.0), (64, 30.0), (3, 30.0)])
def test_feature_attention_by_hand_has_autograds_bits(hidden, spread, rng):
    # spread 30 saturates the sigmoid, so the clamp holds some values; hidden 3 leaves
    # each model a partial block (the padded sigmoid path).
    bags = [rng.normal(size=(int(rng.integers(1, 40)), 4)).astype(np.float32) for _ in range(9)]
    layout = chunk_layout(np.arange(9), build_store(bags, torch.bfloat16))
    M, R = 3, layout.n_rows
    gen = torch.Generator().manual_seed(0)
    z = (torch.randn((M, 2 * hidden, R), generator=gen) * spread).to(torch.bfloat16)
    upstream = torch.randn((M, hidden, 9), generator=gen)

    v = z[:, :hidden].float().requires_grad_()
    logits = z[:, hidden:].float().requires_grad_()
    att = per_model(torch.sigmoid, logits).clamp(_EPS, 1.0 - _EPS)
    members = layout.members.expand(M, *layout.members.shape)
    weighted, total = torch.bmm(att * v, members), torch.bmm(att, members)
    expected = torch.cat(torch.autograd.grad(((weighted / total) * upstream).sum(), [v, logits]), dim=1)

    work = Workspace()
    mine_weighted, mine_total, ctx = fa_sums(z, layout, work)
    assert torch.equal(mine_weighted, weighted) and torch.equal(mine_total, total)
    if spread > 1:
        assert (ctx.slope == 0).any()             # the clamp path ran
    leaves = [mine_weighted.requires_grad_(), mine_total.requires_grad_()]
    g_weighted, g_total = torch.autograd.grad(((leaves[0] / leaves[1]) * upstream).sum(), leaves)
    out = fa_backward(g_weighted, g_total, ctx, layout, work, torch.empty_like(z))
    assert torch.equal(out, expected.to(torch.bfloat16))
    padding = out[:, :, int(layout.offsets[-1]):]
    assert padding.numel() and not padding.any()
