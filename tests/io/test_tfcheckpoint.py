"""Tests of the NumPy TensorFlow checkpoint reader (scorelens.io.tfcheckpoint)."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import numpy as np
import pytest

from scorelens.exceptions import FeatureError
from scorelens.io.tfcheckpoint import crc32c, mask_crc, open_checkpoint, unmask_crc

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def _load_writer():
    spec = importlib.util.spec_from_file_location("_scorelens_tfwriter", Path(__file__).with_name("_tfwriter.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


tfwriter = _load_writer()


def tf_fixture_values() -> dict[str, np.ndarray]:
    """The closed-form values saved by benchmarks/make_tf_checkpoint_fixture.py."""
    return {
        "vggish/conv1/weights": (np.arange(36, dtype=np.float32).reshape(3, 3, 1, 4) - 17.5) / 8.0,
        "vggish/conv1/biases": np.array([0.5, -1.25, 3.0, 1e-3], dtype=np.float32),
        "global_step": np.array(123456789012, dtype=np.int64),
        "ints": np.array([-3, 0, 7, 2147483647], dtype=np.int32),
        "dbl": np.array([1.5, -2.25, np.pi]),
        "half": np.array([1.5, -2.25, 65504.0], dtype=np.float16),
    }


def assert_same_tensors(ckpt, expected):
    assert ckpt.names() == sorted(expected)
    for name, value in expected.items():
        got = ckpt.read(name)
        assert got.dtype == value.dtype, name
        assert got.shape == value.shape, name
        np.testing.assert_array_equal(got, value, err_msg=name)


# --------------------------------------------------------------------------- CRC32C

@pytest.mark.parametrize("data, crc", [
    (b"", 0x00000000),
    (b"123456789", 0xE3069283),  # the CRC-32C check value
    (bytes(32), 0x8A9136AA),  # RFC 3720, B.4
    (b"\xff" * 32, 0x62A8AB43),
    (bytes(range(32)), 0x46DD794E),
])
def test_crc32c_known_values(data, crc):
    assert crc32c(data) == crc


def test_crc32c_vectorised_lanes_agree_with_bytewise():
    data = np.random.default_rng(0).integers(0, 256, 300_001, dtype=np.uint8).tobytes()
    bytewise = crc32c(data, lane=4 * len(data))  # shorter than 4 lanes: the byte-at-a-time path
    assert crc32c(data, lane=64) == bytewise  # 4687 lanes, then a 33-byte tail
    assert crc32c(memoryview(data)[1:], lane=64) == crc32c(data[1:], lane=4 * len(data))  # unaligned start
    assert crc32c(data, lane=4096) == bytewise
    assert crc32c(data[:70_000], lane=1024) == crc32c(data[:70_000], lane=4 * 70_000)
    assert crc32c(data[:65_536], lane=16_384) == crc32c(data[:65_536], lane=4 * 65_536)  # no tail


def test_mask_round_trip():
    for crc in (0, 1, 0xE3069283, 0xFFFFFFFF):
        assert unmask_crc(mask_crc(crc)) == crc
    assert mask_crc(0) == 0xA282EAD8


# --------------------------------------------------------------------------- files TensorFlow wrote

def test_reads_v1_file_written_by_tensorflow():
    ckpt = open_checkpoint(FIXTURES / "tf_small_v1.ckpt")
    assert ckpt.format == "V1"
    assert_same_tensors(ckpt, tf_fixture_values())


@pytest.mark.parametrize("path", ["tf_small_v2/model.ckpt", "tf_small_v2/model.ckpt.index", "tf_small_v2"])
def test_reads_v2_bundle_written_by_tensorflow(path):
    ckpt = open_checkpoint(FIXTURES / path)
    assert ckpt.format == "V2"
    assert_same_tensors(ckpt, tf_fixture_values())


def test_reads_musicnn_checkpoint_from_the_wheel():
    spec = importlib.util.find_spec("musicnn")
    if spec is None:
        pytest.skip("musicnn wheel not installed (pip install --no-deps musicnn==0.1.0)")
    ckpt = open_checkpoint(Path(next(iter(spec.submodule_search_locations))) / "MSD_musicnn")
    assert ckpt.format == "V2"
    assert ckpt.shape("conv2d/kernel") == (7, 38, 1, 204)
    assert ckpt.shape("dense/kernel") == (1506, 200)
    kernel = ckpt.read("conv2d_5/kernel")  # a ~1 MB tensor, checked against TensorFlow's CRC
    assert kernel.shape == (7, 561, 1, 64) and kernel.dtype == np.float32 and np.isfinite(kernel).all()


# --------------------------------------------------------------------------- files the tests' writer wrote

def _many_tensors():
    rng = np.random.default_rng(1)
    tensors = {f"layer_{i:03d}/kernel": rng.standard_normal((3, i % 5 + 1)).astype(np.float32) for i in range(120)}
    tensors.update(tf_fixture_values())
    tensors["big"] = rng.standard_normal((64, 1000)).astype(np.float32)
    return tensors


@pytest.mark.parametrize("fmt", ["V1", "V2", "V2-snappy"])
def test_round_trip_through_the_test_writer(tmp_path, fmt):
    tensors = _many_tensors()
    if fmt == "V1":
        path = tfwriter.write_v1(tmp_path / "model.ckpt", tensors)
    else:
        path = tfwriter.write_v2(tmp_path / "model.ckpt", tensors, snappy=fmt.endswith("snappy"))
    ckpt = open_checkpoint(path)
    assert ckpt.format == fmt[:2]
    assert_same_tensors(ckpt, tensors)
    assert ckpt.shapes()["big"] == (64, 1000)


# --------------------------------------------------------------------------- broken files

def _flip_byte(path: Path, where: int) -> None:
    data = bytearray(path.read_bytes())
    data[where] ^= 0x5A
    path.write_bytes(bytes(data))


def test_corrupt_v2_data_is_detected(tmp_path):
    shutil.copytree(FIXTURES / "tf_small_v2", tmp_path / "b")
    _flip_byte(tmp_path / "b" / "model.ckpt.data-00000-of-00001", 5)
    ckpt = open_checkpoint(tmp_path / "b" / "model.ckpt")
    with pytest.raises(FeatureError, match=r"model\.ckpt.*corrupt: checksum mismatch"):
        for name in ckpt.names():
            ckpt.read(name)


def test_corrupt_v1_file_is_detected(tmp_path):
    path = tmp_path / "model.ckpt"
    shutil.copy(FIXTURES / "tf_small_v1.ckpt", path)
    _flip_byte(path, 40)
    with pytest.raises(FeatureError, match=r"model\.ckpt: not a valid TensorFlow checkpoint: checksum mismatch"):
        open_checkpoint(path)


def test_truncated_file_is_detected(tmp_path):
    path = tmp_path / "vggish_model.ckpt"
    path.write_bytes((FIXTURES / "tf_small_v1.ckpt").read_bytes()[:-100])
    with pytest.raises(FeatureError, match=r"vggish_model\.ckpt: .*(footer|truncated)"):
        open_checkpoint(path)


def test_truncated_v2_data_is_detected(tmp_path):
    shutil.copytree(FIXTURES / "tf_small_v2", tmp_path / "b")
    data = tmp_path / "b" / "model.ckpt.data-00000-of-00001"
    data.write_bytes(data.read_bytes()[:20])
    ckpt = open_checkpoint(tmp_path / "b" / "model.ckpt")
    with pytest.raises(FeatureError, match=r"beyond the end"):
        for name in ckpt.names():
            ckpt.read(name)


def test_not_a_checkpoint(tmp_path):
    path = tmp_path / "vggish_model.ckpt"
    path.write_text("<html>404 Not Found</html>\n" * 10)
    with pytest.raises(FeatureError, match=r"vggish_model\.ckpt: .*wrong magic number"):
        open_checkpoint(path)


def test_missing_files(tmp_path):
    with pytest.raises(FeatureError, match=r"nothing\.ckpt: no such checkpoint"):
        open_checkpoint(tmp_path / "nothing.ckpt")
    shutil.copytree(FIXTURES / "tf_small_v2", tmp_path / "b")
    (tmp_path / "b" / "model.ckpt.data-00000-of-00001").unlink()
    with pytest.raises(FeatureError, match=r"data shard .*model\.ckpt\.data-00000-of-00001 is missing"):
        open_checkpoint(tmp_path / "b" / "model.ckpt")


def test_unknown_tensor_name_lists_known_ones():
    ckpt = open_checkpoint(FIXTURES / "tf_small_v1.ckpt")
    with pytest.raises(FeatureError, match=r"no tensor 'vggish/fc9/weights'.*6 tensors: dbl, global_step"):
        ckpt.read("vggish/fc9/weights")
