"""VGGish in PyTorch: the study's audio embedding ("VGGish features" section).

VGGish (Hershey et al., ICASSP 2017) maps 0.96 s of audio to 128 numbers. The study
extracts it from every cue, 128 features every 0.96 s, resampled to 1 Hz. This module
follows torchaudio's split of the model: recipe constants, pure preprocessing functions
(:func:`vggish_log_mel`, :func:`vggish_examples`), the network (:class:`VGGish`), the
post-processing (:func:`vggish_postprocess`), and a loader of the weights files the user
supplies (:func:`find_vggish_weights`, :func:`load_vggish`, :func:`load_pca_params`).

The front end reproduces the reference ``mel_features.py`` / ``vggish_input.py`` of the
official release exactly (HTK mel matrix, magnitude spectrum, no padding): librosa's mel
filters are a different matrix and would shift the log-mel input by ~0.01.

Weights cannot be downloaded by scorelens; it reads the files a user supplies:

* Google's release: ``vggish_model.ckpt`` (a TensorFlow checkpoint; read with NumPy by
  :mod:`scorelens.io.tfcheckpoint`, both the single-file V1 format of the
  published file and a V2 ``.index``/``.data`` bundle) and ``vggish_pca_params.npz``;
* the widely used PyTorch conversion (torchvggish): ``vggish-10086976.pth`` (network
  state dict) and ``vggish_pca_params-970ea276.pth`` (PCA parameters).

Final ReLU
----------
The current official code leaves the 128-d layer linear ("the embedding layer does not
include a final non-linear activation"); torchvggish and official copies before 2020
put a ReLU there. ``final_relu=False`` (the default) follows the current official code;
``final_relu=True`` reproduces torchvggish.

Frames
------
One frame per 0.96 s example (96 frames of 10 ms), at its centre time
``0.96 * i + 0.4875`` s (the example spans samples ``[15360 i, 15360 i + 15600)``); the
pipeline puts them on the common 1 Hz grid. By default the frames are the released
embedding format: PCA-whitened, clipped to [-2, 2] and quantised to 8 bits (0…255,
stored as floats), as the AudioSet embeddings the study's VGGish features stand for.
"""

from __future__ import annotations

import os
import pickle
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from scorelens.exceptions import FeatureError, ParameterError
from scorelens.features._base import FeatureKind, FrameFeatures
from scorelens.features._embeddings import check_audio, check_device
from scorelens.io.tfcheckpoint import open_checkpoint

__all__ = ["VGGishKind", "VGGish", "VGGishWeights", "vggish_log_mel", "vggish_examples", "vggish_mel_matrix",
           "vggish_postprocess", "find_vggish_weights", "load_vggish", "load_pca_params",
           "VGGISH_DIR_ENV", "SAMPLE_RATE", "EXAMPLE_HOP_S", "EMBEDDING_SIZE"]

# --------------------------------------------------------------------------- recipe (vggish_params.py)

SAMPLE_RATE = 16000
STFT_WINDOW_LENGTH_S = 0.025
STFT_HOP_LENGTH_S = 0.010
NUM_MEL_BINS = 64
MEL_MIN_HZ = 125.0
MEL_MAX_HZ = 7500.0
LOG_OFFSET = 0.01
EXAMPLE_WINDOW_S = 0.96
EXAMPLE_HOP_S = 0.96
EMBEDDING_SIZE = 128
QUANTIZE_MIN_VAL = -2.0
QUANTIZE_MAX_VAL = 2.0

WINDOW_LENGTH = int(round(SAMPLE_RATE * STFT_WINDOW_LENGTH_S))  # 400 samples
HOP_LENGTH = int(round(SAMPLE_RATE * STFT_HOP_LENGTH_S))  # 160 samples
FFT_LENGTH = 2 ** int(np.ceil(np.log2(WINDOW_LENGTH)))  # 512
EXAMPLE_FRAMES = int(round(EXAMPLE_WINDOW_S / STFT_HOP_LENGTH_S))  # 96
EXAMPLE_HOP_FRAMES = int(round(EXAMPLE_HOP_S / STFT_HOP_LENGTH_S))  # 96
#: Samples one example needs: 95 hops plus one window (0.975 s).
EXAMPLE_SAMPLES = (EXAMPLE_FRAMES - 1) * HOP_LENGTH + WINDOW_LENGTH

