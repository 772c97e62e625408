"""Write the small TensorFlow-made checkpoints in ``tests/fixtures/tf_small_*``.

Run ONCE, by hand, in a throwaway environment with TensorFlow (not a scorelens
dependency)::

    /tmp/tfenv/bin/python benchmarks/make_tf_checkpoint_fixture.py tests/fixtures

It saves the same few variables with TensorFlow's own V1 saver (one file, the format of
Google's ``vggish_model.ckpt``) and V2 saver (``.index`` + ``.data`` bundle), so the tests
check scorelens's NumPy reader against files TensorFlow wrote, not only against the
tests' own writer. The values are closed-form (:func:`expected_values`), so the tests
recompute them instead of storing them.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np


def expected_values() -> dict[str, np.ndarray]:
    """The variables saved, by name (the tests keep a copy of this function)."""
    return {
        "vggish/conv1/weights": (np.arange(36, dtype=np.float32).reshape(3, 3, 1, 4) - 17.5) / 8.0,
        "vggish/conv1/biases": np.array([0.5, -1.25, 3.0, 1e-3], dtype=np.float32),
        "global_step": np.array(123456789012, dtype=np.int64),
        "ints": np.array([-3, 0, 7, 2147483647], dtype=np.int32),
        "dbl": np.array([1.5, -2.25, np.pi]),
        "half": np.array([1.5, -2.25, 65504.0], dtype=np.float16),
    }


def main(target: str) -> None:
    import tensorflow as tf

    tf.compat.v1.disable_eager_execution()
    out = Path(target)
    (out / "tf_small_v2").mkdir(parents=True, exist_ok=True)
    graph = tf.Graph()
    with graph.as_default():
        for name, value in expected_values().items():
            tf.compat.v1.get_variable(name, initializer=value)
        v1 = tf.compat.v1.train.Saver(write_version=tf.compat.v1.train.SaverDef.V1)
        v2 = tf.compat.v1.train.Saver(write_version=tf.compat.v1.train.SaverDef.V2)
        with tf.compat.v1.Session() as sess:
            sess.run(tf.compat.v1.global_variables_initializer())
            v1.save(sess, str(out / "tf_small_v1.ckpt"), write_meta_graph=False, write_state=False)
            v2.save(sess, str(out / "tf_small_v2" / "model.ckpt"), write_meta_graph=False, write_state=False)
    print(f"wrote {out}/tf_small_v1.ckpt and {out}/tf_small_v2/ (TensorFlow {tf.__version__})")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures")
