import numpy as np
import pytest

from scorelens.exceptions import ParameterError
from scorelens.features._base import FeatureKind, FrameFeatures, available_kinds, get_kind, register_kind


class _Loudness(FeatureKind):
    name = "loudness"
    sample_rate = 8000
    frame_rate_hz = 2.0

    def __init__(self, scale: float = 1.0):
        self.scale = scale

    def column_names(self):
        return ["dynamics/loudness/mean"]

    def compute(self, audio, sr):
        frames = audio[: audio.size // 4000 * 4000].reshape(-1, 4000)
        values = self.scale * np.sqrt(np.mean(frames ** 2, axis=1, keepdims=True))
        return FrameFeatures(times=(np.arange(len(frames)) + 0.5) / 2, values=values.astype(np.float32),
                             names=self.column_names())


def test_user_kind_registers_and_computes():
    register_kind("loudness", _Loudness)
    assert "loudness" in available_kinds() and {"mir", "vggish", "musicnn"} <= set(available_kinds())
    kind = get_kind("loudness", scale=2.0)
    out = kind.compute(np.full(16000, 0.5, dtype=np.float32), 8000)
    assert kind.dim == 1 and out.values.shape == (4, 1)
    np.testing.assert_allclose(out.values, 1.0)


def test_unknown_kind_and_misspelt_option_are_parameter_errors():
    with pytest.raises(ParameterError, match="unknown feature kind 'clap'; known kinds: .*mir"):
        get_kind("clap")
    register_kind("loudness", _Loudness)
    with pytest.raises(ParameterError, match=r"'loudness' has no option\(s\) scael; its options: scale"):
        get_kind("loudness", scael=2)
    with pytest.raises(ParameterError, match="must be alphanumeric"):
        register_kind("bad name!", _Loudness)


def test_frame_features_check_shapes():
    with pytest.raises(ParameterError, match=r"values shape \(3, 2\) must be"):
        FrameFeatures(times=np.arange(3.0), values=np.zeros((3, 2)), names=["a/b/c"])
