"""Tests of the PyTorch musicnn port (scorelens.features._musicnn).

The reference outputs in ``tests/fixtures/musicnn_reference.npz`` were computed once with
the original TensorFlow graph (``benchmarks/make_musicnn_reference.py``).
"""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from scorelens.config import EmbeddingConfig
from scorelens.exceptions import FeatureError, ParameterError
from scorelens.features._base import get_kind

if importlib.util.find_spec("musicnn") is None:
    pytest.skip("musicnn wheel not installed (pip install --no-deps musicnn==0.1.0)", allow_module_level=True)

from scorelens.features import _musicnn as mn  # noqa: E402

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "musicnn_reference.npz"
SR = mn.SAMPLE_RATE


@pytest.fixture(scope="module")
def reference():
    with np.load(FIXTURE) as z:
        return {k: z[k] for k in z.files}


@pytest.fixture(scope="module")
def msd_kind():
    return mn.MusicnnKind()


def _fixture_audio(reference) -> np.ndarray:
    return reference["audio_int16"].astype(np.float32) / 32768.0


def _assert_close_to_reference(ours: np.ndarray, ref: np.ndarray, what: str) -> None:
    # The known-good port matches TensorFlow to ~1e-5 relative to each output's scale.
    err = np.abs(ours - ref).max()
    assert err <= 1e-5 * max(1.0, np.abs(ref).max()), f"{what}: max error {err:.3g}"


# --------------------------------------------------------------------------- numerical agreement

@pytest.mark.parametrize("model", ["MSD_musicnn", "MTT_musicnn"])
def test_network_matches_the_original_tensorflow_graph(reference, model):
    net = mn.load_musicnn(model)
    patches = np.stack([reference["logmel"][s:s + mn.PATCH_FRAMES] for s in reference["patch_starts"]])
    with torch.inference_mode():
        out = net(torch.from_numpy(patches))
    for name in ("penultimate", "tags", "logits", "mean_pool", "max_pool"):
        _assert_close_to_reference(getattr(out, name).numpy(), reference[f"{model}_{name}"], f"{model} {name}")


def test_front_end_matches_librosa_reference(reference):
    ours = mn.musicnn_log_mel(_fixture_audio(reference))
    assert ours.shape == reference["logmel"].shape == (313, 96)
    assert np.abs(ours - reference["logmel"]).max() < 1e-4


def test_loud_passage_stays_finite(reference):
    # The fixture ends with a near full-scale chord: 10000 * mel exceeds float16's range
    # (65504), so musicnn's own float16 cast would give inf; the port keeps float32.
    logmel = mn.musicnn_log_mel(_fixture_audio(reference))
    assert 10.0 ** logmel.max() - 1.0 > 65504.0
    assert np.isfinite(logmel).all()


def test_kind_frames_match_tensorflow_end_to_end(reference, msd_kind):
    # 5 s of audio: grid frames at 0.5 … 4.5 s; the first and last use the patches the
    # reference computed at the spectrogram's two ends (starts 0 and 126).
    frames = msd_kind.compute(_fixture_audio(reference), SR)
    np.testing.assert_allclose(frames.times, [0.5, 1.5, 2.5, 3.5, 4.5])
    assert frames.values.shape == (5, 250) and frames.values.dtype == np.float32
    for row, patch in ((0, 0), (4, 2)):
        _assert_close_to_reference(frames.values[row, :200], reference["MSD_musicnn_penultimate"][patch],
                                   f"frame {row} embedding")
        _assert_close_to_reference(frames.values[row, 200:], reference["MSD_musicnn_tags"][patch],
                                   f"frame {row} tags")


# --------------------------------------------------------------------------- grid and shared front end

def _separately(net, logmel, starts):
    return net(torch.stack([logmel[s:s + mn.PATCH_FRAMES] for s in starts]))


@pytest.mark.parametrize("batch_size", [1, 2, 8])
def test_shared_front_end_equals_separate_patches(msd_kind, batch_size):
    # Overlapping, adjacent, repeated, first and end-aligned patches, in no particular order:
    # each one's edge frames, padding and interior must come out as when it runs alone
    # (the network's forward, checked against TensorFlow above).
    logmel = torch.from_numpy(np.random.default_rng(3).uniform(0, 3, (400, 96)).astype(np.float32))
    starts = [150, 0, 1, 62, 213, 62, 100]
    with torch.inference_mode():
        shared = msd_kind.net.embed_spectrogram(logmel, starts, batch_size=batch_size)
        separate = _separately(msd_kind.net, logmel, starts)
    for name in ("penultimate", "tags", "logits", "max_pool", "mean_pool"):
        ours, ref = getattr(shared, name).numpy(), getattr(separate, name).numpy()
        assert ours.shape == ref.shape == (len(starts), ref.shape[1])
        # The timbral filters run in the DFT domain: float32 rounding differs (~1e-6 relative).
        np.testing.assert_allclose(ours, ref, rtol=1e-5, atol=1e-5 * np.abs(ref).max(), err_msg=name)


