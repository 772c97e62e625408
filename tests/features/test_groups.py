"""Column names map onto the study's eight PFI groups."""

import pytest

from scorelens.exceptions import ParameterError
from scorelens.features._groups import PFI_GROUPS, group_columns, pfi_group


def test_prefixes_map_to_the_study_groups():
    assert pfi_group("mfcc/mfcc_03/mean") == "MFCCs"
    assert pfi_group("delta_mfcc/delta_mfcc_01/std") == "ΔMFCCs"
    assert pfi_group("delta2_mfcc/delta2_mfcc_13/mean") == "ΔΔMFCCs"
    assert pfi_group("dynamics/rms/std") == "Dynamics"
    assert pfi_group("pitch/chroma_C/mean") == "Pitch"
    assert pfi_group("rhythm/tempo/mean") == "Rhythm"
    assert pfi_group("timbre/centroid/mean") == "Timbre"
    assert pfi_group("tone/key_strength/mean") == "Tone"
    assert pfi_group("embedding/vggish_017/mean") == "Embedding"
    assert len(PFI_GROUPS) == 8


def test_bad_names_are_refused():
    with pytest.raises(ParameterError, match="not a feature name"):
        pfi_group("film_id")
    with pytest.raises(ParameterError, match="unknown group 'colour'"):
        pfi_group("colour/hue/mean")


def test_group_columns_skips_keys_and_keeps_fig3_order():
    groups = group_columns(["film_id", "tone/entropy/mean", "mfcc/mfcc_01/mean", "cue_id"])
    assert list(groups) == ["MFCCs", "Tone"]


def test_group_columns_lenient_keeps_other_prefixes_after_the_studys():
    cols = ["tags/musicnn_rock/mean", "embedding/musicnn_001/mean", "tone/key/mean", "tags/musicnn_jazz/mean"]
    with pytest.raises(ParameterError, match="unknown group 'tags'"):
        group_columns(cols)
    groups = group_columns(cols, strict=False)
    assert list(groups) == ["Tone", "Embedding", "tags"]
    assert groups["tags"] == ["tags/musicnn_rock/mean", "tags/musicnn_jazz/mean"]
