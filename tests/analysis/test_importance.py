"""Permutation feature importance by feature group (Fig 3) and ``scorelens importance``."""

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from scorelens.analysis._data import CorpusBags
from scorelens.analysis._evaluation import evaluate
from scorelens.analysis._importance import group_importance, permuted_variants
from scorelens.cli.main import _register, app
from scorelens.config import ModelConfig
from scorelens.exceptions import ParameterError
from scorelens.mil._crossval import cross_validate
from scorelens.mil._training import cross_val_network

GENRES = ("Action", "Comedy", "Horror")
# Genre 0 lives in mfcc column 0, genre 1 in tone column 0, genre 2 in mfcc column 1; rhythm is noise.
NAMES = ([f"mfcc/mfcc_{i:02d}/mean" for i in range(3)] + [f"tone/key_{i}/mean" for i in range(3)]
         + [f"rhythm/tempo_{i}/mean" for i in range(3)])


def planted_corpus(n=36, seed=0):
    rng = np.random.default_rng(seed)
    Y = (rng.random((n, 3)) < 0.4).astype(np.int64)
    Y[Y.sum(axis=1) == 0, rng.integers(0, 3)] = 1
    bags = []
    for i in range(n):
        x = rng.normal(size=(int(rng.integers(3, 9)), len(NAMES))).astype(np.float32)
        x[:, 0] += 2.5 * Y[i, 0]
        x[:, 3] += 2.5 * Y[i, 1]
        x[:, 1] += 2.5 * Y[i, 2]
        bags.append(x)
    return CorpusBags([f"f{i:02d}" for i in range(n)], bags, Y, GENRES, list(NAMES), "cue", kind="mir")


FAST = ModelConfig(cv="kfold:4", epochs=40, hidden=16, hidden_sizes=(16,), learning_rate=3e-3, seed=1,
                   precision="float32")


@pytest.fixture(scope="module")
def corpus():
    return planted_corpus()


@pytest.fixture(scope="module")
def network_importance(corpus):
    return group_importance(corpus, "network:average", FAST, runs=12, n_jobs=1)


def test_permutation_keeps_each_columns_values_and_shapes(corpus):
    groups = {"MFCCs": np.array([0, 1, 2]), "Tone": np.array([3, 4, 5])}
    (r0, g0, perm), (_, g1, perm_tone) = permuted_variants(corpus.bags, groups, [0], seed=3)
    assert (r0, g0, g1) == (0, "MFCCs", "Tone")
    assert [b.shape for b in perm] == [b.shape for b in corpus.bags]
    X, Xp = np.concatenate(corpus.bags), np.concatenate(perm)
    np.testing.assert_array_equal(Xp[:, 3:], X[:, 3:])                       # other groups untouched
    for c in range(3):
        np.testing.assert_array_equal(np.sort(Xp[:, c]), np.sort(X[:, c]))  # a permutation of the column
        assert not np.array_equal(Xp[:, c], X[:, c])
    # Columns are permuted individually: the rows' pairing between columns is broken.
    order = [np.argsort(np.argsort(Xp[:, c])) for c in range(3)]
    assert not np.array_equal(order[0], order[1])
    np.testing.assert_array_equal(np.concatenate(perm_tone)[:, :3], X[:, :3])
    # Reproducible from the seed, and a run's permutation does not depend on the other runs asked for.
    again = permuted_variants(corpus.bags, groups, [1, 0], seed=3)
    np.testing.assert_array_equal(np.concatenate(again[2][2]), Xp)


def test_a_groups_permutation_does_not_depend_on_the_other_groups(corpus):
    # The module's promise: scoring Tone alone (or a table without some group) permutes Tone as the
    # full analysis does, so its score can be compared.
    both = permuted_variants(corpus.bags, {"MFCCs": np.array([0, 1, 2]), "Tone": np.array([3, 4, 5])}, [0, 1],
                             seed=3)
    alone = permuted_variants(corpus.bags, {"Tone": np.array([3, 4, 5])}, [0, 1], seed=3)
    tone = [v for v in both if v[1] == "Tone"]
    assert [(r, g) for r, g, _ in tone] == [(r, g) for r, g, _ in alone] == [(0, "Tone"), (1, "Tone")]
    for (_, _, a), (_, _, b) in zip(tone, alone):
        np.testing.assert_array_equal(np.concatenate(a), np.concatenate(b))
    # Groups and runs still draw different permutations.
    X = np.concatenate(both[0][2])
    assert not np.array_equal(np.concatenate(both[1][2])[:, 3], np.concatenate(both[3][2])[:, 3])
    assert not np.array_equal(X[:, 0], np.concatenate(corpus.bags)[:, 0])


