"""The ``features`` and ``visual`` commands end to end, through the console-script entry point."""

import sys

import numpy as np
import pandas as pd
import pytest

from scorelens.demo._media import write_audio, write_film
from scorelens.workspace import Workspace

pytestmark = pytest.mark.slow


class _Result:
    def __init__(self, returncode, stdout, stderr):
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr


@pytest.fixture
def run_cli(monkeypatch, capsys):
    from scorelens.cli.main import run

    def _run(*args):
        monkeypatch.setattr(sys, "argv", ["scorelens", "-q", *args])
        try:
            run()
            code = 0
        except SystemExit as exc:
            code = exc.code or 0
        out = capsys.readouterr()
        return _Result(code, out.out, " ".join(out.err.split()))

    return _run


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    t = np.arange(10 * 22050) / 22050
    write_audio(root / "tracks" / "a.flac", 0.3 * np.sin(2 * np.pi * 330 * t), 22050)
    write_film(root / "good.mp4", np.zeros(12 * 8000), 8000, fps=2)
    write_film(root / "bad.mp4", np.zeros(12 * 8000), 8000, fps=2)
    (root / "corpus.toml").write_text(
        '[[film]]\nid = "good"\nfilm = "good.mp4"\nsoundtrack = "tracks"\ngenres = ["Drama"]\n'
        '[[film]]\nid = "bad"\nfilm = "bad.mp4"\nsoundtrack = "tracks"\ngenres = ["Horror"]\n')
    ws = Workspace(root / "ws")
    pd.DataFrame({"film_id": ["good"], "cue_id": [0], "track_id": ["a" * 16], "track": ["a"],
                  "track_path": [str(root / "tracks" / "a.flac")], "start_s": [2.0], "end_s": [6.0],
                  "track_offset_s": [1.0], "windows": [1], "confidence": [1.0]}
                 ).to_parquet(ws.path("cues", "good.parquet"))
    return root


def test_features_command_writes_tables_and_reports_failures(project, run_cli):
    ws = project / "ws"
    done = run_cli("features", "-w", str(ws), "--kind", "mir", "--film", "good")
    assert done.returncode == 0, done.stderr
    cues = pd.read_parquet(ws / "features" / "mir" / "cues.parquet")
    assert cues.shape == (1, 2 + 134)
    # With the manifest, film "bad" has no cue table: reported, the other film still written.
    mixed = run_cli("features", "-w", str(ws), "-m", str(project / "corpus.toml"), "--kind", "mir", "--keep-going")
    assert mixed.returncode == 1
    assert "failed: bad" in mixed.stderr and "no such cue table" in mixed.stderr


def test_unknown_kind_is_one_line_error(project, run_cli):
    out = run_cli("features", "-w", str(project / "ws"), "--kind", "nope")
    assert out.returncode == 1 and "unknown feature kind 'nope'" in out.stderr


def test_visual_command(project, run_cli):
    out = run_cli("visual", "-w", str(project / "ws"), "-m", str(project / "corpus.toml"), "--width", "32")
    assert out.returncode == 0, out.stderr
    frames = pd.read_parquet(project / "ws" / "features" / "visual" / "frames.parquet")
    assert set(frames.film_id) == {"good", "bad"} and len(frames) == 24
    summary = pd.read_parquet(project / "ws" / "features" / "visual" / "cues.parquet")
    assert list(summary.film_id) == ["good"]
