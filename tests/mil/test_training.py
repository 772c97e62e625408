import numpy as np
import pytest
import torch

from scorelens.exceptions import ParameterError
from scorelens.mil._network import NETWORK_POOLINGS, MILNetwork, cpu_flags
from scorelens.mil._training import (
    cross_val_network,
    fit_scalers,
    fold_stacks,
    loss_weights,
    make_plan,
    single_threaded_kernels,
)


@pytest.fixture
def small(rng):
    n, d, C = 12, 6, 3
    Y = (rng.random((n, C)) < 0.4).astype(np.int64)
    bags = [rng.normal(size=(int(rng.integers(1, 20)), d)).astype(np.float32) for _ in range(n)]
    return bags, Y


@pytest.mark.parametrize("precision", ["float32", "bfloat16"])
@pytest.mark.parametrize("pooling", NETWORK_POOLINGS)
def test_vectorised_folds_equal_sequential_bit_for_bit(pooling, precision, small):
    bags, Y = small
    folds = [np.array([i]) for i in range(len(bags))]
    kw = dict(pooling=pooling, hidden=8, epochs=2, learning_rate=1e-2, batch_size=4, seed=11, precision=precision)
    together = cross_val_network(bags, Y, folds, vectorise=True, n_jobs=2, **kw)
    alone = cross_val_network(bags, Y, folds, vectorise=False, n_jobs=2, **kw)
    assert np.array_equal(together.proba, alone.proba)
    assert np.array_equal(together.losses, alone.losses)
    assert all(np.array_equal(a, b) for a, b in zip(together.weights, alone.weights))
    # Stacks of other sizes (and one thread) change nothing either.
    chunked = cross_val_network(bags, Y, folds, vectorise=True, fold_chunk=5, n_jobs=1, **kw)
    assert np.array_equal(together.proba, chunked.proba)


@pytest.mark.parametrize("precision", ["float32", "bfloat16"])
def test_identical_at_the_study_sizes(precision, rng):
    # Kernels pick their blocking by matrix size: check at the study's widths too
    # (MIR-like 140 features, 128 hidden units, bags of tens of cues).
    n, d, C = 14, 140, 6
    Y = (rng.random((n, C)) < 0.4).astype(np.int64)
    bags = [rng.normal(size=(int(rng.integers(20, 60)), d)).astype(np.float32) for _ in range(n)]
    folds = [np.array([i]) for i in range(n)]
    kw = dict(pooling="feature_attention", hidden=128, epochs=1, learning_rate=1e-3, batch_size=4, seed=3,
              precision=precision)
    together = cross_val_network(bags, Y, folds, n_jobs=1, **kw)
    alone = cross_val_network(bags, Y, folds, vectorise=False, n_jobs=1, only=[0, 7, 13], **kw)
    if precision == "bfloat16" and "amx_bf16" not in (cpu_flags() or ()):
        # Without AMX the library's bfloat16 products follow the stack's shape in their
        # blocking: emulated (an AMD EPYC without AVX-512 BF16) and with AVX-512 BF16 alone
        # (an AMD EPYC Zen 4: 3e-8 apart): an ulp or so. Bit-identical with AMX, and in float32.
        np.testing.assert_allclose(together.proba[[0, 7, 13]], alone.proba[[0, 7, 13]], rtol=0, atol=1e-6)
    else:
        assert np.array_equal(together.proba[[0, 7, 13]], alone.proba[[0, 7, 13]])


def test_precisions_agree_closely_and_differ(small):
    bags, Y = small
    folds = [np.array([i]) for i in range(len(bags))]
    kw = dict(pooling="attention", hidden=8, epochs=2, learning_rate=1e-2, batch_size=4, seed=5)
    full = cross_val_network(bags, Y, folds, precision="float32", **kw).proba
    half = cross_val_network(bags, Y, folds, precision="bfloat16", **kw).proba
    assert not np.array_equal(full, half)          # the setting reaches the arithmetic
    assert np.abs(full - half).max() < 0.02        # and mixed precision changes little