def test_planted_groups_score_and_noise_does_not(network_importance):
    res = network_importance
    summ = res.summary().set_index(["group", "genre"])
    assert list(res.groups) == ["MFCCs", "Rhythm", "Tone"]                  # Fig 3's order
    assert res.f1_orig[-1] > 0.8
    assert summ.loc[("MFCCs", "Action"), "score"] > 0.3 and summ.loc[("MFCCs", "Action"), "significant"]
    assert summ.loc[("MFCCs", "Horror"), "score"] > 0.15 and summ.loc[("MFCCs", "Horror"), "significant"]
    assert summ.loc[("Tone", "Comedy"), "score"] > 0.3 and summ.loc[("Tone", "Comedy"), "significant"]
    # A group the labels do not depend on barely matters, and never significantly for the overall F1.
    assert abs(summ.loc[("Rhythm", "Overall"), "score"]) < 0.1
    assert not summ.loc[("Rhythm", "Overall"), "significant"]
    assert summ.loc[("Tone", "Action"), "score"] < summ.loc[("MFCCs", "Action"), "score"] / 3
    s = res.scores()
    assert s.shape == (12, 3, 4)
    np.testing.assert_allclose(summ.loc[("MFCCs", "Overall"), "score"], s[:, 0, 3].mean())
    assert summ.loc[("MFCCs", "Overall"), "ci_low"] <= summ.loc[("MFCCs", "Overall"), "score"] \
        <= summ.loc[("MFCCs", "Overall"), "ci_high"]


def test_original_f1_is_the_evaluations(corpus, network_importance):
    ev = evaluate([corpus], FAST, models=["network:average"], n_jobs=1)
    run = next(r for r in ev.runs if r.key == "network:average")
    assert network_importance.f1_orig[-1] == pytest.approx(run.scores["macro"]["f1"])
    for j, genre in enumerate(GENRES):
        assert network_importance.f1_orig[j] == pytest.approx(run.scores["genres"][genre]["f1"])


def test_held_out_prediction_of_kept_networks_matches_cross_validation(corpus):
    folds = [np.arange(i, 36, 4) for i in range(4)]
    res = cross_val_network(corpus.bags, corpus.Y, folds, pooling="attention", hidden=8, epochs=5, seed=2,
                            n_jobs=2, keep_models=True)
    again = res.predict_held_out([corpus.bags, corpus.bags])
    np.testing.assert_array_equal(again[0], res.proba)     # predicted as the cross-validation did, bit for bit
    np.testing.assert_array_equal(again[0], again[1])
    with pytest.raises(ParameterError, match="bag sizes"):
        res.predict_held_out([corpus.bags[:-1]])
    plain = cross_val_network(corpus.bags, corpus.Y, folds, pooling="attention", hidden=8, epochs=5, seed=2)
    with pytest.raises(ParameterError, match="keep_models"):
        plain.predict_held_out([corpus.bags])


def test_sklearn_models_are_scored_too(corpus):
    cfg = ModelConfig(cv="kfold:4", seed=0)
    models = cross_validate("simple_mi:knn", corpus.bags, corpus.Y, [np.arange(i, 36, 4) for i in range(4)], cfg,
                            keep_models=True)
    np.testing.assert_array_equal(models.predict_held_out([corpus.bags])[0], models.pred)
    res = group_importance(corpus, "imv:knn", cfg, runs=5)
    summ = res.summary().set_index(["group", "genre"])
    assert summ.loc[("Tone", "Comedy"), "score"] > summ.loc[("Rhythm", "Comedy"), "score"] + 0.2


