"""The interactive report in a real browser: headless Chromium (the Debian package) driven by Playwright.

The page is opened from the file system, as a reader would open it: it must load with no console
error and no network request, draw one bar per cue, play a cue when clicked, show the stored
attention weights, sort and filter its tables, follow its links, and show every name from a
manifest, a tag or a file name as text (never running or rendering it as markup).
"""

import os
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

#: Average pooling weighs every cue of a film alike: each gets 1 / (the film's cues).
EVEN = "cue|mir|network:average"


def _chromium() -> str:
    exe = os.environ.get("SCORELENS_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not exe:
        pytest.fail("Chromium is not installed: run scripts/setup.sh (Debian package chromium), or set "
                    "SCORELENS_CHROMIUM to a Chromium binary")
    return exe


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=_chromium(), headless=True)
        yield b
        b.close()


class View:
    """A page of the browser, with every console error, uncaught error and request it met."""

    def __init__(self, browser, path: Path):
        self.path = path
        self.page = browser.new_page(viewport={"width": 1400, "height": 900})
        self.errors, self.requests, self.dialogs = [], [], []
        self.page.on("console", lambda m: self.errors.append(f"console {m.type}: {m.text}")
                     if m.type in ("error", "warning") else None)
        self.page.on("pageerror", lambda e: self.errors.append(f"uncaught: {e}"))
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.on("dialog", lambda d: (self.dialogs.append(d.message), d.dismiss()))
        self.page.goto(path.as_uri())
        self.page.wait_for_selector("body[data-ready='1']")

    def go(self, hash_: str, wait: str | None = None):
        self.page.evaluate("h => { location.hash = h; }", hash_)
        if wait:
            self.page.wait_for_selector(wait, state="attached")

    def film(self, film: str):
        self.go(f"#film/{film}", f"body[data-film-drawn='{film}']")

    def texts(self, selector: str) -> list[str]:
        return self.page.locator(selector).all_text_contents()

    def check_clean(self):
        """No error, no request outside the report's folder, nothing from the planted scripts ran."""
        assert self.errors == []
        folder = self.path.parent.as_uri()
        assert [u for u in self.requests if not (u.startswith(folder + "/") or u.startswith(("data:", "blob:")))] == []
        assert self.page.evaluate("() => window.__pwned") is None
        assert self.dialogs == []


@pytest.fixture(scope="module")
def view(browser, explorer_project):
    v = View(browser, explorer_project[1].layout.report_explorer())
    yield v
    v.page.close()


def _cues(ws, film):
    return pd.read_parquet(ws.layout.cue_table(film)).sort_values("start_s", kind="stable")


def _stored_weights(ws, model, film, genre):
    w = pd.read_parquet(ws.layout.instance_weights("cue"))
    w = w[(w["model"] == model) & (w["film_id"] == film)].set_index("cue_id")
    return w.loc[_cues(ws, film)["cue_id"], genre].to_numpy(float)


def _click_center(page, locator):
    locator.scroll_into_view_if_needed()
    box = locator.bounding_box()
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)


def test_loads_offline_without_errors(view, kit):
    view.go("#models", "body[data-models-drawn]")
    for film in kit.CUES:
        view.film(film)
    view.go("#corpus")
    assert view.requests[0] == view.path.as_uri()
    assert any(u.endswith(".min.js") for u in view.requests)
    view.check_clean()


def test_one_bar_per_cue(view, explorer_project, kit):
    ws = explorer_project[1]
    for film in kit.CUES:
        view.film(film)
        rows = len(_cues(ws, film))
        assert view.page.locator("#film-plot .subplot.xy .trace.bars .point").count() == rows
        assert view.page.locator("#cue-table tbody tr").count() == rows
    view.check_clean()


def test_clicking_a_cue_plays_it(view, explorer_project):
    page = view.page
    view.film("f0")
    bars = page.locator("#film-plot .subplot.xy .trace.bars .point path")
    _click_center(page, bars.nth(0))
    page.wait_for_function("() => document.getElementById('player').currentTime > 0.3", timeout=10_000)
    src = page.evaluate("() => document.getElementById('player').src")
    # The first trace is the first cue's track; its first bar is cue 1M (cue id 0).
    assert src == explorer_project[1].layout.report_clip("f0", 0, "ogg").as_uri()
    assert page.locator("#cue-table tr.playing").get_attribute("data-cue") == "0"
    # The table's play button of another cue switches the player to that cue's clip.
    page.locator("#cue-table tr[data-cue='2'] button.play").click()
    page.wait_for_function("() => document.getElementById('player').src.endsWith('/clips/f0/2.ogg') && "
                           "document.getElementById('player').currentTime > 0.3", timeout=10_000)
    view.check_clean()


