import json

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.neighbors import KNeighborsClassifier

from scorelens.analysis._data import CorpusBags
from scorelens.analysis._evaluation import cross_val_estimator, evaluate, make_folds
from scorelens.analysis._metrics import genre_scores
from scorelens.config import ModelConfig
from scorelens.exceptions import ParameterError
from scorelens.mil import MILClassifier, SimpleMI
from scorelens.mil._training import cross_val_network
from scorelens.stages._evaluate import write_evaluation
from scorelens.workspace import Workspace

GENRES = ("Action", "Comedy", "Drama")
FAST = dict(hidden_sizes=(8,), epochs=15, learning_rate=1e-2, batch_size=8)


def planted(rng, n=36, informative=True, kind="mir"):
    """Films whose cue means are shifted by their genres (or pure noise when not informative)."""
    Y = (rng.random((n, 3)) < 0.4).astype(np.int64)
    Y[Y.sum(axis=1) == 0, 0] = 1
    bags = []
    for y in Y:
        b = rng.normal(size=(int(rng.integers(1, 9)), 6)).astype(np.float32)
        if informative:
            b[:, :3] += 1.5 * y
        bags.append(b)
    keys = [pd.DataFrame({"cue_id": np.arange(len(b))}) for b in bags]
    return CorpusBags([f"film{i:03d}" for i in range(n)], bags, Y, GENRES,
                      [f"timbre/f{i}/mean" for i in range(6)], "cue", keys, [], kind)


@pytest.fixture
def rng():
    return np.random.default_rng(7)


def test_loo_leaks_nothing_memorisable(rng):
    # Every film carries a one-hot identity feature and random labels: a model that ever saw
    # the test film would recognise it (1-NN in-sample is perfect); held out, it cannot.
    n = 30
    Y = (rng.random((n, 2)) < 0.5).astype(np.int64)
    bags = [np.tile(np.eye(n, dtype=np.float32)[i], (3, 1)) + 0.01 * rng.normal(size=(3, n)).astype(np.float32)
            for i in range(n)]
    one_nn = SimpleMI(KNeighborsClassifier(n_neighbors=1))
    in_sample = genre_scores(Y, one_nn.fit(bags, Y).predict(bags), GENRES[:2])["macro"]["f1"]
    folds = make_folds(n, ModelConfig())
    _, pred = cross_val_estimator(one_nn, bags, Y, folds)
    held_out = genre_scores(Y, pred, GENRES[:2])["macro"]["f1"]
    assert in_sample == 1.0 and held_out < 0.75
    net = MILClassifier("average", hidden=16, epochs=60, learning_rate=3e-2, random_state=0).fit(bags, Y)
    net_in = genre_scores(Y, net.predict(bags), GENRES[:2])["macro"]["f1"]
    res = cross_val_network(bags, Y, folds, pooling="average", hidden=16, epochs=60, learning_rate=3e-2, seed=0)
    net_out = genre_scores(Y, (res.proba >= 0.5).astype(int), GENRES[:2])["macro"]["f1"]
    assert net_in > 0.9 and net_out < 0.75, (net_in, net_out)


class Spy(ClassifierMixin, BaseEstimator):
    """Records the bag means it is trained on (Simple MI hands it standardised means)."""

    seen: list = []

    def fit(self, X, y):
        Spy.seen.append(np.asarray(X).copy())
        self.classes_ = np.unique(y)
        return self

    def predict(self, X):
        return np.zeros(len(X), dtype=int)

    def predict_proba(self, X):
        return np.tile([1.0, 0.0], (len(X), 1))