def test_undefined_scores_and_bad_requests(corpus):
    never = CorpusBags(corpus.film_ids, corpus.bags, np.c_[corpus.Y[:, :2], np.zeros(36, np.int64)], GENRES,
                       corpus.feature_names, "cue", kind="mir")
    res = group_importance(never, "simple_mi:knn", ModelConfig(cv="kfold:4"), runs=2)
    summ = res.summary().set_index(["group", "genre"])
    assert np.isnan(summ.loc[("MFCCs", "Horror"), "score"]) and "never" in summ.loc[("MFCCs", "Horror"), "note"]
    assert "n/a" in res.to_markdown()
    with pytest.raises(ParameterError, match="ignores the features"):
        group_importance(corpus, "random", FAST, runs=2)
    with pytest.raises(ParameterError, match="runs"):
        group_importance(corpus, "simple_mi:knn", FAST, runs=0)
    with pytest.raises(ParameterError, match="not among the features"):
        group_importance(corpus, "simple_mi:knn", FAST, runs=1, groups={"X": ["nope/a/b"]})
    unnamed = CorpusBags(corpus.film_ids, corpus.bags, corpus.Y, GENRES, [f"f{i}" for i in range(9)], "cue")
    with pytest.raises(ParameterError, match="no feature groups"):
        group_importance(unnamed, "simple_mi:knn", FAST, runs=1)
    # One film leaves nothing to train on: a named error, for networks too (not numpy's ValueError).
    one = CorpusBags(corpus.film_ids[:1], corpus.bags[:1], corpus.Y[:1], GENRES, corpus.feature_names, "cue",
                     kind="mir")
    for key in ("network:average", "simple_mi:knn"):
        with pytest.raises(ParameterError, match="mir: 1 film; permutation importance needs at least 2"):
            group_importance(one, key, ModelConfig(epochs=2, hidden=4), runs=1, n_jobs=1)


def _write_manifest(path, film_ids, Y):
    films = "\n".join(f'[[film]]\nid = "{f}"\nfilm = "films/{f}.mkv"\nsoundtrack = "st/"\n'
                      f'genres = {json.dumps([g for g, on in zip(GENRES, y) if on])}\n'
                      for f, y in zip(film_ids, Y))
    path.write_text(f'[corpus]\ngenres = {json.dumps(list(GENRES))}\n' + films)


def _write_features(ws, corpus, names=NAMES):
    (ws / "features" / "mir").mkdir(parents=True, exist_ok=True)
    (ws / ".scorelens-workspace").write_text("{}\n")
    rows = [{"film_id": f, "cue_id": c, **dict(zip(names, map(float, x)))}
            for f, bag in zip(corpus.film_ids, corpus.bags) for c, x in enumerate(bag)]
    df = pd.DataFrame(rows)
    df[list(names)] = df[list(names)].astype(np.float32)
    df.to_parquet(ws / "features" / "mir" / "cues.parquet")


def _cli_args(tmp_path):
    return ["-q", "importance", "-w", str(tmp_path / "ws"), "-m", str(tmp_path / "corpus.toml"), "--model",
            "simple_mi:knn", "--runs", "4", "--cv", "kfold:4"]


def test_cli_writes_fig3_and_resumes(tmp_path, corpus):
    _write_manifest(tmp_path / "corpus.toml", corpus.film_ids, corpus.Y)
    ws = tmp_path / "ws"
    _write_features(ws, corpus)
    _register()
    args = _cli_args(tmp_path)
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    out = ws / "results" / "importance" / "mir-simple_mi_knn-h64-cue"
    summary = pd.read_csv(out / "pfi_summary.csv")
    assert set(summary.group) == {"MFCCs", "Tone", "Rhythm"} and len(summary) == 12
    assert (out / "fig3.png").stat().st_size > 5000 and (out / "fig3.png").read_bytes()[:4] == b"\x89PNG"
    runs = pd.read_parquet(out / "pfi_runs.parquet")
    assert len(runs) == 4 * 3 * 4
    assert json.loads((out / "pfi_summary.json").read_text())["runs"] == 4
    again = CliRunner().invoke(app, args)
    assert again.exit_code == 0 and "up to date" in again.output
    bad = CliRunner().invoke(app, args[:-2] + ["--features", "vggish"])
    assert bad.exit_code != 0


def test_cli_recomputes_when_labels_or_feature_names_change(tmp_path, corpus):
    """Same feature values, other genres (or other groups): the saved Fig 3 is not "up to date"."""
    _write_manifest(tmp_path / "corpus.toml", corpus.film_ids, corpus.Y)
    _write_features(tmp_path / "ws", corpus)
    _register()
    args = _cli_args(tmp_path)
    out = tmp_path / "ws" / "results" / "importance" / "mir-simple_mi_knn-h64-cue"
    assert CliRunner().invoke(app, args).exit_code == 0
    before = json.loads((out / "pfi_summary.json").read_text())
    _write_manifest(tmp_path / "corpus.toml", corpus.film_ids, corpus.Y[:, ::-1])   # Action <-> Horror
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0 and "up to date" not in res.output
    after = json.loads((out / "pfi_summary.json").read_text())
    assert after["f1_orig"] != before["f1_orig"]
    # Renamed columns regroup the features: the same values give other groups.
    renamed = [n.replace("rhythm/", "pitch/") for n in NAMES]
    _write_features(tmp_path / "ws", corpus, renamed)
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0 and "up to date" not in res.output
    assert "Pitch" in json.loads((out / "pfi_summary.json").read_text())["groups"]


