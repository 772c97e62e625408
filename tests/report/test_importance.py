"""Fig 3's plot (:mod:`scorelens.report._importance`)."""

import subprocess
import sys

import numpy as np
import pandas as pd


def test_importing_and_plotting_leave_the_callers_matplotlib_alone():
    # A library must not switch the caller's backend at import (a notebook's inline one, say) nor
    # register its figures with pyplot, where they would pile up until closed.
    code = (
        "import matplotlib; matplotlib.use('svg')\n"
        "import matplotlib.pyplot as plt, pandas as pd\n"
        "from scorelens.report._importance import plot_group_importance\n"
        "summary = pd.DataFrame({'group': ['Tone'], 'genre': ['Overall'], 'score': [0.2], 'ci_low': [0.1],"
        " 'ci_high': [0.3]})\n"
        "fig = plot_group_importance(summary)\n"
        "print(matplotlib.get_backend().lower(), len(plt.get_fignums()))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["svg", "0"]


def test_bars_and_intervals_are_the_summarys(tmp_path):
    from scorelens.report._importance import plot_group_importance

    summary = pd.DataFrame({"group": ["MFCCs", "MFCCs", "Tone", "Tone"], "genre": ["Horror", "Overall"] * 2,
                            "score": [0.5, 0.25, np.nan, 0.1], "ci_low": [0.4, 0.2, np.nan, -0.1],
                            "ci_high": [0.7, 0.3, np.nan, 0.2]})
    fig = plot_group_importance(summary, title="t")
    ax = fig.axes[0]
    heights = [p.get_height() for p in ax.patches]
    assert heights == [0.5, 0.25, 0.0, 0.1]                  # an undefined score is an empty bar
    assert [t.get_text() for t in ax.get_xticklabels()] == ["Horror", "Overall"]
    fig.savefig(tmp_path / "fig3.png", format="png", dpi=40)
    assert (tmp_path / "fig3.png").read_bytes()[:4] == b"\x89PNG"