def test_test_film_never_reaches_fit(rng):
    data = planted(rng, n=12)
    Spy.seen = []
    # Bag i's mean is i in every feature, so the rows a fold trains on name the films it saw.
    bags = [np.full((2, 3), float(i), dtype=np.float32) for i in range(12)]
    cross_val_estimator(SimpleMI(Spy()), bags, data.Y, make_folds(12, ModelConfig()))
    assert len(Spy.seen) == 12 * 3                       # 12 folds x 3 genres
    for fold, X in enumerate(Spy.seen[::3]):
        assert X.shape == (11, 3)
        seen = set(np.argsort(np.argsort(X[:, 0])))     # ranks only: the values are standardised
        assert len(seen) == 11
        # The held-out film's mean (fold index) is absent: the standardised column is that of the others.
        others = np.delete(np.arange(12.0), fold)
        np.testing.assert_allclose(X[:, 0], (others - others.mean()) / others.std(), atol=1e-6)


def test_table4_from_planted_structure(rng, tmp_path):
    sets = [planted(rng, kind="mir"), planted(np.random.default_rng(8), informative=False, kind="noise")]
    sets[1].Y[:] = sets[0].Y                             # same films, same labels
    config = ModelConfig(seed=3, poolings=("average", "attention"), base_classifiers=("knn", "svm"), **FAST)
    ev = evaluate(sets, config, n_jobs=1)
    rows = ev.table4()
    assert [r["model"] for r in rows[:2]] == ["Random Guess", "Plurality Label"]
    assert [r["features"] for r in rows] == ["None"] * 2 + ["mir"] * 4 + ["noise"] * 4
    assert rows[2]["model"].endswith("- Simple MI") and rows[3]["model"].endswith("- IMV")
    assert [r["model"] for r in rows[4:6]] == ["Avg. Pooling", "Single Attn"]
    random_f1 = rows[0]["f1"]
    for r in rows[2:6]:                                  # informative features beat the random guess
        assert r["f1"] > random_f1 + 0.2 and r["p_precision"] < 0.01, r
    simple = [run for run in ev.runs if run.features == "mir" and run.family == "simple_mi"]
    assert rows[2]["f1"] == max(run.scores["macro"]["f1"] for run in simple)   # best base kept in the table
    paths = write_evaluation(Workspace(tmp_path / "ws"), ev, "test")
    assert paths["markdown"].read_text().count("\n| ") == 11   # header + 10 rows
    report = json.loads(paths["json"].read_text())
    assert len(report["runs"]) == 2 + 2 * (2 + 2 + 2) and report["settings"]["seed"] == 3
    assert set(report["runs"][2]["genres"]) == set(GENRES)
    pred = pd.read_parquet(paths["predictions"])
    assert len(pred) == len(ev.runs) * 36 * 3 and set(pred.columns) >= {"film_id", "model", "genre", "probability"}
    weights = pd.read_parquet(paths["weights"])
    assert set(weights["model"]) == {"network:average", "network:attention"} and "cue_id" in weights.columns
    assert pd.read_csv(paths["csv"]).shape == (10, 8)          # with the networks' hidden size


def test_reproducible_from_the_seed(rng):
    data = planted(rng, n=12)
    run = lambda seed: evaluate([data], ModelConfig(seed=seed, **FAST), models=["simple_mi:knn", "network:attention"],
                                n_jobs=1)
    a, b, c = run(1), run(1), run(2)
    for ra, rb in zip(a.runs, b.runs):
        assert np.array_equal(ra.proba, rb.proba) and np.array_equal(ra.pred, rb.pred)
    net = lambda ev: next(r for r in ev.runs if r.family == "network").proba
    assert not np.array_equal(net(a), net(c))


def test_kfold_and_bad_inputs(rng):
    data = planted(rng, n=20)
    folds = make_folds(20, ModelConfig(cv="kfold:4", seed=0))
    assert sorted(np.concatenate(folds).tolist()) == list(range(20)) and len(folds) == 4
    with pytest.raises(ParameterError, match="asks for 40 folds but there are only 20 films"):
        make_folds(20, ModelConfig(cv="kfold:40"))
    with pytest.raises(ParameterError, match="cv='kfold:x' must be 'loo' or 'kfold:K'"):
        ModelConfig(cv="kfold:x")
    wide = planted(rng, n=20)
    wide.Y = np.c_[wide.Y, wide.Y[:, :1]]
    with pytest.raises(ParameterError, match="y has 4 label columns, expected 3"):
        evaluate([wide], ModelConfig(**FAST), models=["baselines"])
    with pytest.raises(ParameterError, match="model 'simple_mi:tree' is unknown"):
        evaluate([data], ModelConfig(**FAST), models=["simple_mi:tree"])