def test_passes_shrink_for_long_bags(corpus, monkeypatch):
    from scorelens.analysis import _importance as importance

    assert importance._runs_per_block(corpus.bags, 3) == importance._VARIANT_BLOCK // 3
    long_bags = [np.zeros((5000, 140), np.float32)] * 110       # frame level: 110 films of ~40 minutes of frames
    assert importance._runs_per_block(long_bags, 8) == 1
    # Passes change how many variants are predicted at once, never the numbers.
    a = group_importance(corpus, "network:average", FAST, runs=4, n_jobs=1)
    monkeypatch.setattr(importance, "_VARIANT_BLOCK", 3)
    b = group_importance(corpus, "network:average", FAST, runs=4, n_jobs=1)
    np.testing.assert_array_equal(a.f1_perm, b.f1_perm)


def test_scores_equal_one_minus_independent_f1_ratio(corpus):
    """``1 - F1_perm / F1_orig`` from scikit-learn's F1 on predictions made here, not by the module.

    The fold models are fitted here (kNN Simple MI: no randomness), the folds come from
    scikit-learn's KFold, and each run's permutation is drawn as the module documents
    (``SeedSequence([seed, run, blake2b-64(group name)])``, one permutation per column
    over all instances of the corpus).
    """
    import hashlib

    from sklearn.metrics import f1_score
    from sklearn.model_selection import KFold

    from scorelens.mil import SimpleMI

    groups = {"Tone": NAMES[3:6], "MFCCs": NAMES[0:3], "Rhythm": NAMES[6:9]}
    cfg = ModelConfig(cv="kfold:4", seed=5)
    runs = 3
    res = group_importance(corpus, "simple_mi:knn", cfg, runs=runs, groups=groups)

    n = len(corpus.bags)
    folds = [test for _, test in KFold(4, shuffle=True, random_state=5).split(np.zeros(n))]
    models = [SimpleMI("knn").fit([corpus.bags[i] for i in np.setdiff1d(np.arange(n), t)],
                                  corpus.Y[np.setdiff1d(np.arange(n), t)]) for t in folds]

    def predict(bags):
        P = np.zeros_like(corpus.Y)
        for model, test in zip(models, folds):
            P[test] = model.predict([bags[i] for i in test])
        return P

    def f1s(P):
        per_genre = [f1_score(corpus.Y[:, k], P[:, k], zero_division=0) for k in range(len(GENRES))]
        return np.array(per_genre + [f1_score(corpus.Y, P, average="macro", zero_division=0)])

    orig = f1s(predict(corpus.bags))
    assert (orig > 0).all()
    np.testing.assert_allclose(res.f1_orig, orig, rtol=1e-12)
    X = np.concatenate(corpus.bags)
    cuts = np.cumsum([len(b) for b in corpus.bags])[:-1]
    expected = np.zeros((runs, len(groups), len(GENRES) + 1))
    for r in range(runs):
        for g, (name, cols) in enumerate(groups.items()):
            h = int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "little")
            gen = np.random.default_rng(np.random.SeedSequence([5, r, h]))
            Xp = X.copy()
            for c in cols:
                j = NAMES.index(c)
                Xp[:, j] = X[gen.permutation(len(X)), j]
            expected[r, g] = 1.0 - f1s(predict(np.split(Xp, cuts))) / orig
    np.testing.assert_allclose(res.scores(), expected, rtol=1e-12, atol=1e-12)
    summ = res.summary().set_index(["group", "genre"])
    for g, name in enumerate(groups):
        for j, genre in enumerate(list(GENRES) + ["Overall"]):
            assert summ.loc[(name, genre), "score"] == pytest.approx(expected[:, g, j].mean(), rel=1e-12, abs=1e-12)
    # Not vacuous: permuting the planted groups hurts their genres, the noise group does not.
    assert expected[:, 0, 1].mean() > 0.3 and expected[:, 1, 0].mean() > 0.3