def test_unknown_precision_is_refused(small):
    bags, Y = small
    with pytest.raises(ParameterError, match="precision"):
        cross_val_network(bags, Y, [np.array([i]) for i in range(len(bags))], precision="float16", epochs=1)


def test_kfold_with_uneven_folds_is_exact_too(small):
    bags, Y = small
    folds = np.array_split(np.random.default_rng(0).permutation(len(bags)), 5)   # sizes 5 and 4
    kw = dict(pooling="attention", hidden=8, epochs=2, learning_rate=1e-2, batch_size=4, seed=2)
    a = cross_val_network(bags, Y, folds, **kw)
    b = cross_val_network(bags, Y, folds, vectorise=False, **kw)
    assert np.array_equal(a.proba, b.proba)
    assert a.proba.shape == (len(bags), 3) and all(w.shape == (len(bag), 3) for w, bag in zip(a.weights, bags))


def test_folds_must_partition_the_bags(small):
    bags, Y = small
    with pytest.raises(ParameterError, match="exactly one test set"):
        cross_val_network(bags, Y, [np.array([0, 1])], epochs=1)


def test_plan_depends_on_seed_and_training_sets_only():
    train = ~np.eye(8, dtype=bool)
    a = make_plan(train, epochs=2, batch_size=3, seed=5)
    assert a.chunk_size == 3 and len(a.epoch_ends) == 2
    for epoch_start, epoch_end in zip([0, a.epoch_ends[0] + 1], a.epoch_ends):
        seen = np.concatenate(a.steps[epoch_start:epoch_end + 1])
        assert sorted(seen) == list(range(8))          # every bag once per epoch
    c = make_plan(train, epochs=2, batch_size=3, seed=6)
    assert any(not np.array_equal(x, y) for x, y in zip(a.steps, c.steps))
    # A bag no fold trains on is never scheduled; k-fold chunks grow so that a fold's
    # share averages the batch size (4 folds of 20 bags train on 15: chunks of 16 * 20 / 15).
    partial = np.ones((1, 8), dtype=bool)
    partial[0, 3] = False
    assert all(3 not in s for s in make_plan(partial, epochs=1, batch_size=3, seed=5).steps)
    kfold = np.ones((4, 20), dtype=bool)
    for f in range(4):
        kfold[f, f * 5:(f + 1) * 5] = False
    assert make_plan(kfold, epochs=1, batch_size=16, seed=0).chunk_size == 21


def test_scalers_and_loss_weights_use_training_bags_only():
    bags = [np.full((2, 1), 0.0), np.full((1, 1), 10.0), np.full((1, 1), 20.0)]
    train = np.array([[False, True, True], [True, False, True]])
    mean, scale = fit_scalers(bags, train)
    np.testing.assert_allclose(mean[:, 0], [15.0, 20 / 3], rtol=1e-6)
    np.testing.assert_allclose(scale[:, 0], [5.0, np.std([0, 0, 20])], rtol=1e-6)
    Y = np.array([[1], [0], [0]])
    pos, neg = loss_weights(Y, train)
    np.testing.assert_allclose(pos[:, 0], [1.0, 1.0])       # fold 0 has no positive: weight 1
    np.testing.assert_allclose(neg[:, 0], [0.5, 1.0])       # n / (2 * n_neg): 2 / 4, then 2 / 2


def test_fold_stacks_and_thread_setting_restored():
    assert fold_stacks(5, vectorise=True, n_jobs=2) == [[0, 1, 2], [3, 4]]
    assert fold_stacks(3, vectorise=False) == [[0], [1], [2]]
    before = torch.get_num_threads()
    with single_threaded_kernels():
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before


