"""``precision="auto"``: bfloat16 only where the CPU multiplies it natively and a timing finds it faster."""

import json

import numpy as np
import pytest

from scorelens.mil import _network as network
from scorelens.mil._network import BF16_MIN_SPEEDUP, choose_precision, cpu_flags

# The flags of the CPU (an Intel Xeon with AVX-512 but no AVX-512 BF16 or AMX), abridged.
XEON_NO_BF16 = frozenset("fpu sse sse2 avx avx2 fma avx512f avx512dq avx512cd avx512bw avx512vl avx512_vnni".split())
ZEN4 = XEON_NO_BF16 | {"avx512_bf16"}
SAPPHIRE_RAPIDS = ZEN4 | {"amx_bf16", "amx_tile", "amx_int8"}
NEOVERSE_V1 = frozenset("fp asimd sve bf16 i8mm".split())


class Timer:
    """A stand-in for the GEMM timing that says how often it was asked."""

    def __init__(self, float32, bfloat16):
        self.rates, self.calls = {"float32": float32, "bfloat16": bfloat16}, 0

    def __call__(self):
        self.calls += 1
        return dict(self.rates)


def test_a_cpu_without_native_bfloat16_runs_float32_without_timing():
    timer = Timer(124e9, 29e9)
    choice = choose_precision(XEON_NO_BF16, timer)
    assert choice.precision == "float32"
    assert timer.calls == 0 and choice.gflops == {}
    assert "emulated" in choice.reason


@pytest.mark.parametrize("flags", [ZEN4, SAPPHIRE_RAPIDS, NEOVERSE_V1, None],
                         ids=["avx512_bf16", "amx", "arm", "unknown"])
def test_native_or_unknown_bfloat16_is_timed_and_taken_only_when_faster(flags):
    fast = Timer(40e9, 100e9)
    choice = choose_precision(flags, fast)
    assert fast.calls == 1
    assert choice.precision == "bfloat16"
    assert choice.gflops == {"float32": 40.0, "bfloat16": 100.0}
    assert "2.50x" in choice.reason
    # Native but not faster enough (or slower): float32.
    for bf16 in (40e9 * BF16_MIN_SPEEDUP * 0.99, 20e9):
        assert choose_precision(flags, Timer(40e9, bf16)).precision == "float32"
    assert choose_precision(flags, Timer(40e9, 40e9 * BF16_MIN_SPEEDUP)).precision == "bfloat16"


def test_cpu_flags_reads_x86_and_arm_cpuinfo(tmp_path):
    x86 = tmp_path / "x86"
    x86.write_text("processor\t: 0\nvendor_id\t: AuthenticAMD\nflags\t\t: fpu AVX512_BF16 avx2\n\n"
                   "processor\t: 1\nflags\t\t: something else\n")
    assert cpu_flags(str(x86)) == {"fpu", "avx512_bf16", "avx2"}
    arm = tmp_path / "arm"
    arm.write_text("processor\t: 0\nBogoMIPS\t: 50.00\nFeatures\t: fp asimd bf16\nCPU implementer\t: 0x41\n")
    assert cpu_flags(str(arm)) == {"fp", "asimd", "bf16"}
    assert cpu_flags(str(tmp_path / "missing")) is None
    (tmp_path / "neither").write_text("processor\t: 0\n")
    assert cpu_flags(str(tmp_path / "neither")) is None


def test_gemm_rates_measures_both_precisions():
    rates = network.gemm_rates(repeats=1)
    assert set(rates) == {"float32", "bfloat16"}
    assert all(np.isfinite(v) and v > 1e6 for v in rates.values())


def test_the_timing_is_cached_per_machine(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    timer = Timer(50e9, 90e9)
    monkeypatch.setattr(network, "gemm_rates", timer)
    assert network.cached_gemm_rates() == timer.rates
    assert network.cached_gemm_rates() == timer.rates
    assert timer.calls == 1
    entries = json.loads((tmp_path / "scorelens" / "precision.json").read_text())
    assert list(entries.values()) == [timer.rates]
    # Another machine (other flags) in the same cache measures anew and keeps the first entry.
    monkeypatch.setattr(network, "cpu_flags", lambda path="/proc/cpuinfo": frozenset({"other"}))
    network.cached_gemm_rates()
    assert timer.calls == 2
    assert len(json.loads((tmp_path / "scorelens" / "precision.json").read_text())) == 2
    # A damaged cache is measured again, not an error.
    (tmp_path / "scorelens" / "precision.json").write_text("{not json")
    assert network.cached_gemm_rates() == timer.rates
    assert timer.calls == 3
    # Figures of another timing method are not read: the new method measures again.
    monkeypatch.setattr(network, "_TIMING_METHOD", "some-later-method")
    network.cached_gemm_rates()
    assert timer.calls == 4


def test_auto_resolves_to_the_choice_and_the_evaluation_records_why(monkeypatch, rng):
    from scorelens.analysis._data import CorpusBags
    from scorelens.analysis._evaluation import evaluate
    from scorelens.config import ModelConfig

    monkeypatch.setattr(network, "_AUTO", network.PrecisionChoice("float32", "because of a test", {"float32": 1.0}))
    assert network.resolve_precision("auto") == "float32"
    assert network.resolve_precision("bfloat16") == "bfloat16"
    Y = np.array([[1, 0], [0, 1], [1, 1], [0, 1]])
    bags = [rng.normal(size=(3, 2)).astype(np.float32) for _ in range(4)]
    data = CorpusBags([f"f{i}" for i in range(4)], bags, Y, ("a", "b"), ["x", "y"], "cue", kind="k")
    ev = evaluate([data], ModelConfig(), models=["baselines"], n_jobs=1)
    info = ev.to_json()["run_info"]
    assert info.pop("device") == str(network.resolve_device("auto")) and info.pop("device_reason").startswith("auto")
    assert info == {"precision": "float32", "precision_reason": "auto: because of a test",
                    "gemm_gflops_per_core": {"float32": 1.0}}
    assert ev.to_json()["settings"]["precision"] == "float32"
    ev = evaluate([data], ModelConfig(precision="bfloat16"), models=["baselines"], n_jobs=1)
    info = ev.to_json()["run_info"]
    assert {k: info[k] for k in ("precision", "precision_reason")} == {"precision": "bfloat16",
                                                                       "precision_reason": "set explicitly"}