#: Environment variable naming the folder of the weights (read by :func:`find_vggish_weights`
#: when it is called, never at import time).
VGGISH_DIR_ENV = "SCORELENS_VGGISH_DIR"

_OFFICIAL_FILES = ("vggish_model.ckpt", "vggish_pca_params.npz")
_TORCH_FILES = ("vggish-10086976.pth", "vggish_pca_params-970ea276.pth")
_HOW_TO = (
    "VGGish needs trained weights, which scorelens cannot download. Put into one folder either "
    f"Google's release, {_OFFICIAL_FILES[0]} and {_OFFICIAL_FILES[1]} "
    "(https://storage.googleapis.com/audioset/vggish_model.ckpt and "
    "https://storage.googleapis.com/audioset/vggish_pca_params.npz), or the PyTorch conversion of "
    f"torchvggish, {_TORCH_FILES[0]} and {_TORCH_FILES[1]} "
    "(https://github.com/harritaylor/torchvggish/releases/tag/v0.1), and name that folder with "
    "`scorelens features --kind vggish --set weights_dir=DIR`, EmbeddingConfig(vggish_dir=DIR), or the "
    f"environment variable {VGGISH_DIR_ENV}=DIR. The other feature kinds do not need these files.")


# --------------------------------------------------------------------------- preprocessing (mel_features.py)

def _hertz_to_mel(frequencies_hz):
    """HTK mel scale, as the reference ``mel_features.hertz_to_mel``."""
    return 1127.0 * np.log(1.0 + np.asarray(frequencies_hz) / 700.0)


def vggish_mel_matrix(*, num_mel_bins: int = NUM_MEL_BINS, num_spectrogram_bins: int = FFT_LENGTH // 2 + 1,
                      sample_rate: int = SAMPLE_RATE, lower_edge_hz: float = MEL_MIN_HZ,
                      upper_edge_hz: float = MEL_MAX_HZ) -> np.ndarray:
    """VGGish's mel weight matrix (triangles linear in HTK mel, DC bin zeroed).

    Parameters
    ----------
    num_mel_bins : int
        Mel bands (64).
    num_spectrogram_bins : int
        Bins of the magnitude spectrum (``FFT_LENGTH // 2 + 1`` = 257).
    sample_rate : int
        Sample rate (Hz).
    lower_edge_hz, upper_edge_hz : float
        Lower edge of the lowest band and upper edge of the highest band (Hz).

    Returns
    -------
    np.ndarray [shape=(num_spectrogram_bins, num_mel_bins), dtype=float64]
        Post-multiplies magnitude spectra: ``mel = spectrum @ matrix``.

    Raises
    ------
    ParameterError
        Unless ``0 <= lower_edge_hz < upper_edge_hz <= sample_rate / 2``.
    """
    nyquist = sample_rate / 2.0
    if not 0.0 <= lower_edge_hz < upper_edge_hz <= nyquist:
        raise ParameterError(f"lower_edge_hz={lower_edge_hz} and upper_edge_hz={upper_edge_hz} must satisfy "
                             f"0 <= lower < upper <= nyquist={nyquist}")
    bins_mel = _hertz_to_mel(np.linspace(0.0, nyquist, num_spectrogram_bins))
    edges = np.linspace(_hertz_to_mel(lower_edge_hz), _hertz_to_mel(upper_edge_hz), num_mel_bins + 2)
    lower, center, upper = edges[:-2], edges[1:-1], edges[2:]
    lower_slope = (bins_mel[:, None] - lower) / (center - lower)
    upper_slope = (upper - bins_mel[:, None]) / (upper - center)
    matrix = np.maximum(0.0, np.minimum(lower_slope, upper_slope))
    matrix[0, :] = 0.0  # HTK excludes the DC bin
    return matrix


