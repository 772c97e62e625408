"""Compute the musicnn reference outputs stored in ``tests/fixtures/musicnn_reference.npz``.

Run ONCE, by hand, in a throwaway environment that has TensorFlow; TensorFlow is not a
scorelens dependency and this script is not part of the test suite::

    python -m venv /tmp/tfenv
    /tmp/tfenv/bin/pip install tensorflow-cpu tf-keras librosa
    /tmp/tfenv/bin/pip install --no-deps musicnn==0.1.0
    TF_USE_LEGACY_KERAS=1 /tmp/tfenv/bin/python benchmarks/make_musicnn_reference.py \\
        tests/fixtures/musicnn_reference.npz

It builds the *original* musicnn graph from the wheel's own ``musicnn/models.py``
(``tf.compat.v1.layers`` under ``TF_USE_LEGACY_KERAS=1``), restores the wheel's
``MSD_musicnn`` and ``MTT_musicnn`` checkpoints with TensorFlow's own ``Saver``, and runs
it on five seconds of deterministic synthetic audio. The log-mel input is musicnn's
``batch_data`` recipe (librosa, 16 kHz, n_fft 512, hop 256, 96 mels, ``log10(1 + 10000 x)``)
with two deliberate differences, both also made by scorelens's port:

* the mel spectrogram stays float32 before the log (musicnn casts it to float16, which
  overflows to ``inf`` on loud passages: the audio below has a loud chord to exercise this);
* ``pad_mode="reflect"`` is passed explicitly: it was librosa's default when musicnn was
  trained and released (librosa 0.7); librosa >= 0.10 pads with zeros instead.

Stored arrays: ``audio_int16`` (the input; ``audio_int16 / 32768`` is the float signal),
``logmel`` [frames, 96], ``patch_starts`` (frame index of each 187-frame patch), and per
model ``{model}_tags`` (sigmoid outputs), ``{model}_penultimate`` (200-d, the embedding),
``{model}_logits``, ``{model}_mean_pool`` / ``{model}_max_pool``; ``versions`` records
the software that produced them.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import numpy as np

SR = 16000
N_FFT = 512
HOP = 256
N_MELS = 96
N_FRAMES = 187  # librosa.time_to_frames(3, sr=16000, n_fft=512, hop_length=256) + 1
DURATION_S = 5.0
MODELS = ("MSD_musicnn", "MTT_musicnn")


def synthetic_audio() -> np.ndarray:
    """Five seconds of deterministic music-like audio, quantised to int16.

    A soft melody of harmonic tones over a pulse of decaying noise bursts, then (from
    3 s) a loud, near full-scale chord whose mel power overflows float16.
    """
    t = np.arange(int(DURATION_S * SR)) / SR
    y = np.zeros_like(t)
    notes = [220.0, 277.18, 329.63, 440.0, 392.0, 329.63, 293.66, 261.63, 246.94, 220.0]
    for i, f0 in enumerate(notes):
        seg = (t >= 0.3 * i) & (t < 0.3 * i + 0.28)
        env = np.sin(np.pi * (t[seg] - 0.3 * i) / 0.28)
        for h in range(1, 6):
            y[seg] += 0.08 / h * env * np.sin(2 * np.pi * h * f0 * t[seg])
    # Noise bursts at 2 Hz from a fixed linear congruential generator (no RNG version drift).
    state = np.uint64(12345)
    noise = np.empty(t.size)
    a, c, m = np.uint64(6364136223846793005), np.uint64(1442695040888963407), np.uint64(1 << 63)
    with np.errstate(over="ignore"):
        for k in range(t.size):
            state = (a * state + c) % m
            noise[k] = float(state >> np.uint64(40)) / float(1 << 23) - 1.0
    pulse = np.exp(-((t * 2.0) % 1.0) * 25.0)
    y += 0.15 * pulse * noise
    loud = t >= 3.0
    for f0 in (196.0, 246.94, 293.66):
        y[loud] += 0.31 * np.sin(2 * np.pi * f0 * t[loud])
    return np.clip(np.round(y * 32767), -32768, 32767).astype(np.int16)


def log_mel(audio: np.ndarray) -> np.ndarray:
    import librosa

    mel = librosa.feature.melspectrogram(y=audio, sr=SR, hop_length=HOP, n_fft=N_FFT, n_mels=N_MELS,
                                         pad_mode="reflect").T
    return np.log10(10000.0 * mel.astype(np.float32) + 1.0).astype(np.float32)


def run_model(model: str, patches: np.ndarray) -> dict[str, np.ndarray]:
    import tensorflow as tf

    tf.compat.v1.disable_eager_execution()
    from musicnn import models  # the wheel's original TF1 graph definition

    folder = Path(importlib.util.find_spec("musicnn").submodule_search_locations[0]) / model
    tf.compat.v1.reset_default_graph()
    with tf.name_scope("model"):
        x = tf.compat.v1.placeholder(tf.float32, [None, N_FRAMES, N_MELS])
        is_training = tf.compat.v1.placeholder(tf.bool)
        logits, _timbral, _temporal, _cnn1, _cnn2, _cnn3, mean_pool, max_pool, penultimate = \
            models.define_model(x, is_training, model, 50)
        tags = tf.nn.sigmoid(logits)
    with tf.compat.v1.Session() as sess:
        tf.compat.v1.train.Saver().restore(sess, str(folder) + "/")
        out = sess.run({"tags": tags, "penultimate": penultimate, "logits": logits,
                        "mean_pool": mean_pool, "max_pool": max_pool},
                       feed_dict={x: patches, is_training: False})
    return {f"{model}_{k}": np.asarray(v, dtype=np.float32) for k, v in out.items()}


def main(target: str) -> None:
    if os.environ.get("TF_USE_LEGACY_KERAS") != "1":
        sys.exit("set TF_USE_LEGACY_KERAS=1 (musicnn's graph uses tf.compat.v1.layers)")
    import librosa
    import tensorflow as tf

    audio_int16 = synthetic_audio()
    audio = audio_int16.astype(np.float32) / 32768.0
    logmel = log_mel(audio)
    last = logmel.shape[0] - N_FRAMES
    patch_starts = np.array([0, 62, last], dtype=np.int64)
    patches = np.stack([logmel[s:s + N_FRAMES] for s in patch_starts])
    arrays: dict[str, np.ndarray] = {"audio_int16": audio_int16, "logmel": logmel, "patch_starts": patch_starts}
    for model in MODELS:
        arrays.update(run_model(model, patches))
    arrays["versions"] = np.array([f"tensorflow={tf.__version__}", f"librosa={librosa.__version__}",
                                   f"numpy={np.__version__}", "musicnn=0.1.0"])
    np.savez_compressed(target, **arrays)
    print(f"wrote {target} ({Path(target).stat().st_size} bytes)")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures/musicnn_reference.npz")
