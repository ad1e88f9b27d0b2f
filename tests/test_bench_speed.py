"""Smoke test of benchmarks/bench_speed.py: one tiny model, every default option timed."""
import importlib.util
import json
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_speed.py"


def load_bench():
    spec = importlib.util.spec_from_file_location("bench_speed", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up here
    spec.loader.exec_module(module)
    return module


def test_bench_speed_reports_positive_rates(tmp_path):
    bench = load_bench()
    out = tmp_path / "speed.json"
    results = bench.main(["--models", "nextvlad", "--batch-size", "2", "--frames", "6",
                          "--steps", "1", "--warmup", "0", "--threads", "1", "--bf16", "on",
                          "--set", "model.cluster_size=8", "--set", "model.hidden_size=16",
                          "--set", "model.groups=4", "--set", "model.num_classes=5",
                          "--json", str(out)])
    nextvlad = results["models"]["nextvlad"]
    assert nextvlad["input_shape"]["rgb"] == [2, 6, 1024]
    assert set(nextvlad["options"]) == {"eager", "amp_bf16"}
    for row in nextvlad["options"].values():
        assert row["train_samples_per_s"] > 0 and row["infer_samples_per_s"] > 0
    assert nextvlad["options"]["eager"]["train_vs_eager"] == 1.0
    assert all(nextvlad["adam_step"][f"{k}_ms"] > 0 for k in ("for_loop", "foreach", "fused"))
    assert json.loads(out.read_text())["models"]["nextvlad"]["params"] == nextvlad["params"]


def test_failing_compile_option_is_reported_and_dropped():
    bench = load_bench()

    class FakeRunner:
        def __init__(self, option, fail):
            self.option, self.fail, self.calls = option, fail, 0

        def train(self):
            self.calls += 1
            if self.fail:
                raise RuntimeError("inductor could not find a C++ compiler\nmore detail")

    eager = FakeRunner(bench.SpeedOption("eager"), fail=False)
    compiled = FakeRunner(bench.SpeedOption("compile", compiled=True), fail=True)
    errors = {}
    medians = bench.interleaved_medians([eager, compiled], "train", warmup=1, steps=2,
                                        device=bench.torch.device("cpu"), errors=errors)
    assert set(medians) == {"eager"} and medians["eager"] >= 0
    assert eager.calls == 3 and compiled.calls == 1
    assert errors == {"compile": "RuntimeError: inductor could not find a C++ compiler"}