def vggish_log_mel(audio: np.ndarray) -> np.ndarray:
    """VGGish's log-mel spectrogram of 16 kHz mono audio.

    25 ms periodic-Hann frames every 10 ms (no padding), 512-point magnitude spectrum,
    64 HTK mel bands 125-7500 Hz, ``log(mel + 0.01)``; computed in float64 as the
    reference ``mel_features.log_mel_spectrogram``.

    Parameters
    ----------
    audio : np.ndarray [shape=(n,)]

    Returns
    -------
    np.ndarray [shape=(1 + (n - 400) // 160, 64), dtype=float64]
        Empty (0 rows) when ``n < 400``.
    """
    audio = np.asarray(audio, dtype=np.float64)
    if audio.size < WINDOW_LENGTH:
        return np.zeros((0, NUM_MEL_BINS))
    n_frames = 1 + (audio.size - WINDOW_LENGTH) // HOP_LENGTH
    frames = np.lib.stride_tricks.as_strided(
        audio, shape=(n_frames, WINDOW_LENGTH), strides=(audio.strides[0] * HOP_LENGTH, audio.strides[0]),
        writeable=False)
    window = 0.5 - 0.5 * np.cos(2.0 * np.pi / WINDOW_LENGTH * np.arange(WINDOW_LENGTH))  # periodic Hann
    spectrum = np.abs(np.fft.rfft(frames * window, FFT_LENGTH))  # (frames, 257)
    return np.log(spectrum @ vggish_mel_matrix() + LOG_OFFSET)  # (frames, 64)


def vggish_examples(log_mel: np.ndarray) -> np.ndarray:
    """Cut a log-mel spectrogram into VGGish's 96-frame examples, one every 96 frames.

    Parameters
    ----------
    log_mel : np.ndarray [shape=(n_frames, 64)]

    Returns
    -------
    np.ndarray [shape=(n_examples, 96, 64)]
        Incomplete trailing frames are dropped, as the reference ``frame`` does.
    """
    n = 0 if log_mel.shape[0] < EXAMPLE_FRAMES else 1 + (log_mel.shape[0] - EXAMPLE_FRAMES) // EXAMPLE_HOP_FRAMES
    if n == 0:
        return np.zeros((0, EXAMPLE_FRAMES, log_mel.shape[1]), dtype=log_mel.dtype)
    return np.lib.stride_tricks.as_strided(
        log_mel, shape=(n, EXAMPLE_FRAMES, log_mel.shape[1]),
        strides=(log_mel.strides[0] * EXAMPLE_HOP_FRAMES, *log_mel.strides), writeable=False).copy()


# --------------------------------------------------------------------------- network

class VGGish(nn.Module):
    """The VGGish network: six 3x3 convolutions in four stages, then three dense layers.

    Parameter names are those of torchvggish and torchaudio (``features.0.weight`` …
    ``embeddings.4.bias``), so their state dicts load as they are.

    Parameters
    ----------
    final_relu : bool
        Put a ReLU after the 128-d layer (torchvggish, pre-2020 official code) or not
        (current official code, the default).
    """

    def __init__(self, *, final_relu: bool = False) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        channels = 1
        for width in (64, "pool", 128, "pool", 256, 256, "pool", 512, 512, "pool"):
            if width == "pool":
                layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
            else:
                layers += [nn.Conv2d(channels, width, kernel_size=3, padding=1), nn.ReLU(inplace=True)]
                channels = width
        self.features = nn.Sequential(*layers)
        self.embeddings = nn.Sequential(
            nn.Linear(512 * 6 * 4, 4096), nn.ReLU(inplace=True),
            nn.Linear(4096, 4096), nn.ReLU(inplace=True),
            nn.Linear(4096, EMBEDDING_SIZE),
            nn.ReLU() if final_relu else nn.Identity(),
        )
        self.final_relu = final_relu

    #: Examples per pass of the convolutions: the activations of 32 (~1 MB each) stay in cache,
    #: while the dense layers, whose 70 M weights are read once per pass, run on the whole batch
    #: (128 examples multiply at ~80 Gflop/s on one core, 32 at ~55).
    conv_batch = 32

    def forward(self, examples: torch.Tensor) -> torch.Tensor:
        """Raw 128-d embeddings of log-mel examples.

        Parameters
        ----------
        examples : torch.Tensor [shape=(batch, 96, 64)]
            Log-mel examples (:func:`vggish_examples`), float32.

        Returns
        -------
        torch.Tensor [shape=(batch, 128)]
            The 128-d layer (after a ReLU with ``final_relu``), before post-processing.
        """
        flat = examples.new_empty(examples.shape[0], self.embeddings[0].in_features)  # (batch, 12288)
        for first in range(0, examples.shape[0], self.conv_batch):
            # channels-last (NHWC) memory runs oneDNN's convolutions ~1.4x faster on CPU, and is
            # TensorFlow's layout, so the flatten below is free
            x = examples[first:first + self.conv_batch, None].contiguous(memory_format=torch.channels_last)
            x = self.features(x)  # (conv_batch, 512, 6, 4)
            flat[first:first + x.shape[0]] = x.permute(0, 2, 3, 1).reshape(x.shape[0], -1)  # TensorFlow's NHWC order
        return self.embeddings(flat)  # (batch, 128)


