"""Read TensorFlow checkpoints with NumPy alone (no TensorFlow, no protobuf).

Two on-disk formats exist, and the weights scorelens uses come in both:

* **V2 tensor bundle** (``PREFIX.index`` + ``PREFIX.data-00000-of-00001``), written by
  every TensorFlow saver since 2017; musicnn's wheel ships ``MSD_musicnn/.index`` and
  ``MSD_musicnn/.data-00000-of-00001`` (the prefix is the folder itself).
* **V1 tensor-slice file** (one file), the format of Google's ``vggish_model.ckpt``:
  a single file, which a V2 saver cannot produce (it always writes ``.index`` + ``.data``).

Both are built on the same LevelDB-style SSTable whose values are small protobuf
messages. The package is cut along those layers, one private module each:

* ``_crc32c``: the Castagnoli CRC every block and tensor is checked with;
* ``_wire``: the protobuf wire format (varints and fields);
* ``_protos``: the TensorFlow messages for shapes, slices and tensor values;
* ``_snappy``: raw Snappy decompression of table blocks;
* ``_sstable``: blocks, index and footer of the table;
* ``_bundle`` (V2) and ``_slices`` (V1): the two checkpoint formats;
* ``_checkpoint``: :class:`TFCheckpoint`, the opened checkpoint;
* ``_open``: :func:`open_checkpoint`, which tells the format from a user's path.

Every block and every tensor is checked against its CRC32C, so a truncated or corrupt
file raises :class:`~scorelens.exceptions.FeatureError` naming the file and the tensor,
rather than yielding wrong weights.

Examples
--------
>>> from scorelens.io.tfcheckpoint import crc32c, open_checkpoint
>>> hex(crc32c(b"123456789"))
'0xe3069283'
>>> ckpt = open_checkpoint("MSD_musicnn")  # doctest: +SKIP
>>> ckpt.shape("conv2d/kernel")  # doctest: +SKIP
(7, 38, 1, 204)
"""

from scorelens.io.tfcheckpoint._checkpoint import TF_DTYPES, TFCheckpoint
from scorelens.io.tfcheckpoint._crc32c import crc32c, mask_crc, unmask_crc
from scorelens.io.tfcheckpoint._open import open_checkpoint

__all__ = ["TFCheckpoint", "open_checkpoint", "crc32c", "mask_crc", "unmask_crc", "TF_DTYPES"]