def test_a_cue_without_clip_says_why(view):
    page = view.page
    view.film("f3")
    assert page.locator("#cue-table button.play").count() == 0
    assert all(t.startswith("no clip: the track file is missing") for t in view.texts("#cue-table tbody td:last-child"))
    assert any("soundtrack file(s) missing since stamping" in t for t in view.texts("#film-notes li"))
    _click_center(page, page.locator("#film-plot .subplot.xy .trace.bars .point path").nth(0))
    page.wait_for_function("() => document.getElementById('now-playing').textContent.includes('no clip')")
    assert page.evaluate("() => document.getElementById('player').paused")
    view.check_clean()


def test_attention_shown_is_the_stored_one(view, explorer_project, kit):
    ws, page = explorer_project[1], view.page
    for film in kit.CUES:
        view.film(film)
        assert page.locator("#attention-run").input_value() == "cue|mir|network:attention"
        for k, genre in enumerate(kit.GENRES):
            page.locator("#attention-genre").select_option(str(k))
            stored = _stored_weights(ws, "network:attention", film, genre)
            shown = view.texts("#cue-table td.attention")
            assert all(re.fullmatch(r"0\.\d{4}", t) for t in shown)  # four decimals: equal to them
            np.testing.assert_allclose([float(t) for t in shown], stored, atol=5e-5 + 1e-6)
            drawn = page.evaluate("() => document.getElementById('film-plot').data.find(t => t.meta === 'attention').y")
            np.testing.assert_allclose(drawn, stored, atol=1e-6)
            title = page.evaluate("() => document.getElementById('film-plot').layout.yaxis2.title.text")
            assert title == f"attention · {genre}"
    view.check_clean()


def test_average_pooling_weighs_cues_alike(view, kit):
    page = view.page
    view.film("f2")
    page.locator("#attention-run").select_option(EVEN)
    n = len(kit.CUES["f2"])
    assert view.texts("#cue-table td.attention") == [f"{1 / n:.4f}"] * n
    assert "alike" in page.locator("#attention-note").text_content()
    page.locator("#attention-run").select_option("cue|mir|network:attention")
    view.check_clean()


def test_corpus_sorts_and_filters(view, kit):
    page = view.page
    view.go("#corpus")
    titles = lambda: view.texts("#corpus-table tbody td:first-child")  # noqa: E731
    page.locator("#corpus-table th[data-key='title']").click()
    assert titles() == sorted(titles(), key=str.lower)
    assert page.locator("#corpus-table th[data-key='title']").get_attribute("aria-sort") == "ascending"
    page.locator("#corpus-table th[data-key='title']").click()
    assert titles() == sorted(titles(), key=str.lower, reverse=True)
    page.locator("#corpus-table th[data-key='cues']").click()
    cues = [int(t) for t in view.texts("#corpus-table tbody td:nth-child(6)")]
    assert cues == sorted(len(c) for c in kit.CUES.values())
    page.locator("#corpus-filter").fill("film 4")
    assert titles() == ["Film 4"]
    page.locator("#corpus-filter").fill("")
    page.locator("#corpus-genre").select_option("Comedy")
    comedies = sorted(f"Film {f[1:]}" if f != "f0" else kit.EVIL_TITLE for f, g in kit.LABELS.items()
                      if "Comedy" in g)
    assert sorted(titles()) == comedies
    assert page.locator("#corpus-count").text_content() == f"{len(comedies)} of {len(kit.LABELS)} films"
    page.locator("#corpus-filter").fill("drama")  # words match the title or the genres
    assert sorted(titles()) == sorted(f"Film {f[1:]}" for f, g in kit.LABELS.items()
                                      if {"Comedy", "Drama"} <= set(g))
    page.locator("#corpus-filter").fill("")
    page.locator("#corpus-genre").select_option("")
    page.locator("#corpus-table tbody a", has_text="Film 2").click()
    page.wait_for_selector("body[data-film-drawn='f2']")
    assert page.locator("#film-title").text_content() == "Film 2"
    view.check_clean()