def vggish_postprocess(embeddings: np.ndarray, pca_matrix: np.ndarray, pca_means: np.ndarray) -> np.ndarray:
    """The post-processing of the released AudioSet embeddings: PCA, clip, 8-bit quantisation.

    As the official ``vggish_postprocess.Postprocessor``: ``(e - means) @ matrix.T``,
    clipped to [-2, 2], mapped to [0, 255] and truncated to integers.

    Parameters
    ----------
    embeddings : np.ndarray [shape=(n, 128)]
    pca_matrix : np.ndarray [shape=(128, 128)]
        PCA eigenvectors (with whitening), one per row.
    pca_means : np.ndarray [shape=(128,)]

    Returns
    -------
    np.ndarray [shape=(n, 128), dtype=uint8]
    """
    pca_applied = (np.asarray(embeddings, dtype=np.float64) - pca_means.reshape(1, -1)) @ pca_matrix.T
    clipped = np.clip(pca_applied, QUANTIZE_MIN_VAL, QUANTIZE_MAX_VAL)
    quantized = (clipped - QUANTIZE_MIN_VAL) * (255.0 / (QUANTIZE_MAX_VAL - QUANTIZE_MIN_VAL))
    return quantized.astype(np.uint8)


# --------------------------------------------------------------------------- weights

@dataclass(frozen=True)
class VGGishWeights:
    """Where the VGGish weight files are.

    Attributes
    ----------
    checkpoint : Path
        TensorFlow checkpoint (V1 file or V2 prefix) or PyTorch state dict (``.pth``).
    pca_params : Path or None
        ``vggish_pca_params.npz`` or torchvggish's ``.pth``; None when post-processing is off.
    """

    checkpoint: Path
    pca_params: Path | None


#: TensorFlow variable prefix -> PyTorch module (torchvggish names).
_TF_LAYERS = {
    "vggish/conv1": "features.0", "vggish/conv2": "features.3",
    "vggish/conv3/conv3_1": "features.6", "vggish/conv3/conv3_2": "features.8",
    "vggish/conv4/conv4_1": "features.11", "vggish/conv4/conv4_2": "features.13",
    "vggish/fc1/fc1_1": "embeddings.0", "vggish/fc1/fc1_2": "embeddings.2", "vggish/fc2": "embeddings.4",
}
_TORCH_SUFFIXES = (".pth", ".pt", ".bin")


def _is_torch_file(path: Path) -> bool:
    return path.suffix.lower() in _TORCH_SUFFIXES


def _find_in(folder: Path, names, patterns) -> Path | None:
    for name in names:
        candidate = folder / name
        if candidate.is_file() or Path(str(candidate) + ".index").is_file():
            return candidate
    for pattern in patterns:
        found = sorted(folder.glob(pattern))
        if found:
            return found[0]
    return None


