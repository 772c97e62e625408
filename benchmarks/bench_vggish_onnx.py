"""VGGish's network in PyTorch and in ONNX Runtime on one CPU core: is ONNX Runtime worth a fast path?

    pip install onnxruntime onnx   # not scorelens dependencies: only this measurement needs them
    taskset -c 1 python benchmarks/bench_vggish_onnx.py [--examples 128] [--rounds 8]

Both run the same random weights on the same log-mel examples, one thread each,
interleaved round by round (the machine may be shared); the figure is the median of the
rounds' CPU-time ratios. PyTorch runs as :class:`scorelens.features.VGGish` does
(channels-last convolutions 32 examples at a time, dense layers on the whole batch); ONNX
Runtime runs the exported graph with all its graph optimisations, on the whole batch.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch


class _Plain(torch.nn.Module):
    """VGGish's forward as one graph: the export traces straight-line code, not the batching loop."""

    def __init__(self, net: torch.nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, examples: torch.Tensor) -> torch.Tensor:
        x = self.net.features(examples[:, None])  # (batch, 512, 6, 4)
        return self.net.embeddings(x.permute(0, 2, 3, 1).reshape(x.shape[0], -1))  # (batch, 128)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=128, help="examples (0.96 s each) per call")
    parser.add_argument("--rounds", type=int, default=8)
    args = parser.parse_args()
    try:
        import onnx  # noqa: F401  (torch.onnx.export needs it)
        import onnxruntime as ort
    except ImportError as exc:
        sys.exit(f"{exc.name} is not installed: pip install onnxruntime onnx")

    from scorelens.features import VGGish

    torch.set_num_threads(1)
    torch.manual_seed(0)
    net = VGGish().eval().to(memory_format=torch.channels_last)
    examples = torch.randn(args.examples, 96, 64)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "vggish.onnx"
        torch.onnx.export(_Plain(net), (examples[:2],), str(path), input_names=["x"], output_names=["y"],
                          dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}}, dynamo=False)
        options = ort.SessionOptions()
        options.intra_op_num_threads = options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    inputs = {"x": examples.numpy()}

    def cpu_seconds(fn) -> float:
        start = time.process_time()
        fn()
        return time.process_time() - start

    with torch.inference_mode():
        ours = net(examples).numpy()
        theirs = session.run(None, inputs)[0]
        rows = {"torch": [], "onnxruntime": []}
        for _ in range(args.rounds):
            rows["torch"].append(cpu_seconds(lambda: net(examples)))
            rows["onnxruntime"].append(cpu_seconds(lambda: session.run(None, inputs)))
    per_example = {k: 1000 * statistics.median(v) / args.examples for k, v in rows.items()}
    ratio = statistics.median(t / o for t, o in zip(rows["torch"], rows["onnxruntime"]))
    print(f"torch {torch.__version__}, onnxruntime {ort.__version__}, {args.examples} examples per call, "
          f"medians of {args.rounds} interleaved rounds")
    for name, ms in per_example.items():
        print(f"{name:12s}: {ms:6.2f} ms per example, {960 / ms:5.1f}x real time")
    print(f"onnxruntime is {ratio:.3f}x as fast as torch; max |difference| {np.abs(ours - theirs).max():.2g}")


if __name__ == "__main__":
    main()