def test_models_view_table4_beside_the_study_and_scatter_links(view):
    page = view.page
    view.go("#models", "body[data-models-drawn]")
    rows = page.locator("table.table4 tbody tr")
    cells = {tuple(r.locator("td").all_text_contents()[:2]): r.locator("td").all_text_contents()
             for r in rows.all()}
    attn = next(v for k, v in cells.items() if k[0] == "mir" and k[1].startswith("Single Attn"))
    assert attn[-4:] == ["Single Attn", ".49", ".76", ".55"]  # the study's MIR single attention
    assert cells[("None", "Random Guess")][-3:] == [".32", ".32", ".32"]
    page.locator("table.table4 th[data-key='f1']").click()
    f1 = [float(t) for t in view.texts("table.table4 tbody td:nth-child(5)")]
    assert f1 == sorted(f1)
    point = page.locator("#scatter-plot .scatterlayer .trace .points path.point").nth(0)
    _click_center(page, point)
    page.wait_for_function("() => location.hash.startsWith('#film/')")
    film = page.evaluate("() => location.hash.slice(6)")
    page.wait_for_selector(f"body[data-film-drawn='{film}']")
    view.check_clean()


def test_names_show_as_text_and_never_run(view, explorer_project, kit):
    page = view.page
    view.go("#corpus")
    assert page.locator("#corpus-table tbody a").first.text_content() in (kit.EVIL_TITLE, "Film 1", "Film 2")
    assert kit.EVIL_TITLE in view.texts("#corpus-table tbody a")
    view.film("f0")
    assert page.locator("#film-title").text_content() == kit.EVIL_TITLE
    assert page.locator("#film-select option[value='f0']").text_content() == kit.EVIL_TITLE
    first = page.locator("#cue-table tr[data-cue='0'] td")
    assert first.nth(1).text_content() == kit.EVIL_TAG
    assert page.locator("#cue-table tr[data-cue='1'] td").nth(2).text_content() == kit.EVIL_FILE
    bar = page.locator("#film-plot .subplot.xy .trace.bars .point path").nth(0)
    bar.scroll_into_view_if_needed()
    box = bar.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.wait_for_selector("#film-plot .hoverlayer .hovertext")
    assert kit.EVIL_TAG in page.locator("#film-plot .hoverlayer").text_content()
    ticks = view.texts("#film-plot .yaxislayer-above text, #film-plot .yaxislayer-below text")
    assert any(t.startswith("<img src=x") for t in ticks)
    # Nothing became markup: no element any planted name spells, in the page or the chart.
    assert page.evaluate("() => document.querySelectorAll('img, b, i, main script, svg[onload]').length") == 0
    page.mouse.move(5, 5)
    view.check_clean()


def test_static_report_shows_names_as_text(browser, explorer_project, kit):
    ws = explorer_project[1]
    page = browser.new_page()
    errors, requests = [], []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("request", lambda r: requests.append(r.url))
    page.goto(ws.layout.report("html").as_uri())
    cells = page.locator("td").all_text_contents()
    assert kit.EVIL_TAG in cells
    assert page.evaluate("() => window.__pwned") is None
    assert page.evaluate("() => document.querySelectorAll('img[src=x], b, i, svg').length") == 0
    assert errors == [] and requests == [ws.layout.report("html").as_uri()]
    page.close()


def test_without_evaluate_results_the_page_says_why(browser, kit, tmp_path):
    from scorelens.config import ReportConfig
    from scorelens.corpus import load_corpus
    from scorelens.stages._report import write_report

    manifest, ws = kit.make_workspace(tmp_path / "w", evaluate_models=False)
    write_report(ws, ReportConfig(clip_max_s=2.0), load_corpus(manifest, check_files=False))
    v = View(browser, ws.layout.report_explorer())
    assert "run `scorelens evaluate" in v.page.locator("#corpus-why").text_content()
    assert v.page.locator("#corpus-table th[data-key='p:Action']").count() == 0
    v.film("f1")
    assert v.page.locator("#attention-why").is_visible()
    assert v.page.locator("#attention-controls").is_hidden()
    assert v.page.locator("#film-plot .subplot.xy .trace.bars .point").count() == len(kit.CUES["f1"])
    v.go("#models", "body[data-models-drawn]")
    assert "No model results" in v.page.locator("#models-why").text_content()
    assert v.page.locator("#pr-plot").is_hidden() and v.page.locator("#scatter-plot").is_hidden()
    assert v.page.locator("table.table4").count() == 0
    v.check_clean()
    v.page.close()