def find_vggish_weights(weights_dir: str | os.PathLike | None = None, *,
                        checkpoint: str | os.PathLike | None = None,
                        pca_params: str | os.PathLike | None = None, postprocess: bool = True,
                        environ: Mapping[str, str] | None = None) -> VGGishWeights:
    """Locate the VGGish weight files the user supplied.

    Explicit file paths win; otherwise they are looked up in ``weights_dir``, or else in
    the folder named by the environment variable :data:`SCORELENS_VGGISH_DIR
    <VGGISH_DIR_ENV>`. In a folder, Google's ``vggish_model.ckpt`` (V1 file, or V2
    bundle with that prefix) is preferred, then a ``vggish*.pth`` state dict; the PCA
    parameters are ``vggish_pca_params.npz`` or ``vggish_pca_params*.pth``.

    Parameters
    ----------
    weights_dir : path-like, optional
        Folder holding the files.
    checkpoint, pca_params : path-like, optional
        The files themselves.
    postprocess : bool
        Whether the PCA parameters are needed.
    environ : mapping, optional
        Environment to read :data:`VGGISH_DIR_ENV` from (default ``os.environ``, read now).

    Returns
    -------
    VGGishWeights

    Raises
    ------
    FeatureError
        A file or folder is missing; the message names the files needed and where to put them.
    """
    environ = os.environ if environ is None else environ
    folder = None
    if weights_dir is not None:
        folder = Path(weights_dir)
        source = f"weights folder {folder}"
    elif environ.get(VGGISH_DIR_ENV):
        folder = Path(environ[VGGISH_DIR_ENV])
        source = f"{VGGISH_DIR_ENV}={folder}"
    if folder is not None and not folder.is_dir():
        raise FeatureError(f"{folder}: VGGish weights folder does not exist ({source}). {_HOW_TO}")

    if checkpoint is not None:
        ckpt = Path(checkpoint)
        if not (ckpt.is_file() or Path(str(ckpt) + ".index").is_file()):
            raise FeatureError(f"{ckpt}: VGGish checkpoint not found. {_HOW_TO}")
    elif folder is None:
        raise FeatureError(f"VGGish weights not found: no weights folder given and {VGGISH_DIR_ENV} is not set. "
                           f"{_HOW_TO}")
    else:
        ckpt = _find_in(folder, [_OFFICIAL_FILES[0], _TORCH_FILES[0]],
                        ["vggish_model*.ckpt", "vggish*.pth", "vggish*.pt"])
        if ckpt is not None and "pca" in ckpt.name.lower():
            ckpt = next((p for p in sorted(folder.glob("vggish*.pt*")) if "pca" not in p.name.lower()), None)
        if ckpt is None:
            raise FeatureError(f"{folder}: no VGGish network weights in this folder ({source}; looked for "
                               f"{_OFFICIAL_FILES[0]} or {_TORCH_FILES[0]}). {_HOW_TO}")

    pca = None
    if postprocess:
        if pca_params is not None:
            pca = Path(pca_params)
            if not pca.is_file():
                raise FeatureError(f"{pca}: VGGish PCA parameters not found. {_HOW_TO}")
        else:
            where = folder if folder is not None else ckpt.parent
            pca = _find_in(where, [_OFFICIAL_FILES[1], _TORCH_FILES[1]],
                           ["vggish_pca_params*.npz", "vggish_pca_params*.pth", "*pca*.npz", "*pca*.pth"])
            if pca is None:
                raise FeatureError(
                    f"{where}: no VGGish PCA parameters in this folder (looked for {_OFFICIAL_FILES[1]} or "
                    f"{_TORCH_FILES[1]}; they are needed for the released 8-bit embedding format, or "
                    f"switch post-processing off). {_HOW_TO}")
    return VGGishWeights(checkpoint=ckpt, pca_params=pca)


def _torch_load(path: Path):
    """``torch.load`` restricted to tensors and plain NumPy arrays (never arbitrary code)."""
    try:
        try:
            return torch.load(path, map_location="cpu", weights_only=True)
        except pickle.UnpicklingError:
            # torchvggish's PCA file may hold NumPy arrays: allow exactly their reconstructors.
            try:
                from numpy._core import multiarray  # NumPy >= 2
            except ImportError:  # pragma: no cover - NumPy 1.26
                from numpy.core import multiarray

            safe = [multiarray._reconstruct, np.ndarray, np.dtype,
                    type(np.dtype(np.float32)), type(np.dtype(np.float64)),
                    (multiarray._reconstruct, "numpy.core.multiarray._reconstruct")]
            with torch.serialization.safe_globals(safe):
                return torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, zipfile.BadZipFile, ValueError, OSError) as exc:
        raise FeatureError(f"{path}: not a PyTorch weights file torch can read safely ({exc})") from exc