def test_shared_path_follows_new_weights(msd_kind):
    # The rearranged weights are cached with the network; loading other weights must not reuse them.
    net = mn.load_musicnn()
    logmel = torch.from_numpy(np.random.default_rng(4).uniform(0, 3, (250, 96)).astype(np.float32))
    with torch.no_grad():
        before = net.embed_spectrogram(logmel, [0, 63]).penultimate
        state = {k: v * 1.5 if k.endswith("conv.weight") else v for k, v in net.state_dict().items()}
        net.load_state_dict(state)
        after = net.embed_spectrogram(logmel, [0, 63])
        separate = _separately(net, logmel, [0, 63])
    assert (after.penultimate - before).abs().max().item() > 1e-2
    np.testing.assert_allclose(after.penultimate, separate.penultimate, rtol=1e-5, atol=1e-5)


def test_patch_outside_the_spectrogram_is_refused(msd_kind):
    logmel = torch.zeros(200, 96)
    with pytest.raises(ParameterError, match=r"patch starts must lie in \[0, 13\] for 200 frames; got 0..14"):
        msd_kind.net.embed_spectrogram(logmel, [0, 14])
    with pytest.raises(ParameterError, match="at least one patch"):
        msd_kind.net.embed_spectrogram(logmel, [])


def test_patches_are_centred_on_grid_times_and_clamped_at_the_ends():
    n_samples = 10 * SR + 300  # 10.02 s: grid frames 0 … 9
    n_frames = 1 + n_samples // mn.HOP_LENGTH  # 626
    starts, times = mn.grid_patches(n_samples, n_frames)
    np.testing.assert_allclose(times, np.arange(10) + 0.5)
    assert starts[0] == 0  # centred on 0.5 s, the patch would start before the audio: clamped
    assert starts[1] == 1  # centred on 1.5 s: frame round(1.5 * 62.5) = 94, minus 93
    centre = starts + mn.PATCH_FRAMES // 2
    inside = (starts > 0) & (starts < n_frames - mn.PATCH_FRAMES)
    np.testing.assert_allclose(centre[inside] * mn.HOP_LENGTH / SR, times[inside], atol=0.5 * mn.HOP_LENGTH / SR)
    assert starts.max() == n_frames - mn.PATCH_FRAMES


def test_kind_contract(msd_kind):
    names = msd_kind.column_names()
    assert msd_kind.name == "musicnn" and msd_kind.sample_rate == 16000 and msd_kind.frame_rate_hz == 1.0
    assert msd_kind.dim == 250 and len(set(names)) == 250
    assert names[0] == "embedding/musicnn_000/mean" and names[199] == "embedding/musicnn_199/mean"
    assert "tags/musicnn_rock/mean" in names and "tags/musicnn_hip_hop/mean" in names
    assert "tags/musicnn_female_vocalists/mean" in names and "tags/musicnn_female_vocalist/mean" in names
    assert msd_kind.settings()["model"] == "MSD_musicnn"


def test_registry_options_and_mtt_model():
    kind = get_kind("musicnn", **EmbeddingConfig(musicnn_tags=False).kind_options("musicnn"))
    assert isinstance(kind, mn.MusicnnKind) and kind.dim == 200
    mtt = get_kind("musicnn", model="MTT_musicnn")
    assert "tags/musicnn_mtt_no_vocals/mean" in mtt.column_names()
    assert mtt.column_names()[0] == "embedding/musicnn_mtt_000/mean"


def test_long_spans_are_computed_in_chunks(reference, msd_kind, monkeypatch):
    audio = np.tile(_fixture_audio(reference), 3)  # 15 s
    whole = msd_kind.compute(audio, SR)
    monkeypatch.setattr(msd_kind, "chunk_patches", 4)
    chunked = msd_kind.compute(audio, SR)
    assert chunked.values.shape == (15, 250)
    np.testing.assert_allclose(chunked.values, whole.values, rtol=1e-5, atol=1e-5)


