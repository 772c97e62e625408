"""musicnn in PyTorch: a pretrained music embedding that works offline out of the box.

musicnn (Pons & Serra, "musicnn: pre-trained convolutional neural networks for music
audio tagging", ISMIR LBD 2019; ISC licence) was trained on the Million Song Dataset's
50 most frequent tags (``MSD_musicnn``; ``MTT_musicnn`` on MagnaTagATune). Its wheel,
``musicnn==0.1.0``, ships the trained TensorFlow 1 checkpoints, but its pinned
requirements no longer install and its code fails on current TensorFlow, so scorelens:

* installs the wheel for its data only (``pip install --no-deps musicnn==0.1.0``) and
  finds the checkpoint folder with :func:`importlib.util.find_spec` without importing it;
* reads the checkpoint with :mod:`scorelens.io.tfcheckpoint` (no TensorFlow);
* re-implements the network below from ``musicnn/models.py`` and the checkpoint's
  variable names and shapes; it matches the original TensorFlow graph to ~1e-5 (see
  ``tests/features/test_musicnn.py`` and ``benchmarks/make_musicnn_reference.py``).

Layout, as torchaudio's VGGish: recipe constants, the pure log-mel front end, the
``nn.Module`` blocks, a weight loader, and the :class:`MusicnnKind` feature kind.

Frames on the common grid
-------------------------
musicnn describes 3-second patches (187 frames of 16 ms). :class:`MusicnnKind` emits one
frame per second, already on the common 1 Hz grid: frame *k* has time ``k + 0.5`` s and
describes the 3-second patch centred on it, shifted to lie inside the audio at the
span's two ends (so every second's frame covers that second's audio, and no padding of
silence enters a patch). A span of ``D`` seconds has ``floor(D)`` frames, the common
grid's count (a span shorter than one second has none: :class:`FeatureError`). Spans
shorter than a patch are repeated to fill one, as musicnn's training did
(``pad_short: repeat-pad``). Each spectrogram frame lies in three patches; what the
network computes from a frame independently of its patch (the timbral front end, the
temporal front end away from the patch's ends, part of the mid-end) is computed once
and shared by the overlapping patches, and the timbral filters run in the DFT domain
(:mod:`scorelens.features._musicnn_shared`); the result equals running every patch
separately, to float rounding.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import re
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from scorelens.exceptions import FeatureError, ParameterError
from scorelens.features._base import GRID_RATE_HZ, FeatureKind, FrameFeatures
from scorelens.features._embeddings import check_audio, check_device
from scorelens.features._musicnn_shared import embed_patches
from scorelens.io.tfcheckpoint import open_checkpoint

__all__ = ["MusicnnKind", "MusicnnNet", "MusicnnOutput", "load_musicnn", "musicnn_log_mel",
           "musicnn_weights_dir", "MSD_LABELS", "MTT_LABELS", "MODELS", "SAMPLE_RATE", "PATCH_FRAMES"]

# --------------------------------------------------------------------------- recipe

SAMPLE_RATE = 16000
N_FFT = 512
HOP_LENGTH = 256
N_MELS = 96
#: Frames per patch: ``librosa.time_to_frames(3, sr=16000, n_fft=512, hop_length=256) + 1``.
PATCH_FRAMES = 187
#: Log compression ``log10(1 + LOG_SCALE * mel)``.
LOG_SCALE = 10000.0
#: ``tf.compat.v1.layers.batch_normalization``'s default epsilon.
BN_EPSILON = 1e-3

MSD_LABELS: tuple[str, ...] = (
    "rock", "pop", "alternative", "indie", "electronic", "female vocalists", "dance", "00s",
    "alternative rock", "jazz", "beautiful", "metal", "chillout", "male vocalists", "classic rock",
    "soul", "indie rock", "Mellow", "electronica", "80s", "folk", "90s", "chill", "instrumental",
    "punk", "oldies", "blues", "hard rock", "ambient", "acoustic", "experimental", "female vocalist",
    "guitar", "Hip-Hop", "70s", "party", "country", "easy listening", "sexy", "catchy", "funk",
    "electro", "heavy metal", "Progressive rock", "60s", "rnb", "indie pop", "sad", "House", "happy")
MTT_LABELS: tuple[str, ...] = (
    "guitar", "classical", "slow", "techno", "strings", "drums", "electronic", "rock", "fast",
    "piano", "ambient", "beat", "violin", "vocal", "synth", "female", "indian", "opera", "male",
    "singing", "vocals", "no vocals", "harpsichord", "loud", "quiet", "flute", "woman", "male vocal",
    "no vocal", "pop", "soft", "sitar", "solo", "man", "classic", "choir", "voice", "new age", "dance",
    "male voice", "female vocal", "beats", "harp", "cello", "no voice", "weird", "country", "metal",
    "female voice", "choral")
#: Checkpoints in the musicnn wheel that this port reads -> their tag vocabulary.
MODELS: dict[str, tuple[str, ...]] = {"MSD_musicnn": MSD_LABELS, "MTT_musicnn": MTT_LABELS}

EMBEDDING_SIZE = 200
_TIMBRAL_FILTERS = 204  # int(1.6 * 128)
_TEMPORAL_FILTERS = 51  # int(1.6 * 32)
_TIMBRAL_FREQ_KERNELS = (38, 67)  # int(0.4 * 96), int(0.7 * 96)
_TEMPORAL_KERNELS = (128, 64, 32)
_MIDEND_FILTERS = 64
_FRONTEND_CHANNELS = 2 * _TIMBRAL_FILTERS + 3 * _TEMPORAL_FILTERS  # 561
_MIDEND_CHANNELS = _FRONTEND_CHANNELS + 3 * _MIDEND_FILTERS  # 753
_EDGE = 3  # time padding of the 7-frame timbral and mid-end convolutions

_INSTALL_HINT = ("install the musicnn wheel for its trained weights only: "
                 "`pip install --no-deps musicnn==0.1.0` (scorelens never imports its code)")


# --------------------------------------------------------------------------- front end

def musicnn_log_mel(audio: np.ndarray, *, block_frames: int = 8192) -> np.ndarray:
    """musicnn's log-mel spectrogram of 16 kHz mono audio.

    librosa's ``melspectrogram`` with musicnn's settings (n_fft 512, hop 256, periodic
    Hann window, centred frames with reflect padding as in the librosa musicnn was
    trained with, power 2, 96 Slaney mel bands), then ``log10(1 + 10000 * mel)``. The
    mel power stays float32 up to the log: musicnn's own code casts it to float16 first,
    which overflows to ``inf`` on loud passages. Computed in blocks, so a whole film's
    spectrogram never needs its STFT in memory.

    Parameters
    ----------
    audio : np.ndarray [shape=(n,)]
        Mono samples at 16 kHz.
    block_frames : int
        Frames computed per block.

    Returns
    -------
    np.ndarray [shape=(1 + n // 256, 96), dtype=float32]
        Frame *j* is centred on sample ``256 * j``.
    """
    audio = np.ascontiguousarray(audio, dtype=np.float32)
    if audio.size < N_FFT // 2 + 1:  # reflect padding needs more samples than the pad
        audio = np.pad(audio, (0, N_FFT // 2 + 1 - audio.size))
    padded = F.pad(torch.from_numpy(audio)[None, None], (N_FFT // 2, N_FFT // 2), mode="reflect")[0, 0]
    n_frames = 1 + audio.size // HOP_LENGTH
    frames = padded.as_strided((n_frames, N_FFT), (HOP_LENGTH, 1))
    window, mel_basis = _stft_constants()
    out = torch.empty(n_frames, N_MELS)
    # torch's FFT and matrix product on one core take half numpy's time (same values to ~1e-6)
    with torch.inference_mode():
        for start in range(0, n_frames, block_frames):
            spec = torch.fft.rfft(frames[start:start + block_frames] * window, dim=1)  # (block, 257)
            mel = (spec.real.square() + spec.imag.square()) @ mel_basis  # (block, 96), float32 before the log
            torch.log10(1.0 + LOG_SCALE * mel, out=out[start:start + block_frames])
    return out.numpy()


@functools.lru_cache(maxsize=1)
def _stft_constants() -> tuple[torch.Tensor, torch.Tensor]:
    """The periodic Hann window [shape=(512,)] and librosa's Slaney mel basis [shape=(257, 96)], float32."""
    import librosa

    mel_basis = librosa.filters.mel(sr=SAMPLE_RATE, n_fft=N_FFT, n_mels=N_MELS, htk=False, norm="slaney",
                                    dtype=np.float32).T
    return torch.from_numpy(_hann(N_FFT)), torch.from_numpy(np.ascontiguousarray(mel_basis))


def _hann(n: int) -> np.ndarray:
    """Periodic Hann window (``scipy.signal.get_window("hann", n)``), float32."""
    return (0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(n) / n)).astype(np.float32)


# --------------------------------------------------------------------------- network

class MusicnnOutput(NamedTuple):
    """What :class:`MusicnnNet` computes for a batch of patches."""

    logits: torch.Tensor
    """[shape=(batch, n_tags)] pre-sigmoid tag scores."""
    tags: torch.Tensor
    """[shape=(batch, n_tags)] tag probabilities."""
    penultimate: torch.Tensor
    """[shape=(batch, 200)] the embedding (batch-normalised dense layer, musicnn's ``penultimate``)."""
    mean_pool: torch.Tensor
    """[shape=(batch, 753)] temporal mean of the dense front- and mid-end features."""
    max_pool: torch.Tensor
    """[shape=(batch, 753)] temporal maximum of the same."""


def _bn(channels: int) -> nn.BatchNorm1d:
    return nn.BatchNorm1d(channels, eps=BN_EPSILON)


def _affine(bn: nn.BatchNorm1d) -> tuple[torch.Tensor, torch.Tensor]:
    """Inference-time batch norm as ``x * scale + shift``."""
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    return scale, bn.bias - bn.running_mean * scale


class _FreqPooledConv(nn.Module):
    """Conv (+bias) -> ReLU -> batch norm -> max over all frequencies, as musicnn's front-end blocks.

    ReLU and batch norm act per channel and are monotone, so the maximum over frequency
    is taken first (of the convolution output, or its minimum for a channel whose batch
    norm scale is negative) and the two are applied to the pooled values only; the result
    is identical and avoids two passes over the large (time x frequency) maps. The
    minimum is taken as ``-max(-y)``, with the sign folded into that channel's filter, so
    one reduction serves every channel.
    """

    def __init__(self, filters: int, kernel: tuple[int, int]) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, filters, kernel_size=kernel)
        self.bn = _bn(filters)

    def signed_weight(self) -> torch.Tensor:
        """The filters, each negated where its batch norm scale is negative.

        Returns
        -------
        torch.Tensor [shape=(filters, 1, kernel_time, kernel_freq)]
            The maximum over frequency of their responses is what :meth:`finish` expects.
        """
        scale, _ = _affine(self.bn)
        return self.conv.weight * torch.where(scale >= 0, 1.0, -1.0)[:, None, None, None]

    def finish(self, pooled: torch.Tensor, *, channel_dim: int = 1) -> torch.Tensor:
        """ReLU and batch norm of the frequency maxima of :meth:`signed_weight`'s responses.

        Parameters
        ----------
        pooled : torch.Tensor [shape=(..., filters, ...)]
            Maxima over frequency of the (bias-free) responses to :meth:`signed_weight`.
        channel_dim : int
            Axis of ``pooled`` that holds the filters.

        Returns
        -------
        torch.Tensor [shape=pooled.shape]
            The block's output.
        """
        scale, shift = _affine(self.bn)
        shape = [1] * pooled.dim()
        shape[channel_dim] = -1
        sign = torch.where(scale >= 0, 1.0, -1.0).view(shape)
        # sign * max(sign * y) is max(y) or min(y): the extreme the monotone ReLU/BN map to the maximum
        pooled = torch.relu(pooled * sign + self.conv.bias.view(shape))
        return pooled * scale.view(shape) + shift.view(shape)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Pooled filter responses of log-mel frames.

        Parameters
        ----------
        x : torch.Tensor [shape=(batch, 1, time_in, 96)]
            Normalised log-mel frames, already padded in time.

        Returns
        -------
        torch.Tensor [shape=(batch, filters, time_in - kernel_time + 1)]
        """
        y = F.conv2d(x, self.signed_weight())  # (batch, filters, time, freq), signed
        return self.finish(y.amax(dim=3))  # (batch, filters, time)


class TimbralBlock(_FreqPooledConv):
    """A 7-frame x ``freq_kernel``-band filter bank pooled over frequency (musicnn's timbral block)."""

    def __init__(self, freq_kernel: int) -> None:
        super().__init__(_TIMBRAL_FILTERS, (7, freq_kernel))

    # Input is padded by _EDGE frames on each side by the caller: (batch, 1, time + 6, 96).


class TemporalBlock(_FreqPooledConv):
    """A ``time_kernel``-frame x 1-band filter bank with TensorFlow's 'same' padding."""

    def __init__(self, time_kernel: int) -> None:
        super().__init__(_TEMPORAL_FILTERS, (time_kernel, 1))
        self.time_kernel = time_kernel

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Pooled filter responses of log-mel frames, padded here as TensorFlow's 'same'.

        Parameters
        ----------
        x : torch.Tensor [shape=(batch, 1, time, 96)]
            Normalised log-mel frames, unpadded.

        Returns
        -------
        torch.Tensor [shape=(batch, 51, time)]
        """
        # TensorFlow's 'same' puts the odd padding frame after: (k - 1) // 2 before, the rest after.
        before = (self.time_kernel - 1) // 2
        x = F.pad(x, (0, 0, before, self.time_kernel - 1 - before))  # (batch, 1, time + k - 1, 96)
        return super().forward(x)


class Midend(nn.Module):
    """Three 7-frame convolutions over the front-end features, the last two residual."""

    def __init__(self) -> None:
        super().__init__()
        self.convs = nn.ModuleList([nn.Conv1d(_FRONTEND_CHANNELS, _MIDEND_FILTERS, 7)]
                                   + [nn.Conv1d(_MIDEND_FILTERS, _MIDEND_FILTERS, 7) for _ in range(2)])
        self.bns = nn.ModuleList([_bn(_MIDEND_FILTERS) for _ in range(3)])

    def forward(self, front: torch.Tensor) -> torch.Tensor:
        """The front-end features followed by the three convolutions' outputs.

        Parameters
        ----------
        front : torch.Tensor [shape=(batch, 561, time)]
            Timbral and temporal front-end features.

        Returns
        -------
        torch.Tensor [shape=(batch, 753, time)]
        """
        first = self.convs[0](F.pad(front, (_EDGE, _EDGE)))  # (batch, 64, time)
        return torch.cat([front, *self.after_first_conv(first)], dim=1)  # (batch, 753, time)

    def after_first_conv(self, first: torch.Tensor) -> list[torch.Tensor]:
        """The three mid-end outputs, given the first convolution's output (bias included).

        Parameters
        ----------
        first : torch.Tensor [shape=(batch, 64, time)]
            ``convs[0]`` of the zero-padded front-end features.

        Returns
        -------
        list of torch.Tensor [shape=(batch, 64, time)]
            The outputs of the three layers, the last two with their residual connections.
        """
        x = self.bns[0](torch.relu(first))  # (batch, 64, time)
        outputs = [x]
        for conv, bn in zip(self.convs[1:], self.bns[1:]):
            x = bn(torch.relu(conv(F.pad(x, (_EDGE, _EDGE))))) + x  # (batch, 64, time)
            outputs.append(x)
        return outputs


class Backend(nn.Module):
    """Temporal max and mean pooling, then the 200-unit dense layer and the tag layer."""

    def __init__(self, n_tags: int) -> None:
        super().__init__()
        self.bn_pool = _bn(2 * _MIDEND_CHANNELS)
        self.dense = nn.Linear(2 * _MIDEND_CHANNELS, EMBEDDING_SIZE)
        self.bn_dense = _bn(EMBEDDING_SIZE)
        self.out = nn.Linear(EMBEDDING_SIZE, n_tags)

    def forward(self, features: torch.Tensor) -> MusicnnOutput:
        """Pooled features, embedding and tags of a batch.

        Parameters
        ----------
        features : torch.Tensor [shape=(batch, 753, time)]
            Mid-end output.

        Returns
        -------
        MusicnnOutput
            ``logits`` and ``tags`` [shape=(batch, n_tags)], ``penultimate`` [shape=(batch, 200)],
            ``mean_pool`` and ``max_pool`` [shape=(batch, 753)].
        """
        return self.from_pools(features.amax(dim=2), features.mean(dim=2))

    def from_pools(self, max_pool: torch.Tensor, mean_pool: torch.Tensor) -> MusicnnOutput:
        """Embedding and tags from the temporal maximum and mean of the mid-end output.

        Parameters
        ----------
        max_pool, mean_pool : torch.Tensor [shape=(batch, 753)]
            Maximum and mean over time of the 753 front- and mid-end features.

        Returns
        -------
        MusicnnOutput
        """
        # TensorFlow concatenates [max, mean] on a trailing axis and flattens: interleaved.
        pooled = torch.stack([max_pool, mean_pool], dim=2).reshape(max_pool.shape[0], -1)  # (batch, 1506)
        penultimate = self.bn_dense(torch.relu(self.dense(self.bn_pool(pooled))))  # (batch, 200)
        logits = self.out(penultimate)  # (batch, n_tags)
        return MusicnnOutput(logits, torch.sigmoid(logits), penultimate, mean_pool, max_pool)


class MusicnnNet(nn.Module):
    """The musicnn network (``build_musicnn`` with 64 mid-end filters and 200 back-end units).

    Parameters
    ----------
    n_tags : int
        Size of the tag layer (50 for both released models).
    """

    def __init__(self, n_tags: int = 50) -> None:
        super().__init__()
        self.input_bn = _bn(1)
        self.timbral = nn.ModuleList([TimbralBlock(k) for k in _TIMBRAL_FREQ_KERNELS])
        self.temporal = nn.ModuleList([TemporalBlock(k) for k in _TEMPORAL_KERNELS])
        self.midend = Midend()
        self.backend = Backend(n_tags)

    def normalise(self, logmel: torch.Tensor) -> torch.Tensor:
        """The input batch norm (one scalar affine map) of a log-mel spectrogram of any shape.

        Parameters
        ----------
        logmel : torch.Tensor [shape=(...)]

        Returns
        -------
        torch.Tensor [shape=(...)]
            Same shape as ``logmel``.
        """
        scale, shift = _affine(self.input_bn)
        return logmel * scale + shift

    def timbral_features(self, x: torch.Tensor) -> torch.Tensor:
        """Timbral features of normalised log-mel frames padded by 3 frames on each side.

        Parameters
        ----------
        x : torch.Tensor [shape=(batch, time + 6, 96)]

        Returns
        -------
        torch.Tensor [shape=(batch, 408, time)]
            The two timbral blocks' outputs, concatenated.
        """
        x = x[:, None]  # (batch, 1, time + 6, 96)
        return torch.cat([block(x) for block in self.timbral], dim=1)

    def forward(self, patches: torch.Tensor) -> MusicnnOutput:
        """Run the network on log-mel patches.

        Parameters
        ----------
        patches : torch.Tensor [shape=(batch, time, 96)]
            Log-mel patches (:func:`musicnn_log_mel`), time = 187 as trained.

        Returns
        -------
        MusicnnOutput
            ``logits`` and ``tags`` [shape=(batch, n_tags)], ``penultimate`` [shape=(batch, 200)],
            ``mean_pool`` and ``max_pool`` [shape=(batch, 753)].
        """
        x = self.normalise(patches)  # (batch, time, 96)
        timbral = self.timbral_features(F.pad(x, (0, 0, _EDGE, _EDGE)))  # (batch, 408, time)
        return self._from_timbral(x, timbral)

    def _from_timbral(self, x: torch.Tensor, timbral: torch.Tensor) -> MusicnnOutput:
        temporal = [block(x[:, None]) for block in self.temporal]  # 3 x (batch, 51, time)
        front = torch.cat([timbral, *temporal], dim=1)  # (batch, 561, time)
        return self.backend(self.midend(front))

    def embed_spectrogram(self, logmel: torch.Tensor, starts: list[int], *, batch_size: int = 16) -> MusicnnOutput:
        """Run the network on patches of one long spectrogram, sharing what the patches have in common.

        Equivalent to ``forward(stack([logmel[s:s + 187] for s in starts]))`` (to float
        rounding, ~1e-6), but the parts of the network that do not depend on the patch
        are computed once per spectrogram frame instead of once per patch and frame, and
        the timbral filters run in the DFT domain (see :mod:`scorelens.features._musicnn_shared`):
        about half the multiplications. Runs on the device of ``logmel`` (the network's).

        Parameters
        ----------
        logmel : torch.Tensor [shape=(n_frames, 96)]
            Log-mel spectrogram (:func:`musicnn_log_mel`), not normalised.
        starts : list of int
            First frame of each patch; ``0 <= s <= n_frames - 187``.
        batch_size : int
            Patches per pass through the per-patch stages.

        Returns
        -------
        MusicnnOutput
            One row per patch, in the order of ``starts``: ``logits`` and ``tags``
            [shape=(len(starts), n_tags)], ``penultimate`` [shape=(len(starts), 200)], ``mean_pool`` and
            ``max_pool`` [shape=(len(starts), 753)].

        Raises
        ------
        ParameterError
            If a patch would extend outside the spectrogram, or ``starts`` is empty.
        """
        n_frames = logmel.shape[0]
        if not len(starts):
            raise ParameterError("starts must name at least one patch")
        if any(s < 0 or s + PATCH_FRAMES > n_frames for s in starts):
            raise ParameterError(f"patch starts must lie in [0, {n_frames - PATCH_FRAMES}] for "
                                 f"{n_frames} frames; got {min(starts)}..{max(starts)}")
        return embed_patches(self, logmel, list(starts), patch_frames=PATCH_FRAMES, batch_size=batch_size)


# --------------------------------------------------------------------------- weights

def musicnn_weights_dir() -> Path:
    """Folder of the installed ``musicnn`` wheel, found without importing its code.

    Returns
    -------
    Path
        The ``musicnn`` package folder (it holds ``MSD_musicnn/``, ``MTT_musicnn/``).

    Raises
    ------
    FeatureError
        When the wheel is not installed (the message says how to install it).
    """
    spec = importlib.util.find_spec("musicnn")
    if spec is None or not spec.submodule_search_locations:
        raise FeatureError(f"musicnn's trained weights are not installed; {_INSTALL_HINT}")
    return Path(next(iter(spec.submodule_search_locations)))


def _checkpoint_names(n_tags: int) -> dict[str, tuple[str, tuple[int, ...]]]:
    """PyTorch parameter name -> (TensorFlow variable, its shape), by layer creation order.

    ``tf.compat.v1.layers`` names layers ``conv2d``, ``conv2d_1``, … and
    ``batch_normalization``, ``batch_normalization_1``, … in the order ``build_musicnn``
    creates them: input BN; timbral 38 and 67; temporal 128, 64, 32; mid-end 1-3;
    back-end pooled BN, dense, dense BN, output dense.
    """
    convs = ([f"timbral.{i}" for i in range(2)] + [f"temporal.{i}" for i in range(3)]
             + [f"midend.convs.{i}" for i in range(3)])
    conv_shapes = ([(7, k, 1, _TIMBRAL_FILTERS) for k in _TIMBRAL_FREQ_KERNELS]
                   + [(k, 1, 1, _TEMPORAL_FILTERS) for k in _TEMPORAL_KERNELS]
                   + [(7, _FRONTEND_CHANNELS, 1, _MIDEND_FILTERS)] + [(7, _MIDEND_FILTERS, 1, _MIDEND_FILTERS)] * 2)
    bns = (["input_bn"] + [f"timbral.{i}.bn" for i in range(2)] + [f"temporal.{i}.bn" for i in range(3)]
           + [f"midend.bns.{i}" for i in range(3)] + ["backend.bn_pool", "backend.bn_dense"])
    bn_sizes = ([1, _TIMBRAL_FILTERS, _TIMBRAL_FILTERS] + [_TEMPORAL_FILTERS] * 3 + [_MIDEND_FILTERS] * 3
                + [2 * _MIDEND_CHANNELS, EMBEDDING_SIZE])
    names: dict[str, tuple[str, tuple[int, ...]]] = {}
    for i, (module, shape) in enumerate(zip(convs, conv_shapes)):
        tf_name = "conv2d" if i == 0 else f"conv2d_{i}"
        target = module if module.startswith("midend") else f"{module}.conv"
        names[f"{target}.weight"] = (f"{tf_name}/kernel", shape)
        names[f"{target}.bias"] = (f"{tf_name}/bias", (shape[-1],))
    for i, (module, size) in enumerate(zip(bns, bn_sizes)):
        tf_name = "batch_normalization" if i == 0 else f"batch_normalization_{i}"
        for ours, theirs in (("weight", "gamma"), ("bias", "beta"), ("running_mean", "moving_mean"),
                             ("running_var", "moving_variance")):
            names[f"{module}.{ours}"] = (f"{tf_name}/{theirs}", (size,))
    names["backend.dense.weight"] = ("dense/kernel", (2 * _MIDEND_CHANNELS, EMBEDDING_SIZE))
    names["backend.dense.bias"] = ("dense/bias", (EMBEDDING_SIZE,))
    names["backend.out.weight"] = ("dense_1/kernel", (EMBEDDING_SIZE, n_tags))
    names["backend.out.bias"] = ("dense_1/bias", (n_tags,))
    return names


def _to_torch_layout(name: str, value: np.ndarray) -> np.ndarray:
    if name.endswith("conv.weight"):  # (kt, kf, 1, out) -> (out, 1, kt, kf)
        return value.transpose(3, 2, 0, 1)
    if name.startswith("midend.convs") and name.endswith("weight"):  # (7, in, 1, out) -> (out, in, 7)
        return value[:, :, 0, :].transpose(2, 1, 0)
    if name.startswith("backend") and name.endswith("weight") and value.ndim == 2:  # (in, out) -> (out, in)
        return value.T
    return value


def load_musicnn(model: str = "MSD_musicnn", *, weights_dir: str | os.PathLike | None = None) -> MusicnnNet:
    """Build :class:`MusicnnNet` with a released musicnn checkpoint, in eval mode.

    Parameters
    ----------
    model : {"MSD_musicnn", "MTT_musicnn"}
        Million Song Dataset tags (default) or MagnaTagATune tags.
    weights_dir : path-like, optional
        Folder holding ``<model>/.index`` and ``<model>/.data-00000-of-00001``; by
        default the installed musicnn wheel's folder.

    Returns
    -------
    MusicnnNet
        With ``len(MODELS[model])`` (50) tags, in eval mode.

    Raises
    ------
    ParameterError
        Unknown model name.
    FeatureError
        Wheel not installed, checkpoint missing or corrupt, or variables of unexpected
        names or shapes.
    """
    if model not in MODELS:
        raise ParameterError(f"model={model!r} must be one of {', '.join(MODELS)}")
    root = Path(weights_dir) if weights_dir is not None else musicnn_weights_dir()
    folder = root / model
    if not (folder / ".index").is_file():
        hint = _INSTALL_HINT if weights_dir is None else "expected <weights_dir>/<model>/.index"
        raise FeatureError(f"{folder}: musicnn checkpoint not found (no '.index' file); {hint}")
    ckpt = open_checkpoint(folder)
    n_tags = len(MODELS[model])
    net = MusicnnNet(n_tags)
    state = {}
    problems = []
    for ours, (theirs, shape) in _checkpoint_names(n_tags).items():
        if theirs not in ckpt:
            problems.append(f"missing variable {theirs!r}")
            continue
        if ckpt.shape(theirs) != shape:
            problems.append(f"variable {theirs!r} has shape {ckpt.shape(theirs)}, musicnn needs {shape}")
            continue
        value = ckpt.read(theirs).astype(np.float32)
        if not np.isfinite(value).all():
            problems.append(f"variable {theirs!r} holds non-finite values")
        state[ours] = torch.from_numpy(np.ascontiguousarray(_to_torch_layout(ours, value)))
    if problems:
        raise FeatureError(f"{folder}: not a {model} checkpoint: " + "; ".join(problems[:5])
                           + (f"; … ({len(problems)} problems)" if len(problems) > 5 else ""))
    missing = set(net.state_dict()) - set(state) - {k for k in net.state_dict() if k.endswith("num_batches_tracked")}
    if missing:  # a programming error in the name table, not a user error
        raise RuntimeError(f"musicnn port: parameters without a checkpoint variable: {sorted(missing)}")
    net.load_state_dict(state, strict=False)
    return net.eval()


# --------------------------------------------------------------------------- feature kind

def _column_label(tag: str) -> str:
    return re.sub(r"[^0-9a-z]+", "_", tag.lower()).strip("_")


def grid_patches(n_samples: int, n_frames: int) -> tuple[np.ndarray, np.ndarray]:
    """Patch starts and grid times of the 1 Hz frames of a span.

    The frames are those of the common grid (``floor(duration * rate)`` frames, frame *k*
    standing for ``[k, k + 1)`` s and sitting at ``k + 0.5`` s, as the feature pipeline's
    grid); frame *k* uses the 187-frame patch centred on its time, shifted to lie inside
    the spectrogram.

    Parameters
    ----------
    n_samples : int
        Length of the span at 16 kHz.
    n_frames : int
        Frames of its spectrogram (at least :data:`PATCH_FRAMES`).

    Returns
    -------
    starts : np.ndarray [shape=(n,), dtype=int64]
        First spectrogram frame of each grid frame's patch.
    times : np.ndarray [shape=(n,), dtype=float64]
        Grid frame centres (s), ``k + 0.5``.
    """
    duration = n_samples / SAMPLE_RATE
    n = int(np.floor(duration * GRID_RATE_HZ + 1e-6))
    times = (np.arange(n) + 0.5) / GRID_RATE_HZ
    centres = np.round(times * SAMPLE_RATE / HOP_LENGTH).astype(np.int64)  # spectrogram frame at each time
    starts = np.clip(centres - PATCH_FRAMES // 2, 0, n_frames - PATCH_FRAMES)
    return starts, times


class MusicnnKind(FeatureKind):
    """musicnn embeddings (200-d) and tag probabilities (50) on the common 1 Hz grid.

    Parameters
    ----------
    model : {"MSD_musicnn", "MTT_musicnn"}
        Which released checkpoint (Million Song Dataset tags by default).
    tags : bool
        Also output the tag probabilities as ``tags/musicnn_<tag>/mean`` columns.
    weights_dir : path-like, optional
        Folder holding ``<model>/.index`` (default: the installed musicnn wheel).
    batch_size : int
        Patches per pass through the per-patch stages (~1 MB each).
    device : str or torch.device
        Where the network runs (the audio's front end stays on the CPU).

    Raises
    ------
    ParameterError
        A bad option value (model, tags, batch size, device).
    FeatureError
        When the musicnn wheel (its weights) is not installed or the checkpoint is unusable.
    """

    name = "musicnn"
    version = "1"
    sample_rate = SAMPLE_RATE
    frame_rate_hz = GRID_RATE_HZ
    #: Shortest span described: one grid period (a shorter span has no grid frame).
    min_duration_s = 1.0 / GRID_RATE_HZ
    #: Patches whose shared front end is computed together (600 patches: ten minutes at 1 Hz).
    chunk_patches = 600

    def __init__(self, *, model: str = "MSD_musicnn", tags: bool = True,
                 weights_dir: str | os.PathLike | None = None, batch_size: int = 16,
                 device: str | torch.device = "cpu") -> None:
        if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size <= 0:
            raise ParameterError(f"batch_size={batch_size!r} must be a positive integer")
        if not isinstance(tags, bool):  # "False" from a command line must not become True
            raise ParameterError(f"tags={tags!r} must be true or false")
        self.model = model
        self.tags = tags
        self.batch_size = batch_size
        self.device = check_device(device)
        if model not in MODELS:
            raise ParameterError(f"model={model!r} must be one of {', '.join(MODELS)}")
        # Missing weights are reported now; the (slow) loading waits for the first cue to compute.
        root = Path(weights_dir) if weights_dir is not None else musicnn_weights_dir()
        if not (root / model / ".index").is_file():
            hint = _INSTALL_HINT if weights_dir is None else "expected <weights_dir>/<model>/.index"
            raise FeatureError(f"{root / model}: musicnn checkpoint not found (no '.index' file); {hint}")
        self._weights_dir = weights_dir
        self._net = None
        prefix = "musicnn" if model == "MSD_musicnn" else "musicnn_" + model.split("_")[0].lower()
        self._names = [f"embedding/{prefix}_{i:03d}/mean" for i in range(EMBEDDING_SIZE)]
        if self.tags:
            self._names += [f"tags/{prefix}_{_column_label(t)}/mean" for t in MODELS[model]]

    @property
    def net(self):
        """The network, loaded on first use (a run whose films are all cached never loads it).

        Returns
        -------
        MusicnnNet
            From :func:`load_musicnn`, in eval mode.

        Raises
        ------
        FeatureError
            When the checkpoint cannot be read (see :func:`load_musicnn`).
        """
        if self._net is None:
            self._net = load_musicnn(self.model, weights_dir=self._weights_dir).to(self.device)
        return self._net

    def column_names(self) -> list[str]:
        """Names of the feature columns, ``group/feature/statistic``.

        Returns
        -------
        list of str [length 200 (+ 50 with ``tags``)]
            ``embedding/musicnn_000/mean`` …, then ``tags/musicnn_<tag>/mean`` (the prefix
            is ``musicnn_mtt`` for the MTT model).
        """
        return list(self._names)

    def settings(self) -> dict:
        """Settings that change the output (recorded with stored features, part of their key).

        Returns
        -------
        dict
            ``model``, ``tags``, ``frame_rate_hz``, ``patch_frames`` and the musicnn wheel version.
        """
        return {"model": self.model, "tags": self.tags, "frame_rate_hz": self.frame_rate_hz,
                "patch_frames": PATCH_FRAMES, "musicnn_wheel": "0.1.0"}

    def compute(self, audio: np.ndarray, sr: int) -> FrameFeatures:
        """Frames of ``audio`` on the 1 Hz grid.

        Parameters
        ----------
        audio : np.ndarray [shape=(n,)]
            Mono samples at 16 kHz.
        sr : int
            Their rate (Hz); must be 16000.

        Returns
        -------
        FrameFeatures
            ``times`` = ``k + 0.5``; ``values`` [shape=(n_frames, 200 (+50))], float32.

        Raises
        ------
        ParameterError
            Wrong rate, not 1-D, or non-finite samples.
        FeatureError
            Span shorter than one grid period (1 s); non-finite network output.
        """
        audio = check_audio(audio, sr, expected_sr=self.sample_rate, min_duration_s=self.min_duration_s,
                            kind=self.name)
        logmel = musicnn_log_mel(audio)
        if logmel.shape[0] < PATCH_FRAMES:  # repeat-pad a short span to one patch, as in training
            logmel = np.tile(logmel, (-(-PATCH_FRAMES // logmel.shape[0]), 1))[:PATCH_FRAMES]
        starts, times = grid_patches(audio.size, logmel.shape[0])
        unique, inverse = np.unique(starts, return_inverse=True)  # patches shared at the span's ends
        rows = []
        # Ten minutes of patches at a time bound the shared timbral features (408 values per frame).
        for first in range(0, unique.size, self.chunk_patches):
            chunk = unique[first:first + self.chunk_patches]
            offset = int(chunk[0])
            spectrogram = torch.from_numpy(logmel[offset:int(chunk[-1]) + PATCH_FRAMES]).to(self.device)
            with torch.inference_mode():
                out = self.net.embed_spectrogram(spectrogram, (chunk - offset).tolist(), batch_size=self.batch_size)
            rows.append(torch.cat([out.penultimate, out.tags], dim=1) if self.tags else out.penultimate)
        values = torch.cat(rows).cpu().numpy()[inverse].astype(np.float32)
        if not np.isfinite(values).all():
            raise FeatureError(f"musicnn produced non-finite values for a {audio.size / sr:.3f}s span")
        return FrameFeatures(times=times, values=values, names=self.column_names())