def _network_state_from_tf(path: Path) -> dict[str, torch.Tensor]:
    ckpt = open_checkpoint(path)
    state, missing = {}, []
    for tf_prefix, module in _TF_LAYERS.items():
        for tf_suffix, ours in (("weights", "weight"), ("biases", "bias")):
            name = f"{tf_prefix}/{tf_suffix}"
            if name not in ckpt:
                missing.append(name)
                continue
            value = torch.from_numpy(ckpt.read(name))
            if ours == "weight":  # TensorFlow's (…, in, out) to PyTorch's (out, in, …); torch transposes fast
                value = value.permute(3, 2, 0, 1) if value.ndim == 4 else value.t()
            state[f"{module}.{ours}"] = value.contiguous()
    if missing:
        raise FeatureError(f"{path}: not a VGGish checkpoint: missing {', '.join(missing[:4])}"
                           f"{' …' if len(missing) > 4 else ''} (it holds {', '.join(ckpt.names()[:4])} …)")
    return state


def _network_state_from_torch(path: Path) -> dict:
    state = _torch_load(path)
    if isinstance(state, Mapping) and "state_dict" in state and isinstance(state["state_dict"], Mapping):
        state = state["state_dict"]
    if not isinstance(state, Mapping):
        raise FeatureError(f"{path}: expected a state dict (a mapping of parameter names to tensors), "
                           f"found {type(state).__name__}")
    return {k: v for k, v in state.items() if not k.startswith("pproc")}


def load_vggish(weights: VGGishWeights | str | os.PathLike, *, final_relu: bool = False) -> VGGish:
    """Build :class:`VGGish` from a TensorFlow checkpoint or a PyTorch state dict, in eval mode.

    Parameters
    ----------
    weights : VGGishWeights or path-like
        The checkpoint (``vggish_model.ckpt``, a V2 prefix, or a ``.pth`` state dict).
    final_relu : bool
        See :class:`VGGish`.

    Returns
    -------
    VGGish
        In eval mode, in channels-last memory format.

    Raises
    ------
    FeatureError
        Unreadable, corrupt or foreign file; missing parameters; wrong shapes; non-finite values.
    """
    path = weights.checkpoint if isinstance(weights, VGGishWeights) else Path(weights)
    raw = _network_state_from_torch(path) if _is_torch_file(path) else _network_state_from_tf(path)
    with torch.device("meta"):  # no random initialisation of 72M parameters about to be replaced
        net = VGGish(final_relu=final_relu)
    expected = net.state_dict()
    problems, state = [], {}
    for key, value in raw.items():
        if key not in expected:
            continue
        tensor = torch.as_tensor(np.asarray(value) if not isinstance(value, torch.Tensor) else value)
        if tuple(tensor.shape) != tuple(expected[key].shape):
            problems.append(f"{key} has shape {tuple(tensor.shape)}, VGGish needs {tuple(expected[key].shape)}")
            continue
        tensor = tensor.to(torch.float32)
        low, high = torch.aminmax(tensor)  # NaN propagates; one pass, no boolean copy of 50M values
        if not (torch.isfinite(low) and torch.isfinite(high)):
            problems.append(f"{key} holds non-finite values")
        state[key] = tensor
    problems += [f"missing {k}" for k in expected if k not in raw]
    problems += [f"unexpected {k}" for k in raw if k not in expected]
    if problems:
        raise FeatureError(f"{path}: not VGGish weights: " + "; ".join(problems[:5])
                           + (f"; … ({len(problems)} problems)" if len(problems) > 5 else ""))
    net.load_state_dict(state, assign=True)
    return net.to(memory_format=torch.channels_last).eval()


