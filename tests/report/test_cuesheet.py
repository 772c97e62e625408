"""Cue sheets in the formats people check cues with: Audacity label tracks and ELAN tab-delimited files.

Each file is parsed back the way its program reads it (Audacity: ``start<TAB>end<TAB>label`` per line;
ELAN: a tab-delimited table whose columns are picked on import) and compared with values written
out by hand for a small cue table.
"""

import csv
import io
import json

import pandas as pd
import pytest

from scorelens.exceptions import ParameterError
from scorelens.report._cuesheet import (
    ELAN_TIER,
    cue_label,
    format_clock_ms,
    format_cue_sheet,
    write_cue_sheet,
)


@pytest.fixture
def cues():
    """One film's cues, out of order, one of them played 4 % fast, one track name with a tab and a line break."""
    return pd.DataFrame({
        "film_id": "heat", "cue_id": [0, 1, 2],
        "track": ["Main\tTheme", "Chase\nPart 2", "Coda"],
        "start_s": [75.25, 3.5, 3725.125], "end_s": [95.0, 20.0, 3800.0],
        "track_offset_s": [72.5, 0.0, 61.0126], "speed": [1.0, 1.0417, 1.0]})


def test_clock_ms_closed_form():
    assert format_clock_ms(0) == "00:00.000"
    assert format_clock_ms(72.5) == "01:12.500"
    assert format_clock_ms(3723.4567) == "1:02:03.457"
    assert format_clock_ms(-2) == "00:00.000"


def test_audacity_labels_parse_back(cues):
    text = format_cue_sheet(cues, "audacity")
    rows = [line.split("\t") for line in text.splitlines()]
    assert [len(r) for r in rows] == [3, 3, 3]  # a name's tab or line break cannot add a column or a row
    assert [(float(a), float(b)) for a, b, _ in rows] == [(3.5, 20.0), (75.25, 95.0), (3725.125, 3800.0)]
    assert [label for _, _, label in rows] == ["1M Chase Part 2 [album 00:00.000, speed 1.0417]",
                                               "2M Main Theme [album 01:12.500]",
                                               "3M Coda [album 01:01.013]"]
    assert text.endswith("\n") and rows[0][0] == "3.500000"  # Audacity's own six decimals


def test_elan_tab_delimited_parses_back(cues):
    text = format_cue_sheet(cues, "elan")
    table = list(csv.reader(io.StringIO(text), delimiter="\t"))
    assert table[0] == ["Tier", "Begin Time - ss.msec", "End Time - ss.msec", "Annotation"]
    assert table[1:] == [[ELAN_TIER, "3.500", "20.000", "1M Chase Part 2 [album 00:00.000, speed 1.0417]"],
                         [ELAN_TIER, "75.250", "95.000", "2M Main Theme [album 01:12.500]"],
                         [ELAN_TIER, "3725.125", "3800.000", "3M Coda [album 01:01.013]"]]


def test_label_without_speed_column():
    cues = pd.DataFrame({"film_id": "x", "cue_id": [0], "track": ["A"], "start_s": [1.0], "end_s": [2.0],
                         "track_offset_s": [3.0]})
    assert format_cue_sheet(cues, "audacity") == "1.000000\t2.000000\t1M A [album 00:03.000]\n"
    assert cue_label("4M", "B", 0.25, 0.98) == "4M B [album 00:00.250, speed 0.9800]"


def test_per_film_formats_refuse_several_films(cues):
    two = pd.concat([cues, cues.assign(film_id="alien")], ignore_index=True)
    for fmt in ("audacity", "elan"):
        with pytest.raises(ParameterError, match=r"holds one film; got 2 \(heat, alien\)"):
            format_cue_sheet(two, fmt)
    with pytest.raises(ParameterError, match="fmt='srt' must be one of csv, json, audacity, elan"):
        format_cue_sheet(cues, "srt")


def test_csv_and_json_still_by_extension(cues, tmp_path):
    csv_path = write_cue_sheet(cues, tmp_path / "sheet.csv")
    sheet = pd.read_csv(csv_path)
    assert list(sheet["cue"]) == ["1M", "2M", "3M"] and list(sheet["in"]) == ["00:04", "01:15", "1:02:05"]
    data = json.loads(write_cue_sheet(cues, tmp_path / "sheet.json").read_text())
    assert [c["title"] for c in data["films"][0]["cues"]] == ["Chase\nPart 2", "Main\tTheme", "Coda"]
    labels = write_cue_sheet(cues, tmp_path / "heat.txt", fmt="audacity").read_text()
    assert labels == format_cue_sheet(cues, "audacity")
