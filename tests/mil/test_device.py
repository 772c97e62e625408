"""``model.device``: one code path on the CPU and a GPU, checked on the CPU with the device passed explicitly."""

import pickle

import numpy as np
import pandas as pd
import pytest
import torch

from scorelens.analysis._data import CorpusBags
from scorelens.analysis._evaluation import evaluate
from scorelens.config import ModelConfig
from scorelens.exceptions import ParameterError
from scorelens.mil import MILClassifier
from scorelens.mil._network import MILNetwork, resolve_device
from scorelens.mil._training import cross_val_network


@pytest.fixture
def no_gpu(monkeypatch):
    """PyTorch sees no GPU, whatever machine runs the tests (so "auto" means the CPU)."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)


@pytest.fixture
def rng():
    return np.random.default_rng(11)


def test_resolve_device(no_gpu):
    assert resolve_device("auto") == torch.device("cpu")
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device(torch.device("cpu")) == torch.device("cpu")
    for name in ("cuda", "cuda:0", "cuda:3"):
        with pytest.raises(ParameterError) as err:
            resolve_device(name)
        message = str(err.value)
        assert "\n" not in message and "model.device" in message and "no CUDA GPU" in message
    for bad in ("gpu", "cuda:", "cuda:x", "", None, 0):
        with pytest.raises(ParameterError, match="unknown"):
            resolve_device(bad)


def test_config_validates_the_device():
    for ok in ("auto", "cpu", "cuda", "cuda:1"):
        assert ModelConfig(device=ok).device == ok
    assert ModelConfig().device == "auto"
    for bad in ("gpu", "CUDA", "cuda:", "mps", 1):
        with pytest.raises(ParameterError, match="device="):
            ModelConfig(device=bad)


def test_network_weights_do_not_depend_on_the_device_setting(no_gpu):
    a = MILNetwork(5, 2, 8, "attention", seeds=[1, 2], device="cpu")
    b = MILNetwork(5, 2, 8, "attention", seeds=[1, 2], device="auto")
    assert a.device == b.device == torch.device("cpu")
    for k in a.params:
        assert torch.equal(a.params[k], b.params[k])
    assert a.select([1]).device == torch.device("cpu")


def test_estimator_cpu_and_auto_give_the_same_numbers(no_gpu, rng, planted):
    bags, Y = planted.witness(rng, 24, n_features=6)
    make = lambda device: MILClassifier("feature_attention", hidden=8, epochs=4, learning_rate=1e-2,
                                        batch_size=8, device=device, random_state=3).fit(bags, Y)
    cpu, auto = make("cpu"), make("auto")
    assert cpu.device_ == auto.device_ == torch.device("cpu")
    assert cpu.get_params()["device"] == "cpu" and auto.get_params()["device"] == "auto"
    p = cpu.predict_proba(bags)
    assert isinstance(p, np.ndarray) and np.array_equal(p, auto.predict_proba(bags))
    assert np.array_equal(cpu.loss_curve_, auto.loss_curve_)
    for wc, wa in zip(cpu.instance_weights(bags), auto.instance_weights(bags)):
        assert np.array_equal(wc, wa)
    # The pickled weights are CPU tensors, and the model loads and predicts on the CPU.
    state = cpu.__getstate__()
    assert all(t.device.type == "cpu" for t in state["_network_state"]["params"].values())
    back = pickle.loads(pickle.dumps(cpu))
    assert back.device_ == torch.device("cpu") and np.array_equal(back.predict_proba(bags), p)


def test_estimator_on_cuda_without_gpu_is_a_one_line_error(no_gpu, rng, planted):
    bags, Y = planted.witness(rng, 6, n_features=4)
    with pytest.raises(ParameterError, match=r"device='cuda' \(model.device\)") as err:
        MILClassifier("average", hidden=4, epochs=1, device="cuda").fit(bags, Y)
    assert "\n" not in str(err.value)


def test_cross_validation_cpu_and_auto_give_the_same_numbers(no_gpu, rng, planted):
    bags, Y = planted.witness(rng, 12, n_features=5)
    folds = [np.array([i]) for i in range(12)]
    kw = dict(pooling="attention", hidden=8, epochs=3, learning_rate=1e-2, batch_size=4, seed=2, n_jobs=2,
              keep_models=True)
    cpu = cross_val_network(bags, Y, folds, device="cpu", **kw)
    auto = cross_val_network(bags, Y, folds, device="auto", **kw)
    assert np.array_equal(cpu.proba, auto.proba) and np.array_equal(cpu.losses, auto.losses)
    assert all(m.network.device == torch.device("cpu") for m in cpu.models)
    # The permutation importance's path: the kept fold models predict again on the same device.
    assert np.array_equal(cpu.predict_held_out([bags])[0], cpu.proba)
    with pytest.raises(ParameterError, match="model.device"):
        cross_val_network(bags, Y, folds, device="cuda:0", **kw)


def _corpus(rng, n=12):
    Y = (rng.random((n, 2)) < 0.5).astype(np.int64)
    Y[Y.sum(axis=1) == 0, 0] = 1
    bags = [(rng.normal(size=(int(rng.integers(1, 6)), 4)) + np.r_[1.5 * y, 0, 0]).astype(np.float32) for y in Y]
    keys = [pd.DataFrame({"cue_id": np.arange(len(b))}) for b in bags]
    return CorpusBags([f"film{i:02d}" for i in range(n)], bags, Y, ("A", "B"),
                      [f"timbre/f{i}/mean" for i in range(4)], "cue", keys, [], "mir")


def test_evaluation_records_the_device_and_auto_equals_cpu(no_gpu, rng):
    data = _corpus(rng)
    fast = dict(hidden_sizes=(8,), epochs=3, learning_rate=1e-2, batch_size=4, cv="kfold:3")
    cpu = evaluate([data], ModelConfig(device="cpu", **fast), models=["network:average"], n_jobs=1)
    auto = evaluate([data], ModelConfig(**fast), models=["network:average"], n_jobs=1)
    assert cpu.run_info["device"] == auto.run_info["device"] == "cpu"
    assert cpu.run_info["device_reason"] == "set explicitly"
    assert auto.run_info["device_reason"] == "auto: PyTorch sees no CUDA GPU"
    rc, ra = (next(r for r in ev.runs if r.family == "network") for ev in (cpu, auto))
    assert np.array_equal(rc.proba, ra.proba) and np.array_equal(rc.pred, ra.pred)
    with pytest.raises(ParameterError, match="model.device"):
        evaluate([data], ModelConfig(device="cuda", **fast), models=["network:average"], n_jobs=1)