def load_pca_params(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """Read VGGish's PCA parameters from ``vggish_pca_params.npz`` or torchvggish's ``.pth``.

    Parameters
    ----------
    path : str or path-like
        The file; ``pca_eigen_vectors`` and ``pca_means`` are read from it.

    Returns
    -------
    pca_matrix : np.ndarray [shape=(128, 128), dtype=float64]
    pca_means : np.ndarray [shape=(128,), dtype=float64]

    Raises
    ------
    FeatureError
        Unreadable file, missing arrays, wrong shapes or non-finite values.
    """
    path = Path(path)
    if _is_torch_file(path):
        params = _torch_load(path)
    else:
        try:
            with np.load(path, allow_pickle=False) as npz:
                params = {k: npz[k] for k in npz.files}
        except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
            raise FeatureError(f"{path}: not a NumPy .npz archive of PCA parameters ({exc})") from exc
    if not isinstance(params, Mapping) or not {"pca_eigen_vectors", "pca_means"} <= set(params):
        found = ", ".join(map(str, params)) if isinstance(params, Mapping) else type(params).__name__
        raise FeatureError(f"{path}: VGGish PCA parameters need 'pca_eigen_vectors' and 'pca_means'; found {found}")

    def as_array(value) -> np.ndarray:
        if isinstance(value, torch.Tensor):
            value = value.detach().cpu().numpy()
        return np.asarray(value, dtype=np.float64)

    matrix, means = as_array(params["pca_eigen_vectors"]), as_array(params["pca_means"]).reshape(-1)
    if matrix.shape != (EMBEDDING_SIZE, EMBEDDING_SIZE) or means.shape != (EMBEDDING_SIZE,):
        raise FeatureError(f"{path}: pca_eigen_vectors has shape {matrix.shape} and pca_means {means.size} values; "
                           f"VGGish needs ({EMBEDDING_SIZE}, {EMBEDDING_SIZE}) and {EMBEDDING_SIZE}")
    if not (np.isfinite(matrix).all() and np.isfinite(means).all()):
        raise FeatureError(f"{path}: PCA parameters hold non-finite values")
    return matrix, means


def _file_identity(path: Path) -> str:
    from scorelens.io._audio import file_digest

    target = path if path.is_file() else Path(str(path) + ".index")
    return f"{path.name}:{file_digest(target)}"


# --------------------------------------------------------------------------- feature kind

class VGGishKind(FeatureKind):
    """VGGish embeddings, 128 values every 0.96 s (the study's "VGGish features").

    Parameters
    ----------
    weights_dir : path-like, optional
        Folder with the weight files (see :func:`find_vggish_weights`); when None, the
        environment variable ``SCORELENS_VGGISH_DIR`` is read (at construction).
    checkpoint, pca_params : path-like, optional
        The weight files themselves, overriding the folder.
    final_relu : bool
        ReLU after the 128-d layer (False: current official code; True: torchvggish).
    postprocess : bool
        PCA + 8-bit quantisation of the released embeddings (True) or the raw 128-d layer.
    batch_size : int
        Examples per forward pass; the convolutions take them :attr:`VGGish.conv_batch` at a
        time, the dense layers all at once (~0.1 MB each).
    device : str or torch.device
        Where the network runs (the audio's front end and post-processing stay on the CPU).

    Raises
    ------
    ParameterError
        A bad option value (batch size, flags, device).
    FeatureError
        When the weights are missing or unusable; the message lists the files needed.
    """

    name = "vggish"
    version = "1"
    sample_rate = SAMPLE_RATE
    frame_rate_hz = 1.0 / EXAMPLE_HOP_S
    #: Shortest span described: one example (0.975 s).
    min_duration_s = EXAMPLE_SAMPLES / SAMPLE_RATE

    def __init__(self, *, weights_dir: str | os.PathLike | None = None, checkpoint: str | os.PathLike | None = None,
                 pca_params: str | os.PathLike | None = None, final_relu: bool = False, postprocess: bool = True,
                 batch_size: int = 128, environ: Mapping[str, str] | None = None,
                 device: str | torch.device = "cpu") -> None:
        if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size <= 0:
            raise ParameterError(f"batch_size={batch_size!r} must be a positive integer")
        for name, value in (("final_relu", final_relu), ("postprocess", postprocess)):
            if not isinstance(value, bool):  # "False" from a command line must not become True
                raise ParameterError(f"{name}={value!r} must be true or false")
        self.final_relu = final_relu
        self.postprocess = postprocess
        self.batch_size = batch_size
        self.device = check_device(device)
        self.weights = find_vggish_weights(weights_dir, checkpoint=checkpoint, pca_params=pca_params,
                                           postprocess=self.postprocess, environ=environ)
        self.net = load_vggish(self.weights, final_relu=self.final_relu).to(self.device)
        self.pca = load_pca_params(self.weights.pca_params) if self.postprocess else None

    def column_names(self) -> list[str]:
        """Names of the feature columns, ``group/feature/statistic``.

        Returns
        -------
        list of str [length 128]
            ``embedding/vggish_000/mean`` … ``embedding/vggish_127/mean``.
        """
        return [f"embedding/vggish_{i:03d}/mean" for i in range(EMBEDDING_SIZE)]

    def settings(self) -> dict:
        """Settings that change the output (recorded with stored features, part of their key).

        Returns
        -------
        dict
            ``final_relu``, ``postprocess`` and the identity (name and content digest) of the
            checkpoint and, when post-processing, of the PCA parameters.
        """
        settings = {"final_relu": self.final_relu, "postprocess": self.postprocess,
                    "checkpoint": _file_identity(self.weights.checkpoint)}
        if self.weights.pca_params is not None and self.postprocess:
            settings["pca_params"] = _file_identity(self.weights.pca_params)
        return settings

    def embed(self, audio: np.ndarray) -> np.ndarray:
        """Raw or post-processed embeddings of every complete example of ``audio`` (16 kHz).

        Parameters
        ----------
        audio : np.ndarray [shape=(n,), dtype=float32]
            Mono samples at 16 kHz, already checked (as by :meth:`compute`).

        Returns
        -------
        np.ndarray [shape=(n_examples, 128), dtype=float32]
            :func:`vggish_postprocess` of the 128-d layer with ``postprocess``, else the layer
            itself; no rows for audio shorter than one example (0.975 s).
        """
        n_examples = 0 if audio.size < EXAMPLE_SAMPLES else 1 + (audio.size - EXAMPLE_SAMPLES) // (
            EXAMPLE_HOP_FRAMES * HOP_LENGTH)
        out = np.empty((n_examples, EMBEDDING_SIZE), dtype=np.float32)
        step = EXAMPLE_HOP_FRAMES * HOP_LENGTH  # samples between examples (15360)
        for first in range(0, n_examples, self.batch_size):
            last = min(n_examples, first + self.batch_size)
            examples = np.empty((last - first, EXAMPLE_FRAMES, NUM_MEL_BINS), dtype=np.float32)
            # the float64 front end a slice at a time: its temporaries (~0.8 MB per example) stay small
            for sub in range(first, last, self.net.conv_batch):
                end = min(last, sub + self.net.conv_batch)
                chunk = audio[sub * step:(end - 1) * step + EXAMPLE_SAMPLES]
                examples[sub - first:end - first] = vggish_examples(vggish_log_mel(chunk))  # (slice, 96, 64)
            with torch.inference_mode():
                raw = self.net(torch.from_numpy(examples).to(self.device)).cpu().numpy()
            out[first:last] = vggish_postprocess(raw, *self.pca) if self.postprocess else raw
        return out

    def compute(self, audio: np.ndarray, sr: int) -> FrameFeatures:
        """Frames of ``audio``, one per 0.96 s example.

        Parameters
        ----------
        audio : np.ndarray [shape=(n,)]
            Mono samples at 16 kHz.
        sr : int
            Their rate (Hz); must be 16000.

        Returns
        -------
        FrameFeatures
            ``times`` = example centres ``0.96 i + 0.4875``; ``values`` [shape=(n_examples, 128)].

        Raises
        ------
        ParameterError
            Wrong rate, not 1-D, or non-finite samples.
        FeatureError
            Span shorter than one example (0.975 s); non-finite network output.
        """
        audio = check_audio(audio, sr, expected_sr=self.sample_rate, min_duration_s=self.min_duration_s,
                            kind=self.name)
        values = self.embed(audio)
        if not np.isfinite(values).all():
            raise FeatureError(f"VGGish produced non-finite values for a {audio.size / sr:.3f}s span")
        times = np.arange(values.shape[0]) * EXAMPLE_HOP_S + EXAMPLE_SAMPLES / 2 / SAMPLE_RATE
        return FrameFeatures(times=times, values=values, names=self.column_names())