def test_short_span_is_repeat_padded_to_one_patch(msd_kind):
    # 1.4 s of a tone that changes pitch halfway: 88 spectrogram frames, repeated by hand
    # (frames 0..87, 0..87, 0..10) into one 187-frame patch and run through the network.
    t = np.arange(int(1.4 * SR)) / SR
    audio = (0.3 * np.sin(2 * np.pi * np.where(t < 0.7, 330, 880) * t)).astype(np.float32)
    frames = msd_kind.compute(audio, SR)
    assert frames.values.shape == (1, 250) and np.isfinite(frames.values).all()
    np.testing.assert_allclose(frames.times, [0.5])
    logmel = mn.musicnn_log_mel(audio)
    n = logmel.shape[0]
    assert n < mn.PATCH_FRAMES
    repeated = logmel[np.arange(mn.PATCH_FRAMES) % n]
    silence = np.concatenate([logmel, np.zeros((mn.PATCH_FRAMES - n, logmel.shape[1]), logmel.dtype)])

    def run(patch):
        with torch.inference_mode():
            out = msd_kind.net(torch.from_numpy(np.ascontiguousarray(patch))[None])
        return torch.cat([out.penultimate, out.tags], dim=1).numpy()

    np.testing.assert_allclose(frames.values, run(repeated), rtol=1e-4, atol=1e-5)
    # Padding with silence (log-mel 0) instead would give other values: the check can tell.
    assert np.abs(run(silence) - frames.values).max() > 100 * np.abs(run(repeated) - frames.values).max() + 1e-3


# --------------------------------------------------------------------------- bad input and missing weights

def test_bad_audio_is_refused(msd_kind):
    audio = np.zeros(3 * SR, dtype=np.float32)
    audio[SR + 8] = np.nan
    with pytest.raises(ParameterError, match=r"1 non-finite samples \(first at t=1\.000s\)"):
        msd_kind.compute(audio, SR)
    with pytest.raises(ParameterError, match=r"sr=22050 must be 16000 Hz"):
        msd_kind.compute(np.zeros(3 * 22050, dtype=np.float32), 22050)
    with pytest.raises(ParameterError, match=r"mono"):
        msd_kind.compute(np.zeros((2, 3 * SR), dtype=np.float32), SR)
    with pytest.raises(FeatureError, match=r"span too short for musicnn: 0\.500s < 1\.000s"):
        msd_kind.compute(np.zeros(SR // 2, dtype=np.float32), SR)


def test_bad_options():
    with pytest.raises(ParameterError, match=r"model='MSD_vgg' must be one of MSD_musicnn, MTT_musicnn"):
        mn.load_musicnn("MSD_vgg")
    with pytest.raises(ParameterError, match=r"tags='False' must be true or false"):
        get_kind("musicnn", tags="False")
    with pytest.raises(ParameterError, match=r"batch_size=0 must be a positive integer"):
        get_kind("musicnn", batch_size=0)
    with pytest.raises(ParameterError, match=r"device='gpu0' is not a torch device"):
        get_kind("musicnn", device="gpu0")


def test_device_passed_explicitly(reference, msd_kind):
    # One code path for every device: here the CPU, named as a caller would name a GPU.
    audio = _fixture_audio(reference)
    on_cpu = mn.MusicnnKind(device=torch.device("cpu"))
    assert on_cpu.device == torch.device("cpu")
    np.testing.assert_array_equal(on_cpu.compute(audio, SR).values, msd_kind.compute(audio, SR).values)


def test_missing_wheel_says_how_to_install(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "musicnn" else real(name, *a))
    with pytest.raises(FeatureError, match=r"pip install --no-deps musicnn==0\.1\.0"):
        mn.MusicnnKind()


def test_missing_or_corrupt_checkpoint(tmp_path):
    with pytest.raises(FeatureError, match=r"MSD_musicnn: musicnn checkpoint not found"):
        mn.load_musicnn(weights_dir=tmp_path)
    shutil.copytree(mn.musicnn_weights_dir() / "MSD_musicnn", tmp_path / "MSD_musicnn",
                    ignore=shutil.ignore_patterns("*.meta", "*.tsv"))
    data = tmp_path / "MSD_musicnn" / ".data-00000-of-00001"
    raw = bytearray(data.read_bytes())
    raw[::1000] = bytes(b ^ 0xFF for b in raw[::1000])  # hits the tensors read (and Adam slots, not read)
    data.write_bytes(bytes(raw))
    with pytest.raises(FeatureError, match=r"MSD_musicnn.*checksum mismatch"):
        mn.load_musicnn(weights_dir=tmp_path)
