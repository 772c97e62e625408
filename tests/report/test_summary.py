"""``scorelens report`` and :mod:`scorelens.report._summary` on a small workspace made on the spot.

The workspace holds what each stage writes: hand-made cue tables and visual frames, a real
(tiny) ``evaluate`` run written by :func:`write_evaluation`, a permutation importance built
from known F1 values, a hand-made Table 5 with one significant cell, and figures.
"""

import json
import re
import shutil

import numpy as np
import pandas as pd
import pytest
import torch
from matplotlib.figure import Figure

from scorelens.analysis._data import CorpusBags
from scorelens.analysis._evaluation import evaluate, format_score
from scorelens.analysis._importance import GroupImportance
from scorelens.config import ModelConfig
from scorelens.report._cuesheet import format_clock
from scorelens.report._document import GENERATED_PREFIX, render_html, render_markdown
from scorelens.report._summary import gather_report, music_per_film, top_cues
from scorelens.stages._evaluate import write_evaluation
from scorelens.workspace import Workspace

GENRES = ("Action", "Comedy", "Drama")
N_FILMS = 8
FILM_S = 300.0  # each film's length, from the visual frames


def _png(path):
    fig = Figure(figsize=(1, 1))
    fig.add_subplot().plot([0, 1], [0, 1])
    fig.savefig(path, format="png", dpi=20)


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """A manifest and a workspace holding every stage's outputs."""
    root = tmp_path_factory.mktemp("summary")
    rng = np.random.default_rng(11)
    ids = [f"f{i}" for i in range(N_FILMS)]
    Y = np.array([[i % 2, (i // 2) % 2, 1 - i % 2] for i in range(N_FILMS)])
    labels = {f: [g for g, on in zip(GENRES, Y[i]) if on] for i, f in enumerate(ids)}
    labels.update(silent=["Drama"], later=["Action", "Comedy"])
    (root / "corpus.toml").write_text('[corpus]\ngenres = ["Action", "Comedy", "Drama"]\n' + "\n".join(
        f'[[film]]\nid = "{f}"\nfilm = "films/{f}.mkv"\nsoundtrack = "st/"\ngenres = {json.dumps(g)}\n'
        for f, g in labels.items()))
    ws = Workspace(root / "ws")
    bags, keys, grid = [], [], []
    for i, film in enumerate(ids):
        n = 2 + i % 3
        starts = 10.0 + 60.0 * np.arange(n)
        pd.DataFrame({"film_id": film, "cue_id": np.arange(n), "track_id": "t", "track": [f"{film} theme {c}"
                                                                                         for c in range(n)],
                      "track_path": "st/a.wav", "start_s": starts, "end_s": starts + 30.0, "track_offset_s": 0.0,
                      "windows": 6, "votes": 30, "confidence": 0.5}).to_parquet(ws.path("cues", f"{film}.parquet"))
        bags.append((rng.normal(size=(n, 4)) + np.r_[Y[i], 0]).astype(np.float32))
        keys.append(pd.DataFrame({"cue_id": np.arange(n)}))
        grid.append(pd.DataFrame({"film_id": film, "time_s": np.arange(FILM_S) + 0.5}))
    pd.DataFrame(columns=["film_id", "cue_id", "track", "start_s", "end_s"]).to_parquet(ws.path("cues",
                                                                                               "silent.parquet"))
    pd.concat(grid).to_parquet(ws.path("features", "visual", "frames.parquet"))
    # Table 4 from the real evaluation: baselines and two tiny networks.
    config = ModelConfig(epochs=5, hidden=4, hidden_sizes=(4,), learning_rate=0.01, precision="float32", seed=3)
    corpus_bags = CorpusBags(ids, bags, Y, GENRES, [f"timbre/x{j}/mean" for j in range(4)], "cue", keys,
                             ["silent", "later"], "mir")
    torch.set_num_threads(1)
    evaluation = evaluate([corpus_bags], config, models=["baselines", "attention", "average"], n_jobs=1)
    write_evaluation(ws, evaluation, "test")
    ws.save_settings("evaluate", config)
    (ws.path("results", "stamp_eval.json")).write_text(json.dumps({
        "per_film": [{"film_id": "f0", "second_precision": 0.9, "second_recall": 0.5, "second_f1": 0.6429,
                      "cue_precision": 1.0, "cue_recall": 0.5, "true_cues": 4, "predicted_cues": 2}],
        "mean": {"second_precision": 0.9, "second_recall": 0.5, "second_f1": 0.6429, "cue_precision": 1.0,
                 "cue_recall": 0.5}}))
    # Fig 3's numbers from known F1s: permuting Timbre halves Drama's F1 in every run (score 0.5).
    f1_orig = np.array([0.8, 0.0, 0.6, 0.7])
    f1_perm = np.tile(np.array([[0.8, 0.0, 0.3, 0.5], [0.8, 0.0, 0.6, 0.7]]), (3, 1, 1))
    pfi = GroupImportance("network:average", "mir", GENRES, {"Timbre": ["timbre/x0/mean"], "Rhythm": ["rhythm/y/m"]},
                          f1_orig, f1_perm, config, 3, film_ids=ids)
    folder = ws.path("results", "importance", "mir-network_average-h4-cue", "x").parent
    pfi.summary().to_csv(folder / "pfi_summary.csv", index=False)
    (folder / "pfi_summary.json").write_text(json.dumps(pfi.to_json(), default=float))
    _png(folder / "fig3.png")
    # Table 5 with one significant cell (brightness, predicted, Comedy).
    rows = [{"feature": f, "source": s, "genre": g, "difference_x10": 0.1 * k - 0.4, "n_clips": 5 + k,
             "significant": (f, s, g) == ("brightness", "predicted", "Comedy")}
            for k, (f, s, g) in enumerate((f, s, g) for f in ("brightness", "contrast")
                                          for s in ("actual", "predicted", "false_positive") for g in GENRES)]
    pd.DataFrame(rows).to_csv(ws.path("results", "crossmodal", "table5.csv"), index=False)
    (ws.path("results", "crossmodal", "table5.md")).write_text("Table 5 (test): a planted caption.\n\n| … |\n")
    for name in ("cue_timeline", "pr_curves", "per_film_scatter"):
        _png(ws.path("results", "figures", f"{name}.png"))
    return root


@pytest.fixture(scope="module")
def written(project, cli):
    """The report of the full workspace, written by the CLI: (markdown, html, cli output)."""
    res = cli("report", "-w", project / "ws", "-m", project / "corpus.toml")
    assert res.exit_code == 0, res.output
    out = project / "ws" / "results" / "report"
    return (out / "report.md").read_text(encoding="utf-8"), (out / "report.html").read_text(encoding="utf-8"), \
        res.output


def _section(markdown, title):
    """The Markdown of one ``## title`` section."""
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", markdown, flags=re.M | re.S)
    assert match, f"no section {title!r}"
    return match.group(1)


def _rows(text, first_column):
    """The cells of a Markdown table's rows, located by its header's first column (bold marks removed)."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"| {first_column} |"))
    rows = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        rows.append([c.strip().replace("**", "") for c in line.strip("|").split(" | ")])
    return rows


def test_cli_prints_where_the_files_went(project, written):
    out = project / "ws" / "results" / "report"
    assert str(out / "report.md") in written[2] and str(out / "report.html") in written[2]
    assert (out / "report.md.done.json").exists()


def test_markdown_holds_table4(project, written):
    markdown = written[0]
    report = json.loads((project / "ws" / "results" / "evaluation" / "cue" / "table4.json").read_text())
    rows = _rows(_section(markdown, "Genre prediction"), "Features")
    assert [r[:2] for r in rows] == [[r["features"], r["model"] + (f" ({r['hidden']} units)" if r["hidden"] else "")]
                                     for r in report["table4"]]
    assert [r[2:5] for r in rows] == [[format_score(r[k]) for k in ("precision", "recall", "f1")]
                                      for r in report["table4"]]
    assert [r[1] for r in rows] == ["Random Guess", "Plurality Label", "Single Attn (4 units)",
                                    "Avg. Pooling (4 units)"]
    assert "8 films, leave-one-out cross-validation, cue-level instances, seed 3" in markdown
    assert "`epochs=5`" in markdown and "`hidden=4`" in markdown
    assert "Films without cues, left out: later, silent." in markdown
    # The best macro F1 among the models (not the baselines) is bold.
    best = max(report["table4"][2:], key=lambda r: r["f1"])
    assert f"| **{best['model']} ({best['hidden']} units)** |" in markdown


def test_corpus_and_music(written):
    markdown = written[0]
    corpus = _section(markdown, "Corpus")
    assert "**10** films" in corpus
    assert _rows(corpus, "Genre") == [["Action", "5", "50%"], ["Comedy", "5", "50%"], ["Drama", "5", "50%"]]
    assert "stamped, no music found: silent; not stamped yet: later." in corpus
    music = _rows(_section(markdown, "Where the music plays"), "Film")
    # f1: 3 cues of 30 s in a 300 s film (from the visual frames).
    assert music[1] == ["f1", "Action", "3", "1.5", "5.0", "30%"]
    assert music[-1][0] == "all 9 films" and music[-1][2] == str(2 + 3 + 4 + 2 + 3 + 4 + 2 + 3)
    assert "| f0 | 0.900 | 0.500 | 0.643 | 1.000 | 0.500 |" in markdown
    assert "| study (Dejavu, 3 films) | 0.94 (0.012) | 0.47 (0.086) |" in markdown
    assert "](../figures/cue_timeline.png)" in markdown
    assert "| f1 | 3M | f1 theme 2 | 02:10 | 02:40 | 00:30 |" in markdown   # the folded cue sheet


def test_top_cues_table_ranks_by_weight_with_times(project, written):
    drivers = _section(written[0], "Which cues drove the predictions")
    report = json.loads((project / "ws" / "results" / "evaluation" / "cue" / "table4.json").read_text())
    attention, average = (next(r for r in report["table4"] if r["key"] == k)
                          for k in ("network:attention", "network:average"))
    # Average pooling weighs every cue equally: the weights shown are attention's, whichever scores higher.
    assert "Model: **Single Attn · mir**" in drivers
    assert ("Avg. Pooling · mir scores higher" in drivers) == (average["f1"] > attention["f1"])
    rows = _rows(drivers, "Genre")
    assert rows and {r[0] for r in rows} <= set(GENRES)
    cues = {f: pd.read_parquet(project / "ws" / "cues" / f"{f}.parquet").set_index("cue_id")
            for f in {r[2] for r in rows}}
    for genre in {r[0] for r in rows}:
        mine = [r for r in rows if r[0] == genre]
        assert [r[1] for r in mine] == [str(k) for k in range(1, len(mine) + 1)]
        weights = [float(r[8]) for r in mine]
        assert weights == sorted(weights, reverse=True)
    for r in rows:
        cue = cues[r[2]].loc[int(r[3])]
        assert (r[5], r[6], r[7]) == (cue["track"], format_clock(cue["start_s"]), format_clock(cue["end_s"]))


def test_importance_and_table5(written):
    markdown = written[0]
    importance = _section(markdown, "Feature importance")
    assert "Avg. Pooling · mir · hidden 4 · cue level · 3 runs · seed 3 · 8 films" in importance
    assert "| Timbre | 0.000 [0.000, 0.000] | n/a | **0.500 [0.500, 0.500]** |" in importance
    assert "](../importance/mir-network_average-h4-cue/fig3.png)" in importance
    table5 = _section(markdown, "Music and picture")
    assert "Table 5 (test): a planted caption." in table5
    # brightness/predicted/Comedy: the 5th row written, difference 0.1 * 4 - 0.4 = 0, significant.
    assert "| Comedy | -0.30 | 6 | **0.00** | 9 | 0.30 | 12 |" in table5
    assert table5.count("**") == 2 * 2 + 2  # bold feature names in the two captions, and the one significant cell


def test_html_is_self_contained(written):
    markdown, html = written[:2]
    assert 'src="http' not in html and "<script" not in html.lower() and "<link" not in html.lower()
    sources = re.findall(r'src="([^"]*)"', html)
    assert len(sources) == markdown.count("![") == 4
    assert all(s.startswith("data:image/png;base64,") for s in sources)
    assert all(h.startswith("#") for h in re.findall(r'href="([^"]*)"', html))
    assert "<table>" in html and "<strong>0.00</strong>" in html and "<style>" in html
    assert "<code>scorelens" not in html  # every section ran: no "not run yet" line


def test_rerun_gives_the_same_markdown(project, written, cli):
    cli("-q", "report", "-w", project / "ws", "-m", project / "corpus.toml", "--format", "md")
    again = (project / "ws" / "results" / "report" / "report.md").read_text(encoding="utf-8")

    def body(text):
        return [line for line in text.splitlines() if not line.startswith(GENERATED_PREFIX)]

    assert sum(line.startswith(GENERATED_PREFIX) for line in again.splitlines()) == 1
    assert body(again) == body(written[0])


def test_missing_sections_name_their_command(project, tmp_path, cli):
    ws = tmp_path / "ws"
    shutil.copytree(project / "ws", ws, ignore=shutil.ignore_patterns("results", "settings"))
    res = cli("-q", "report", "-w", ws, "--format", "md")
    assert res.exit_code == 0, res.output
    # --format picks the static report's formats; the interactive report (index.html) is written besides.
    written = {p.name for p in (ws / "results" / "report").iterdir()}
    assert {"report.md", "report.md.done.json", "index.html"} <= written and "report.html" not in written
    markdown = (ws / "results" / "report" / "report.md").read_text(encoding="utf-8")
    for title, command in (("Genre prediction", "evaluate"), ("Which cues drove the predictions", "evaluate"),
                           ("Feature importance", "importance"), ("Music and picture", "crossmodal")):
        assert _section(markdown, title).strip() == f"not run yet — run `scorelens {command} -w {ws} -m MANIFEST`"
    assert "no manifest given — run `scorelens report" in _section(markdown, "Corpus")
    music = _section(markdown, "Where the music plays")
    assert f"Stamp evaluation: not run yet — run `scorelens stamp-eval -w {ws} -m MANIFEST --json" in music
    assert "Cue timeline: not run yet — run `scorelens figures" in music
    assert "| f1 | 3 | 1.5 | 5.0 | 30% |" in music  # no manifest: no genre column


@pytest.mark.parametrize(("models", "says"), [
    (["baselines"], "No network in this evaluation, so no instance weights: run `scorelens evaluate -w {ws} -m "
                    "MANIFEST --level cue --model attention`."),
    (["baselines", "average"], "Average pooling weighs every cue of a film equally"),
])
def test_drivers_without_a_weighing_network(project, tmp_path, models, says):
    """Baselines only: how to get instance weights; average pooling only: shown, with a warning."""
    ws = Workspace(tmp_path / "ws")
    shutil.copytree(project / "ws" / "cues", ws.root / "cues")
    rng = np.random.default_rng(0)
    Y = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 0]])
    bags = CorpusBags([f"f{i}" for i in range(4)], [rng.normal(size=(2, 3)).astype(np.float32)] * 4, Y, GENRES,
                      ["timbre/a/mean", "timbre/b/mean", "timbre/c/mean"], "cue",
                      [pd.DataFrame({"cue_id": [0, 1]})] * 4, kind="mir")
    evaluation = evaluate([bags], ModelConfig(epochs=2, hidden=4, hidden_sizes=(4,)), models=models, n_jobs=1)
    write_evaluation(ws, evaluation, "test")
    report = gather_report(ws)
    assert next(s for s in report.sections if s.key == "drivers").todo is None
    assert says.format(ws=ws.root) in render_markdown(report)


def test_top_cues_closed_form():
    """Weights of hand-made frames: a cue's weight sums its frames'; only predicted films rank."""
    weights = pd.DataFrame({
        "film_id": ["a", "a", "a", "b", "b", "c"],
        "cue_id": [0, 0, 1, 0, 1, 0],                      # film a: cue 0 has two frames
        "Action": [0.25, 0.25, 0.5, 1.0, 0.0, 1.0],        # b's cue 1: passed over (max pooling)
        "Drama": [0.1, 0.1, 0.8, 0.4, 0.6, 1.0]})
    cues = pd.DataFrame({"film_id": ["a", "a", "b", "b", "c"], "cue_id": [0, 1, 0, 1, 0],
                         "track": ["a0", "a1", "b0", "b1", "c0"], "start_s": [5.0, 65.0, 0.0, 90.0, 1.0],
                         "end_s": [20.0, 80.0, 30.0, 125.0, 2.0]})
    predicted = pd.DataFrame({"film_id": ["a", "b", "c"] * 2, "genre": ["Action"] * 3 + ["Drama"] * 3,
                              "predicted": [1, 1, 0, 1, 0, 0], "true": [1, 0, 1, 1, 1, 0]})
    table = top_cues(weights, ["Action", "Drama"], cues=cues, predicted=predicted, top=10)
    action = table[table["genre"] == "Action"]
    # c is not predicted Action, b's cue 1 weighs 0; a's cue 0 sums to 0.5 and ties with its cue 1 (film, then
    # cue id break ties).
    assert list(zip(action["film_id"], action["cue_id"])) == [("b", 0), ("a", 0), ("a", 1)]
    assert action["weight"].tolist() == pytest.approx([1.0, 0.5, 0.5])
    # Even shares: b's cues 1/2 each, a's cue 0 holds 2 of 3 frames, cue 1 holds 1 of 3.
    assert action["relative"].tolist() == pytest.approx([2.0, 0.75, 1.5])
    assert top_cues(weights, ["Action"], cues=cues, predicted=predicted, top=2)["cue_id"].tolist() == [0, 0]
    assert action["true"].tolist() == [False, True, True]
    assert action["track"].tolist() == ["b0", "a0", "a1"] and action["start_s"].tolist() == [0.0, 5.0, 65.0]
    drama = table[table["genre"] == "Drama"]
    assert list(zip(drama["film_id"], drama["cue_id"], drama["rank"])) == [("a", 1, 1), ("a", 0, 2)]
    assert drama["sheet"].tolist() == ["2M", "1M"]
    everyone = top_cues(weights, ["Drama"], top=1)                      # no predictions: every film, no times
    assert (everyone["film_id"].item(), everyone["true"].item()) == ("c", None)
    assert np.isnan(everyone["start_s"].item())


def test_music_per_film_counts_overlaps_once():
    cues = {"a": pd.DataFrame({"start_s": [0.0, 10.0, 50.0], "end_s": [20.0, 30.0, 60.0]}),
            "b": pd.DataFrame({"start_s": [], "end_s": []})}
    table = music_per_film(cues, {"a": 120.0}, ["b", "a", "missing"])
    assert table["film_id"].tolist() == ["b", "a"]
    a = table.set_index("film_id").loc["a"]
    assert (a["cues"], a["music_s"], a["share"]) == (3, 40.0, pytest.approx(1 / 3))
    assert table.set_index("film_id").loc["b", "music_s"] == 0 and np.isnan(table["share"].iloc[0])


def test_gather_and_render_are_pure(project):
    """Same workspace, same report, whatever the time; the HTML embeds what the Markdown links."""
    one = gather_report(project / "ws", generated="then")
    two = gather_report(project / "ws", generated="now")
    assert render_markdown(one).replace("then", "now") == render_markdown(two)
    assert render_html(one).count("data:image/png;base64,") == render_markdown(one).count("](../")


def test_empty_workspace_is_one_line_error(tmp_path, run_cli):
    ws = Workspace(tmp_path / "ws")
    code, err = run_cli("report", "-w", ws.root)
    assert code == 1 and "Traceback" not in err
    assert f"{ws.root}: nothing to report yet" in err and f"run `scorelens stamp -w {ws.root} -m MANIFEST` first" in err
    assert not (ws.root / "results").exists()
    code, err = run_cli("report", "-w", tmp_path / "nowhere")
    assert code == 1 and "nowhere: no workspace here yet" in err and "scorelens run MANIFEST" in err
    assert not (tmp_path / "nowhere").exists()


def test_non_workspace_folder_is_refused(tmp_path, run_cli):
    (tmp_path / "notes.txt").write_text("mine")
    code, err = run_cli("report", "-w", tmp_path)
    assert code == 1 and "is not a scorelens workspace" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


@pytest.mark.parametrize(("parts", "content", "message"), [
    (("results", "evaluation", "cue", "table4.json"), "{not json", "table4.json: cannot read (Expecting"),
    (("results", "evaluation", "cue", "table4.json"), '{"table4": [{"model": "x"}]}', "table4.json: cannot read (no "
                                                                                      "Table 4 rows"),
    (("results", "evaluation", "cue", "instance_weights.parquet"), "PAR1", "instance_weights.parquet: cannot read"),
    (("results", "stamp_eval.json"), "[1, 2]", "stamp_eval.json: cannot read (expected a JSON object"),
    (("cues", "f0.parquet"), "no parquet", "f0.parquet: cannot read the cue table"),
])
def test_corrupt_input_is_one_line_error_naming_the_file(project, tmp_path, parts, content, message, run_cli):
    ws = tmp_path / "ws"
    shutil.copytree(project / "ws", ws, ignore=shutil.ignore_patterns("report"))
    ws.joinpath(*parts).write_text(content)
    code, err = run_cli("report", "-w", ws)
    assert code == 1 and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert str(ws.joinpath(*parts)) in err and message in err
    assert not (ws / "results" / "report").exists()


def test_template_is_package_data():
    from importlib import resources

    assert resources.files("scorelens.report").joinpath("templates", "report.html.j2").is_file()
