"""Tests of VGGish (scorelens.features._vggish).

The front end is checked against the reference NumPy implementation shipped in
torchvggish 0.2's sdist (``mel_features.py``, ``vggish_input.py``, copies of the official
code), loaded by path: importing the ``torchvggish`` package itself needs soundfile and
downloads weights. The network is checked with weights generated in the released
format (a full-size TensorFlow V1 checkpoint written by the tests' writer) against a
NumPy forward pass written in TensorFlow's own NHWC layout.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import time
import types
from pathlib import Path

import numpy as np
import pytest
import torch

from scorelens.exceptions import FeatureError, ParameterError
from scorelens.features import _vggish as vg
from scorelens.features._base import get_kind

SR = vg.SAMPLE_RATE


def _load_by_path(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


tfwriter = _load_by_path("_scorelens_tfwriter", Path(__file__).parents[1] / "io" / "_tfwriter.py")

# Released variable names and shapes of vggish_model.ckpt (TensorFlow layout).
VGGISH_SHAPES = {
    "vggish/conv1": (3, 3, 1, 64), "vggish/conv2": (3, 3, 64, 128),
    "vggish/conv3/conv3_1": (3, 3, 128, 256), "vggish/conv3/conv3_2": (3, 3, 256, 256),
    "vggish/conv4/conv4_1": (3, 3, 256, 512), "vggish/conv4/conv4_2": (3, 3, 512, 512),
    "vggish/fc1/fc1_1": (12288, 4096), "vggish/fc1/fc1_2": (4096, 4096), "vggish/fc2": (4096, 128),
}


def _signal(seconds: float, seed: int = 0) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    rng = np.random.default_rng(seed)
    chirp = np.sin(2 * np.pi * (200 * t + 300 * t ** 2))
    return (0.4 * chirp + 0.3 * np.sin(2 * np.pi * 880 * t) * (t % 1 < 0.5) + 0.05 * rng.standard_normal(t.size))


def _released_weights() -> dict[str, np.ndarray]:
    """Random VGGish weights with the released names and shapes, scaled to keep activations O(1)."""
    rng = np.random.default_rng(7)
    tensors = {}
    for name, shape in VGGISH_SHAPES.items():
        fan_in = int(np.prod(shape[:-1]))
        weights = rng.random(shape, dtype=np.float32)  # uniform with He variance 2 / fan_in
        weights -= np.float32(0.5)
        weights *= np.float32(2.0 * np.sqrt(6.0 / fan_in))
        tensors[f"{name}/weights"] = weights
        tensors[f"{name}/biases"] = (0.05 * rng.standard_normal(shape[-1])).astype(np.float32)
    tensors["global_step"] = np.array(0, dtype=np.int64)
    return tensors


def _pca_params() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(8)
    q, _ = np.linalg.qr(rng.standard_normal((128, 128)))
    return {"pca_eigen_vectors": q * 0.5, "pca_means": rng.standard_normal((128, 1))}


@pytest.fixture(scope="module")
def released(tmp_path_factory):
    """A folder holding Google's two files, in their released formats, with random weights.

    Written once per test session: under pytest-xdist the workers share it (the first to
    create the folder writes it, the others wait), which saves writing 288 MB twice.
    """
    base = tmp_path_factory.getbasetemp()
    folder = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "vggish_release"
    done = folder / "written"
    try:
        folder.mkdir()
    except FileExistsError:
        deadline = time.monotonic() + 300
        while not done.exists():
            if time.monotonic() > deadline:
                pytest.fail(f"{folder}: another worker did not finish writing the VGGish test weights")
            time.sleep(0.2)
    else:
        tfwriter.write_v1(folder / "vggish_model.ckpt", _released_weights())
        np.savez(folder / "vggish_pca_params.npz", **_pca_params())
        done.touch()
    return folder


@pytest.fixture(scope="module")
def kind(released):
    return vg.VGGishKind(weights_dir=released, environ={})


# --------------------------------------------------------------------------- front end

@pytest.fixture(scope="module")
def reference_input():
    spec = importlib.util.find_spec("torchvggish")
    if spec is None:
        pytest.skip("reference front end not installed (pip install --no-deps torchvggish==0.2)")
    root = Path(next(iter(spec.submodule_search_locations)))
    saved = {name: sys.modules.get(name) for name in ("resampy", "soundfile")}
    package = types.ModuleType("_vggish_reference")
    package.__path__ = [str(root)]
    sys.modules["_vggish_reference"] = package
    for name in saved:  # imported by vggish_input.py, never called at 16 kHz
        sys.modules.setdefault(name, types.ModuleType(name))
    try:
        mel_features = _load_by_path("_vggish_reference.mel_features", root / "mel_features.py")
        _load_by_path("_vggish_reference.vggish_params", root / "vggish_params.py")
        vggish_input = _load_by_path("_vggish_reference.vggish_input", root / "vggish_input.py")
    finally:
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
    return mel_features, vggish_input


def test_front_end_matches_reference_implementation(reference_input):
    mel_features, vggish_input = reference_input
    audio = _signal(4.3)
    expected = vggish_input.waveform_to_examples(audio, SR, return_tensor=False)  # (4, 96, 64)
    ours = vg.vggish_examples(vg.vggish_log_mel(audio))
    assert ours.shape == expected.shape == (4, 96, 64)
    np.testing.assert_allclose(ours, expected, rtol=0, atol=1e-9)
    # float32 input (what the pipeline passes) only adds input rounding
    assert np.abs(vg.vggish_examples(vg.vggish_log_mel(audio.astype(np.float32))) - expected).max() < 1e-4
    reference_matrix = mel_features.spectrogram_to_mel_matrix(
        num_mel_bins=64, num_spectrogram_bins=257, audio_sample_rate=SR, lower_edge_hertz=125, upper_edge_hertz=7500)
    np.testing.assert_allclose(vg.vggish_mel_matrix(), reference_matrix, rtol=0, atol=1e-12)


@pytest.mark.parametrize("n_samples, n_examples", [(15599, 0), (15600, 1), (30959, 1), (30960, 2), (5 * SR, 5)])
def test_examples_are_complete_096s_windows(n_samples, n_examples):
    assert vg.vggish_examples(vg.vggish_log_mel(np.zeros(n_samples))).shape == (n_examples, 96, 64)


def test_a_pure_tone_lights_its_mel_band():
    t = np.arange(SR) / SR
    log_mel = vg.vggish_log_mel(np.sin(2 * np.pi * 1000 * t))
    centres = 700 * (np.exp(np.linspace(vg._hertz_to_mel(125), vg._hertz_to_mel(7500), 66)[1:-1] / 1127) - 1)
    assert abs(centres[log_mel.mean(axis=0).argmax()] - 1000) < 60


# --------------------------------------------------------------------------- network and weights

def _numpy_vggish_nhwc(examples: np.ndarray, tensors: dict[str, np.ndarray], *, final_relu: bool) -> np.ndarray:
    """VGGish forward pass in NumPy on TensorFlow-layout weights (NHWC, SAME padding)."""
    def conv(x, name):
        w, b = tensors[f"{name}/weights"].astype(np.float64), tensors[f"{name}/biases"]
        padded = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
        windows = np.lib.stride_tricks.sliding_window_view(padded, (3, 3), axis=(1, 2))  # (n, h, w, c, 3, 3)
        return np.maximum(np.einsum("nhwcij,ijco->nhwo", windows, w, optimize=True) + b, 0.0)

    def pool(x):
        n, h, w, c = x.shape
        return x.reshape(n, h // 2, 2, w // 2, 2, c).max(axis=(2, 4))

    x = examples[..., None].astype(np.float64)  # (n, 96, 64, 1)
    x = pool(conv(x, "vggish/conv1"))
    x = pool(conv(x, "vggish/conv2"))
    x = pool(conv(conv(x, "vggish/conv3/conv3_1"), "vggish/conv3/conv3_2"))
    x = pool(conv(conv(x, "vggish/conv4/conv4_1"), "vggish/conv4/conv4_2"))  # (n, 6, 4, 512)
    x = x.reshape(x.shape[0], -1)
    for name in ("vggish/fc1/fc1_1", "vggish/fc1/fc1_2"):
        x = np.maximum(x @ tensors[f"{name}/weights"] + tensors[f"{name}/biases"], 0.0)
    x = x @ tensors["vggish/fc2/weights"] + tensors["vggish/fc2/biases"]
    return np.maximum(x, 0.0) if final_relu else x


def test_released_format_weights_give_128d_frames_every_096s(kind):
    frames = kind.compute(_signal(5.2).astype(np.float32), SR)
    assert frames.values.shape == (5, 128) and frames.values.dtype == np.float32
    np.testing.assert_allclose(frames.times, 0.4875 + 0.96 * np.arange(5))
    assert kind.frame_rate_hz == pytest.approx(1 / 0.96) and kind.sample_rate == 16000
    assert frames.names[0] == "embedding/vggish_000/mean" and frames.names[-1] == "embedding/vggish_127/mean"
    # the released 8-bit format: integers in [0, 255]
    assert np.all((frames.values >= 0) & (frames.values <= 255)) and np.all(frames.values == np.round(frames.values))
    assert len(np.unique(frames.values)) > 20


@pytest.mark.parametrize("conv_batch", [32, 2])
def test_network_matches_a_tensorflow_layout_forward_pass(kind, monkeypatch, conv_batch):
    # With conv_batch=2 the 5 examples take the convolutions in groups of 2, 2 and 1.
    monkeypatch.setattr(kind.net, "conv_batch", conv_batch)
    tensors = _released_weights()  # the same seeded values as the released fixture's file
    examples = vg.vggish_examples(vg.vggish_log_mel(_signal(5.2))).astype(np.float32)  # (5, 96, 64)
    expected = _numpy_vggish_nhwc(examples, tensors, final_relu=False)
    with torch.inference_mode():
        ours = kind.net(torch.from_numpy(examples)).numpy()
    assert ours.shape == (5, 128)
    assert (expected < 0).any()  # the linear 128-d layer has negative values
    np.testing.assert_allclose(ours, expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())


def test_final_relu_setting(kind):
    examples = torch.from_numpy(vg.vggish_examples(vg.vggish_log_mel(_signal(2.0))).astype(np.float32))
    with torch.device("meta"):
        with_relu = vg.VGGish(final_relu=True).eval()
    with_relu.load_state_dict(kind.net.state_dict(), assign=True)  # the ReLU has no parameters: same state dict
    with torch.inference_mode():
        linear, relu = kind.net(examples), with_relu(examples)
    assert not kind.final_relu  # the default follows the current official code
    assert (linear < 0).any()
    torch.testing.assert_close(relu, torch.relu(linear))


def test_postprocess_pca_clip_and_quantise():
    matrix, means = np.eye(128), np.full(128, 0.5)
    embeddings = np.full((3, 128), 0.5)
    embeddings[1, :3] = [0.5 + 1.0, 0.5 + 5.0, 0.5 - 5.0]  # PCA values 1, 5 (clipped to 2), -5 (clipped to -2)
    out = vg.vggish_postprocess(embeddings, matrix, means)
    assert out.dtype == np.uint8
    assert out[0, 0] == 127  # (0 + 2) * 255 / 4 = 127.5, truncated as the official code does
    assert list(out[1, :3]) == [191, 255, 0]  # (1 + 2) * 63.75 = 191.25


def test_v2_bundle_is_found_and_read(tmp_path):
    # A V2 bundle with the release's prefix (a re-saved checkpoint): found through the
    # environment variable and read through the same loader. Small tensors keep this fast;
    # full-size weights go through the V1 file of the `released` fixture.
    tfwriter.write_v2(tmp_path / "vggish_model.ckpt", {"vggish/conv1/weights": np.zeros((3, 3, 1, 64), np.float32)})
    np.savez(tmp_path / "vggish_pca_params.npz", **_pca_params())
    weights = vg.find_vggish_weights(environ={vg.VGGISH_DIR_ENV: str(tmp_path)})
    assert weights.checkpoint == tmp_path / "vggish_model.ckpt"
    assert weights.pca_params == tmp_path / "vggish_pca_params.npz"
    with pytest.raises(FeatureError, match=r"vggish_model\.ckpt: not a VGGish checkpoint: missing vggish/conv1/biases"):
        vg.load_vggish(weights)


def test_torchvggish_files_through_the_registry(tmp_path, kind):
    # torchvggish's files: a state dict, and the PCA parameters as NumPy arrays in a torch pickle
    torch.save(kind.net.state_dict(), tmp_path / "vggish-10086976.pth")
    torch.save(_pca_params(), tmp_path / "vggish_pca_params-970ea276.pth")
    raw_kind = get_kind("vggish", weights_dir=tmp_path, postprocess=False, environ={})
    assert isinstance(raw_kind, vg.VGGishKind) and raw_kind.dim == 128
    assert raw_kind.weights.checkpoint.name == "vggish-10086976.pth" and raw_kind.weights.pca_params is None
    assert raw_kind.settings()["checkpoint"].startswith("vggish-10086976.pth:")
    audio = _signal(2.0).astype(np.float32)
    raw = raw_kind.compute(audio, SR).values
    assert (raw < 0).any() and raw.shape == (2, 128)
    pca_matrix, pca_means = vg.load_pca_params(tmp_path / "vggish_pca_params-970ea276.pth")
    np.testing.assert_array_equal(pca_matrix, kind.pca[0])
    np.testing.assert_array_equal(vg.vggish_postprocess(raw, pca_matrix, pca_means), kind.compute(audio, SR).values)


# --------------------------------------------------------------------------- missing, wrong or corrupt weights

def test_missing_weights_say_which_files_and_where(tmp_path):
    with pytest.raises(FeatureError, match=r"no weights folder given and SCORELENS_VGGISH_DIR is not set") as info:
        get_kind("vggish", environ={})
    message = str(info.value)
    for needed in ("vggish_model.ckpt", "vggish_pca_params.npz", "vggish-10086976.pth",
                   "vggish_pca_params-970ea276.pth", "--set weights_dir=DIR", "EmbeddingConfig(vggish_dir=DIR)",
                   "SCORELENS_VGGISH_DIR=DIR", "other feature kinds"):
        assert needed in message
    with pytest.raises(FeatureError, match=r"no VGGish network weights in this folder \(SCORELENS_VGGISH_DIR=") as info:
        vg.VGGishKind(environ={vg.VGGISH_DIR_ENV: str(tmp_path)})
    assert str(info.value).startswith(f"{tmp_path}: ")
    with pytest.raises(FeatureError, match=r"nowhere: VGGish weights folder does not exist"):
        vg.VGGishKind(weights_dir=tmp_path / "nowhere")
    with pytest.raises(ParameterError, match=r"final_relu='False' must be true or false"):
        get_kind("vggish", final_relu="False", environ={})


def test_missing_pca_params(tmp_path, released):
    (tmp_path / "vggish_model.ckpt").symlink_to(released / "vggish_model.ckpt")
    with pytest.raises(FeatureError, match=r"no VGGish PCA parameters in this folder"):
        vg.VGGishKind(weights_dir=tmp_path, environ={})


def test_corrupt_checkpoint(tmp_path):
    fixture = Path(__file__).resolve().parents[1] / "fixtures" / "tf_small_v1.ckpt"
    data = fixture.read_bytes()
    (tmp_path / "vggish_model.ckpt").write_bytes(data[: len(data) // 2])
    with pytest.raises(FeatureError, match=r"vggish_model\.ckpt: .*(footer|truncated)"):
        vg.load_vggish(tmp_path / "vggish_model.ckpt")
    corrupt = bytearray(data)
    corrupt[100] ^= 0xFF
    (tmp_path / "flipped.ckpt").write_bytes(bytes(corrupt))
    with pytest.raises(FeatureError, match=r"flipped\.ckpt: not a valid TensorFlow checkpoint: checksum mismatch"):
        vg.load_vggish(tmp_path / "flipped.ckpt")
    (tmp_path / "page.ckpt").write_text("<html>403 Forbidden</html>\n" * 4)
    with pytest.raises(FeatureError, match=r"page\.ckpt: .*wrong magic number"):
        vg.load_vggish(tmp_path / "page.ckpt")


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")  # the garbage .pth below
def test_wrong_checkpoint(tmp_path):
    small = {f"{name}/{kind}": np.zeros(shape if kind == "weights" else shape[-1:], np.float32)
             for name, shape in VGGISH_SHAPES.items() if "fc1" not in name for kind in ("weights", "biases")}
    tfwriter.write_v1(tmp_path / "no_fc1.ckpt", small)
    tfwriter.write_v1(tmp_path / "other.ckpt", {"dense/kernel": np.zeros((3, 3), np.float32)})
    with pytest.raises(FeatureError, match=r"no_fc1\.ckpt: not a VGGish checkpoint: missing vggish/fc1/fc1_1/weights"):
        vg.load_vggish(tmp_path / "no_fc1.ckpt")
    with pytest.raises(FeatureError, match=r"other\.ckpt: not a VGGish checkpoint: missing vggish/conv1/weights.*"
                                           r"it holds dense/kernel"):
        vg.load_vggish(tmp_path / "other.ckpt")
    torch.save({"features.3.weight": torch.zeros(128, 32, 3, 3)}, tmp_path / "vggish.pth")
    with pytest.raises(FeatureError, match=r"vggish\.pth: not VGGish weights: features\.3\.weight has shape "
                                           r"\(128, 32, 3, 3\), VGGish needs \(128, 64, 3, 3\)"):
        vg.load_vggish(tmp_path / "vggish.pth")
    (tmp_path / "garbage.pth").write_bytes(b"\x80\x04garbage")
    with pytest.raises(FeatureError, match=r"garbage\.pth: not a PyTorch weights file"):
        vg.load_vggish(tmp_path / "garbage.pth")


def test_wrong_pca_params(tmp_path):
    np.savez(tmp_path / "bad_shape.npz", pca_eigen_vectors=np.eye(64), pca_means=np.zeros(64))
    with pytest.raises(FeatureError, match=r"bad_shape\.npz: pca_eigen_vectors has shape \(64, 64\)"):
        vg.load_pca_params(tmp_path / "bad_shape.npz")
    np.savez(tmp_path / "no_means.npz", pca_eigen_vectors=np.eye(128))
    with pytest.raises(FeatureError, match=r"no_means\.npz: VGGish PCA parameters need .*found pca_eigen_vectors"):
        vg.load_pca_params(tmp_path / "no_means.npz")
    nan = np.eye(128)
    nan[3, 3] = np.nan
    np.savez(tmp_path / "nan.npz", pca_eigen_vectors=nan, pca_means=np.zeros(128))
    with pytest.raises(FeatureError, match=r"nan\.npz: PCA parameters hold non-finite values"):
        vg.load_pca_params(tmp_path / "nan.npz")
    (tmp_path / "text.npz").write_text("not an archive")
    with pytest.raises(FeatureError, match=r"text\.npz: not a NumPy \.npz archive"):
        vg.load_pca_params(tmp_path / "text.npz")


def test_batches_and_front_end_slices_do_not_change_the_frames(kind, monkeypatch):
    audio = _signal(7.0).astype(np.float32)  # 7 examples
    monkeypatch.setattr(kind, "postprocess", False)  # the raw layer: 8-bit steps would hide differences
    whole = kind.embed(audio)
    monkeypatch.setattr(kind, "batch_size", 3)  # batches of 3, 3 and 1 ...
    monkeypatch.setattr(kind.net, "conv_batch", 2)  # ... each's front end and convolutions by 2
    sliced = kind.embed(audio)
    assert sliced.shape == whole.shape == (7, 128)
    np.testing.assert_allclose(sliced, whole, rtol=1e-5, atol=1e-5 * np.abs(whole).max())


def test_device_option(released, kind):
    on_cpu = vg.VGGishKind(weights_dir=released, environ={}, device="cpu")
    audio = _signal(3.0).astype(np.float32)
    assert on_cpu.device == torch.device("cpu")
    np.testing.assert_array_equal(on_cpu.compute(audio, SR).values, kind.compute(audio, SR).values)
    with pytest.raises(ParameterError, match=r"device='tpu' is not a torch device"):
        vg.VGGishKind(weights_dir=released, environ={}, device="tpu")


def test_bad_audio_is_refused(kind):
    audio = np.zeros(2 * SR, dtype=np.float32)
    audio[SR // 4] = np.inf
    with pytest.raises(ParameterError, match=r"1 non-finite samples \(first at t=0\.250s\)"):
        kind.compute(audio, SR)
    with pytest.raises(ParameterError, match=r"sr=44100 must be 16000 Hz"):
        kind.compute(np.zeros(44100, dtype=np.float32), 44100)
    with pytest.raises(FeatureError, match=r"span too short for vggish: 0\.900s < 0\.975s"):
        kind.compute(np.zeros(int(0.9 * SR), dtype=np.float32), SR)