def test_an_interrupted_sweep_resumes_from_its_saved_runs(rng, tmp_path, monkeypatch):
    from scorelens.analysis import _evaluation as ev_mod
    from scorelens.mil import _crossval as cv_mod
    from scorelens.workspace import Workspace

    data = planted(rng, n=12)
    config = ModelConfig(seed=3, **FAST)
    models = ["simple_mi:knn", "network:attention", "imv:knn"]
    cache = ev_mod.RunCache(Workspace(tmp_path / "ws"), tmp_path / "ws" / "runs")
    reference = evaluate([data], config, models=models, n_jobs=1)

    # A crash in the third model: the runs before it are saved, nothing of the third.
    real = cv_mod.make_model
    def crash_on_imv(key, *a, **k):
        if key.startswith("imv:"):
            raise KeyboardInterrupt
        return real(key, *a, **k)
    monkeypatch.setattr(cv_mod, "make_model", crash_on_imv)
    with pytest.raises(KeyboardInterrupt):
        evaluate([data], config, models=models, n_jobs=1, cache=cache)
    saved = sorted(p.name for p in (tmp_path / "ws" / "runs").glob("*.npz"))
    assert saved == ["mir-network_attention-h8.npz", "mir-simple_mi_knn.npz", "none-random.npz"]

    # The re-run computes only the missing model, and every number equals an uninterrupted run's.
    monkeypatch.setattr(cv_mod, "make_model", real)
    def no_network(*a, **k):
        raise AssertionError("a saved network run was trained again")
    monkeypatch.setattr(cv_mod, "cross_val_network", no_network)
    resumed = evaluate([data], config, models=models, n_jobs=1, cache=cache)
    assert [r.key for r in resumed.runs] == [r.key for r in reference.runs]
    for a, b in zip(reference.runs, resumed.runs):
        np.testing.assert_array_equal(a.proba, b.proba)
        np.testing.assert_array_equal(a.pred, b.pred)
        assert a.scores == b.scores
    net = next(r for r in resumed.runs if r.family == "network")
    ref_net = next(r for r in reference.runs if r.family == "network")
    assert all(np.array_equal(x, y) for x, y in zip(net.weights, ref_net.weights))

    # Other settings (or other data) are computed anew, not taken from the saved runs.
    with pytest.raises(AssertionError, match="trained again"):
        evaluate([data], ModelConfig(seed=4, **FAST), models=["network:attention"], n_jobs=1, cache=cache)
    # A damaged saved run is computed again (with a warning), not trusted.
    monkeypatch.setattr(cv_mod, "cross_val_network", cross_val_network)
    (tmp_path / "ws" / "runs" / "mir-network_attention-h8.npz").write_bytes(b"not an npz")
    again = evaluate([data], config, models=["network:attention"], n_jobs=1, cache=cache)
    np.testing.assert_array_equal(next(r for r in again.runs if r.family == "network").proba, ref_net.proba)