@pytest.mark.parametrize("pooling", ["attention", "multi_attention", "feature_attention"])
def test_one_epoch_equals_plain_pytorch_training(pooling, rng):
    """One epoch of a 3-fold stack against each fold trained alone with autograd and torch.optim.Adam.

    The reference follows the documented protocol, not the trainer's code: each fold's
    own StandardScaler (scikit-learn, fitted on its training bags) applied to the raw
    bags (the trainer folds it into its first layer instead), class weights
    ``n / (2 n_class)`` from the fold's training labels, the epoch's shuffle from
    ``SeedSequence([seed, "epoc", epoch])`` cut into chunks of ``round(batch * n /
    mean training bags)`` bags, a fold's mini-batch being its training bags of the
    chunk, the loss a mean of the weighted binary cross-entropy over the mini-batch's
    bags and labels, and Adam with PyTorch's defaults but the learning rate.
    """
    from sklearn.preprocessing import StandardScaler

    n, d, C, h, seed, lr, batch = 12, 5, 3, 8, 4, 1e-2, 3
    Y = (rng.random((n, C)) < 0.4).astype(np.int64)
    bags = [(rng.normal(size=(int(rng.integers(1, 7)), d)) * [1, 3, 0.5, 1, 2] + [0, 5, -1, 0, 2])
            .astype(np.float32) for _ in range(n)]
    folds = [np.arange(i, n, 3) for i in range(3)]
    res = cross_val_network(bags, Y, folds, pooling=pooling, hidden=h, epochs=1, learning_rate=lr,
                            batch_size=batch, seed=seed, precision="float32", n_jobs=1, keep_models=True)
    # The schedule, from the documented seeds (every bag trains in some fold, so none is dropped).
    mean_train = np.mean([n - len(t) for t in folds])
    chunk = int(round(batch * n / mean_train))
    order = np.random.default_rng(np.random.SeedSequence([seed, 0x65706F63, 0])).permutation(n)
    chunks = [order[s:s + chunk] for s in range(0, n, chunk)]
    Yt = torch.from_numpy(Y.astype(np.float32))
    for f, test in enumerate(folds):
        train = np.setdiff1d(np.arange(n), test)
        scaler = StandardScaler().fit(np.concatenate([bags[i] for i in train]).astype(np.float64))
        std = [torch.from_numpy(scaler.transform(b.astype(np.float64)).astype(np.float32)) for b in bags]
        n_pos = Y[train].sum(axis=0)
        pos = torch.tensor(np.where(n_pos > 0, len(train) / (2 * np.maximum(n_pos, 1)), 1.0), dtype=torch.float32)
        neg = torch.tensor(np.where(len(train) - n_pos > 0, len(train) / (2 * np.maximum(len(train) - n_pos, 1)),
                                    1.0), dtype=torch.float32)
        net = MILNetwork(d, C, h, pooling, seeds=[int(np.random.SeedSequence([seed, f]).generate_state(1)[0])])
        adam = torch.optim.Adam(net.parameters(), lr=lr)
        start = {k: v.detach().clone() for k, v in net.params.items()}

        def batch_of(idx):
            length = max(len(bags[i]) for i in idx)
            x = torch.zeros((1, len(idx), length, d))
            mask = torch.zeros((1, len(idx), length), dtype=torch.bool)
            for s, i in enumerate(idx):
                x[0, s, :len(bags[i])] = std[i]
                mask[0, s, :len(bags[i])] = True
            return x, mask

        for c in chunks:
            mine = [i for i in c if i in set(train)]
            if not mine:
                continue
            x, mask = batch_of(mine)
            proba = net(x, mask).proba[0]
            y = Yt[mine]
            loss = torch.nn.functional.binary_cross_entropy(proba, y, weight=pos * y + neg * (1 - y))
            adam.zero_grad()
            loss.backward()
            adam.step()
        stack = next(s for s in res.models if f in s.rows)
        j = stack.rows.index(f)
        for name, value in net.params.items():
            trained = stack.network.params[name][j]
            assert not torch.equal(trained, start[name][0]), name      # the epoch changed every parameter
            torch.testing.assert_close(trained, value.detach()[0], rtol=1e-4, atol=2e-6, msg=f"fold {f}: {name}")
        # The held-out bags' probabilities, from the reference network on its own scaler.
        with torch.no_grad():
            x, mask = batch_of(list(test))
            np.testing.assert_allclose(res.proba[test], net(x, mask).proba[0].numpy(), rtol=1e-5, atol=1e-6)
