"""The scikit-learn face of the MIL networks: :class:`MILClassifier`."""

from __future__ import annotations

import numpy as np
import torch
from sklearn.utils import check_random_state

from scorelens.config import ModelConfig as _StudyModel
from scorelens.exceptions import ParameterError
from scorelens.mil._base import BagClassifier
from scorelens.mil._network import MILNetwork, check_pooling, resolve_device, resolve_precision
from scorelens.mil._step import build_store
from scorelens.mil._training import (
    fold_seed,
    fold_standardisation,
    loss_weights,
    make_plan,
    pad_bags,
    predict_stack,
    train_stack,
)

#: The study's training settings (written once, in scorelens.config): the defaults below.
STUDY = _StudyModel()

__all__ = ["MILClassifier"]


class MILClassifier(BagClassifier):
    """Multiple-instance neural network (the study's Fig 2) with one of Table 3's poolings.

    Parameters
    ----------
    pooling : {"max", "average", "linear_softmax", "attention", "multi_attention", "feature_attention"}
    hidden : int, default=128
        Units per embedding layer (the study used 64 and 128).
    epochs : int, default=200
    learning_rate : float, default=5e-5
        Adam's step size.
    batch_size : int, default=16
        Bags per mini-batch.
    threshold : float, default=0.5
        A label is predicted when its probability reaches this.
    precision : {"auto", "float32", "bfloat16"}, default="auto"
        Arithmetic of the instance layers (see :class:`~scorelens.mil._network.MILNetwork`);
        ``auto`` uses bfloat16 mixed precision where the CPU computes it natively.
    device : {"auto", "cpu", "cuda"} or "cuda:N", default="auto"
        Where the network trains and predicts (:func:`~scorelens.mil._network.resolve_device`;
        ``auto``: a CUDA GPU when PyTorch sees one). Resolved in :meth:`fit`; a pickled model
        holds its weights on the CPU and predicts on the CPU when loaded.
    random_state : int, RandomState or None
        Seed of the initial weights and of the batch order; the same seed gives the same
        numbers.

    Attributes
    ----------
    network_ : MILNetwork
        The trained network (a stack of one), on :attr:`device_`.
    device_ : torch.device
        Where the network was trained and predicts.
    mean_, scale_ : np.ndarray [shape=(n_features,)]
        Instance standardisation fitted on the training bags.
    loss_curve_ : np.ndarray [shape=(epochs,)]
        Mean weighted cross-entropy of each epoch.
    n_features_in_, n_labels_ : int

    Examples
    --------
    >>> clf = MILClassifier(pooling="attention", epochs=200, random_state=0)   # doctest: +SKIP
    >>> clf.fit(bags, Y).predict_proba(bags).shape                            # doctest: +SKIP
    (110, 6)
    >>> clf.instance_weights(bags[:1])[0].shape    # which cues drove each label  # doctest: +SKIP
    (41, 6)
    """

    def __init__(self, pooling="attention", hidden=STUDY.hidden, epochs=STUDY.epochs,
                 learning_rate=STUDY.learning_rate, batch_size=STUDY.batch_size,
                 threshold=0.5, precision="auto", device="auto", random_state=None):
        self.pooling = pooling
        self.hidden = hidden
        self.epochs = epochs
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.threshold = threshold
        self.precision = precision
        self.device = device
        self.random_state = random_state

    def _check_params(self) -> None:
        check_pooling(self.pooling)
        resolve_precision(self.precision)
        resolve_device(self.device)
        for name in ("hidden", "epochs", "batch_size"):
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
                raise ParameterError(f"{name}={value!r} must be a positive integer")
        if not (isinstance(self.learning_rate, (int, float)) and self.learning_rate > 0):
            raise ParameterError(f"learning_rate={self.learning_rate!r} must be a positive number")
        if not (isinstance(self.threshold, (int, float)) and 0 < self.threshold < 1):
            raise ParameterError(f"threshold={self.threshold!r} must be in (0, 1)")

    def _seed(self) -> int:
        if isinstance(self.random_state, (int, np.integer)) and not isinstance(self.random_state, bool):
            return int(self.random_state)
        return int(check_random_state(self.random_state).randint(2**31 - 1))

    def _fit(self, bags, Y):
        seed = self._seed()
        train = np.ones((1, len(bags)), dtype=bool)
        precision = resolve_precision(self.precision)
        device = resolve_device(self.device)
        plan = make_plan(train, epochs=int(self.epochs), batch_size=int(self.batch_size), seed=seed)
        store = build_store(bags, MILNetwork.dtype_of(precision), device)
        shift, scale, mean, deviation = fold_standardisation(store, bags, train)
        pos, neg = loss_weights(Y, train)
        net, losses = train_stack(store, Y, plan, train, [fold_seed(seed, 0)], shift, scale, pos, neg,
                                  pooling=self.pooling, hidden=int(self.hidden),
                                  learning_rate=float(self.learning_rate), precision=precision)
        self.network_ = net
        self.device_ = device
        self.mean_, self.scale_ = mean[0], deviation[0]
        self.loss_curve_ = losses[:, 0]

    def _run(self, bags, chunk: int = 64):
        probas, weights = [], []
        for start in range(0, len(bags), chunk):
            part = bags[start:start + chunk]
            padded, sizes = pad_bags(part)
            idx = np.arange(len(part), dtype=np.int64)[None, :]
            p, w = predict_stack(self.network_, padded, sizes, idx, padded.shape[1],
                                 self.mean_[None], self.scale_[None])
            probas.append(p[0])
            weights.extend(w[0, i, :b.shape[0]] for i, b in enumerate(part))
        return np.concatenate(probas).astype(np.float64), weights

    def _proba(self, bags):
        return self._run(bags)[0]

    def instance_weights(self, bags) -> list[np.ndarray]:
        """Weight of each instance in each label's bag prediction (which cues mattered).

        Parameters
        ----------
        bags : list of np.ndarray [shape=(n_instances_i, n_features)]

        Returns
        -------
        list of np.ndarray [shape=(n_instances_i, n_labels) or (n_instances_i,)]
            Rows sum to 1 over a bag's instances for each label (see
            :class:`scorelens.mil._network.NetworkOutput` for what the weight is per pooling).
        """
        weights = self._run(self._checked(bags))[1]
        return [w[:, 0] if self.one_d_ else w for w in weights]

    def __getstate__(self):
        # Pickle the weights as plain tensors, not the module, so artifacts stay loadable
        # across scorelens versions that keep the parameter names; on the CPU, so that a
        # model trained on a GPU loads on a machine without one.
        state = self.__dict__.copy()
        state.pop("device_", None)
        if "network_" in state:
            net = state.pop("network_")
            state["_network_state"] = {"n_features": net.n_features, "n_labels": net.n_labels,
                                       "hidden": net.hidden, "pooling": net.pooling, "precision": net.precision,
                                       "params": {k: v.detach().cpu().clone() for k, v in net.params.items()}}
        return state

    def __setstate__(self, state):
        net_state = state.pop("_network_state", None)
        self.__dict__.update(state)
        if net_state is not None:
            net = MILNetwork(net_state["n_features"], net_state["n_labels"], net_state["hidden"],
                             net_state["pooling"], seeds=[0],
                             precision=net_state.get("precision", "float32"))
            with torch.no_grad():
                for k, v in net_state["params"].items():
                    net.params[k].copy_(v)
            net.eval()
            self.network_ = net
            self.device_ = net.device