def test_a_truncated_saved_run_is_computed_again(rng, tmp_path, caplog):
    # A saved run cut short (a full disk, a partial copy) is a broken zip archive, not a
    # missing file: it must be recomputed with a warning, not stop the sweep.
    from scorelens.analysis._evaluation import RunCache
    from scorelens.workspace import Workspace

    data = planted(rng, n=10)
    config = ModelConfig(seed=2, **FAST)
    cache = RunCache(Workspace(tmp_path / "ws"), tmp_path / "ws" / "runs")
    first = evaluate([data], config, models=["simple_mi:knn"], n_jobs=1, cache=cache)
    saved = tmp_path / "ws" / "runs" / "mir-simple_mi_knn.npz"
    saved.write_bytes(saved.read_bytes()[: saved.stat().st_size // 2])
    with caplog.at_level("WARNING"):
        again = evaluate([data], config, models=["simple_mi:knn"], n_jobs=1, cache=cache)
    # Its size no longer matches its record: noticed before it is read, and computed again.
    assert "damaged since it was written" in caplog.text and str(saved) in caplog.text
    for a, b in zip(first.runs, again.runs):
        np.testing.assert_array_equal(a.proba, b.proba)


def test_imv_forest_follows_the_configured_decomposition(rng, monkeypatch):

    from scorelens.mil import _crossval as cv_mod

    seen = []
    real = cv_mod.make_model
    def spy(key, *a, **k):
        est = real(key, *a, **k)
        seen.append(est.get_params().get("multi_output"))
        return est
    monkeypatch.setattr(cv_mod, "make_model", spy)
    data = planted(rng, n=12)
    for multi in (True, False):
        ev = evaluate([data], ModelConfig(imv_multi_output=multi, **FAST), models=["imv:rf"], n_jobs=1)
        assert seen[-1] is multi
        assert ev.config.imv_multi_output is multi


def test_table4_p_is_scipys_paired_t_test_of_per_film_precision(rng):
    """Table 4's p against scipy.stats.ttest_rel on per-film precisions computed here by scikit-learn."""
    from scipy import stats
    from sklearn.metrics import precision_score

    data = planted(rng, n=30)
    ev = evaluate([data], ModelConfig(seed=2, **FAST), models=["simple_mi:knn", "imv:knn"], n_jobs=1)
    random_run = next(r for r in ev.runs if r.key == "random")

    def per_film(pred):   # a film's precision over its genres; 0 when it gets none (zero_division=0)
        return np.array([precision_score(y, p, zero_division=0) for y, p in zip(data.Y, pred)])

    rows = {r["key"]: r for r in ev.table4()}
    for key in ("simple_mi:knn", "imv:knn"):
        run = next(r for r in ev.runs if r.key == key)
        a, b = per_film(run.pred), per_film(random_run.pred)
        assert not np.allclose(a - b, (a - b)[0])       # a real t-test, not the constant-difference case
        ref = stats.ttest_rel(a, b)
        assert rows[key]["p_precision"] == pytest.approx(ref.pvalue, rel=1e-9)
        assert run.tests["precision"]["t"] == pytest.approx(ref.statistic, rel=1e-9)
        assert run.tests["precision"]["mean_model"] == pytest.approx(a.mean())


def test_each_network_runs_every_hidden_size_and_table4_shows_the_better(rng, tmp_path, monkeypatch):
    from sklearn.metrics import f1_score

    from scorelens.analysis import _evaluation as ev_mod
    from scorelens.workspace import Workspace

    data = planted(rng, n=16)
    kw = dict(FAST, hidden_sizes=(4, 12), epochs=8)
    config = ModelConfig(seed=1, **kw)
    cache = ev_mod.RunCache(Workspace(tmp_path / "ws"), tmp_path / "ws" / "runs")
    ev = evaluate([data], config, models=["simple_mi:knn", "average", "attention"], n_jobs=1, cache=cache)
    folds = make_folds(16, config)
    rows = {r["model"]: r for r in ev.table4()}
    assert rows["kNN - Simple MI"]["hidden"] is None
    for pooling, name in (("average", "Avg. Pooling"), ("attention", "Single Attn")):
        runs = [r for r in ev.runs if r.key == f"network:{pooling}"]
        assert [r.hidden for r in runs] == [4, 12]
        f1 = {}
        for r in runs:
            # Each size's run is that network cross-validated on its own.
            alone = cross_val_network(data.bags, data.Y, folds, pooling=pooling, hidden=r.hidden, epochs=8,
                                      learning_rate=1e-2, batch_size=8, seed=1, precision=config.precision)
            np.testing.assert_array_equal(r.proba, alone.proba)
            f1[r.hidden] = f1_score(data.Y, (alone.proba >= 0.5).astype(int), average="macro", zero_division=0)
        better = max(f1, key=lambda h: (f1[h], -h))          # a tie goes to the size listed first
        assert rows[name]["hidden"] == better and rows[name]["f1"] == pytest.approx(f1[better])
        shown = ev.predictions().query(f"model == 'network:{pooling}'")
        assert len(shown) == 16 * 3                               # one run per (features, model)
        chosen = next(r for r in runs if r.hidden == better)
        np.testing.assert_allclose(shown["probability"].to_numpy().reshape(16, 3), chosen.proba)
    assert {(r["key"], r["hidden"]) for r in ev.to_json()["runs"] if r["key"].startswith("network")} == {
        ("network:average", 4), ("network:average", 12), ("network:attention", 4), ("network:attention", 12)}
    md = ev.to_markdown()
    assert "| Features | Model | Hidden |" in md and f"| mir | Avg. Pooling | {rows['Avg. Pooling']['hidden']} |" in md
    assert "the better of 4 and 12 by macro F1" in md
    assert "Hidden:" not in evaluate([data], config, models=["simple_mi:knn"], n_jobs=1).to_markdown()

    # Each size is saved on its own: adding a size trains only the new one.
    from scorelens.mil import _crossval as cv_mod

    trained = []
    real = cv_mod.cross_val_network
    monkeypatch.setattr(cv_mod, "cross_val_network", lambda *a, **k: trained.append(k["hidden"]) or real(*a, **k))
    more = evaluate([data], ModelConfig(seed=1, **dict(kw, hidden_sizes=(4, 12, 6))), models=["average"],
                    n_jobs=1, cache=cache)
    assert trained == [6]
    assert [r.hidden for r in more.runs if r.family == "network"] == [4, 12, 6]


def test_hidden_sizes_are_checked():
    assert ModelConfig().hidden_sizes == (64, 128)            # the study's two sizes
    assert ModelConfig(hidden_sizes=[32, 16]).hidden_sizes == (32, 16)
    for bad in ((), (64, 64), (0,), (64.0,), (True,)):
        with pytest.raises(ParameterError, match="hidden_sizes"):
            ModelConfig(hidden_sizes=bad)


def test_imv_forest_defaults_to_the_studys_binary_relevance():
    from scorelens.mil._models import make_model

    assert ModelConfig().imv_multi_output is False
    assert make_model("imv:rf").multi_output is False


def test_overlapping_the_cpu_models_with_the_networks_changes_no_number(rng, monkeypatch):
    # On a GPU the scikit-learn models run beside the networks; forced here on the CPU.
    # The rows keep Table 4's order and every number equals the one-after-the-other run.
    import threading

    from scorelens.mil import _crossval

    seen = []
    real = _crossval.cross_validate

    def spy(key, *args, **kwargs):
        seen.append((key, threading.current_thread().name))
        return real(key, *args, **kwargs)

    monkeypatch.setattr("scorelens.analysis._evaluation.cross_validate", spy)
    data = planted(rng, n=12)
    config = ModelConfig(seed=3, **dict(FAST, hidden_sizes=(4, 8)))
    models = ["simple_mi:knn", "network:average", "imv:knn", "network:attention"]
    plain = evaluate([data], config, models=models, n_jobs=1, overlap=False)
    assert all(name == threading.current_thread().name for _, name in seen)
    seen.clear()
    both = evaluate([data], config, models=models, n_jobs=1, overlap=True)
    threads = {key: name for key, name in seen}
    assert all(threads[key].startswith("scorelens-sklearn") for key in ("simple_mi:knn", "imv:knn"))
    assert threads["network:average"] == threading.current_thread().name
    assert [(r.features, r.key, r.hidden) for r in both.runs] == [(r.features, r.key, r.hidden) for r in plain.runs]
    for a, b in zip(plain.runs, both.runs):
        assert np.array_equal(a.proba, b.proba) and np.array_equal(a.pred, b.pred)
