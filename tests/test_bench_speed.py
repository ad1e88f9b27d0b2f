"""benchmarks/bench_speed.py: its bare models compute what ours do; a tiny run reports ratios;
the shared rounds harness times what it is given."""

import importlib
import json
import sys
from pathlib import Path

import pytest
import torch
from support import FEATURE_MODELS, TINY_MODELS, as_overrides, tiny_kwargs

from videozoo.config import build_config

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"

# Small settings per model (the bare ResNet is always a ResNet-50: tiny frames keep it fast);
# Attention Cluster's segments fit the 6 frames the benchmark test feeds.
SMALL = {name: as_overrides(tiny_kwargs(name)) if name in FEATURE_MODELS else [] for name in TINY_MODELS}
SMALL["nextvlad"].append("model.pca_scale_rgb=false")
SMALL["attention_cluster"].append("model.seg_num=6")
NO_DROPOUT = {
    "nextvlad": "model.drop_rate=0",
    "attention_lstm": "model.drop_rate=0",
    "attention_cluster": "model.drop_rate=0",
    "tsn": "model.dropout=0",
    "tsm": "model.dropout=0",
    "stnet": "model.dropout=0",
    "nonlocal": "model.dropout=0",
}


def load_bench(script: str = "bench_speed.py"):
    """A module of benchmarks/, imported as running a script there would (the folder on
    sys.path, so that its modules import each other)."""
    if str(BENCHMARKS) not in sys.path:
        sys.path.insert(0, str(BENCHMARKS))
    return importlib.import_module(Path(script).stem)


def small_pair(bench, name):
    cfg = build_config(name, overrides=SMALL[name] + [NO_DROPOUT[name], "model.num_classes=7"])
    frames = 10 if name == "stnet" else 4
    ours, bare = bench.build_pair(name, cfg, torch.device("cpu"), frames)
    batch = bench.make_batch(
        ours, cfg["data"]["format"], 7, batch_size=2, frames=frames, resolution=32, padding="none"
    )
    inputs = {k: v for k, v in batch.items() if k in ("rgb", "audio", "mask")} or {
        "video": batch["video"].flatten(0, 1)
    }
    return ours, bare, inputs


@pytest.mark.parametrize(
    "name",
    [
        pytest.param(n, marks=pytest.mark.slow) if n in ("tsn", "tsm", "stnet", "nonlocal") else n
        for n in SMALL
    ],
)
def test_bare_model_is_the_same_network(name):
    """Same parameters (count, names via load_state_dict) and the same outputs, in eval mode and
    in training mode (batch statistics); the bare Attention Cluster samples its own frames, so
    only eval mode (centred samples) is deterministic for it; TSM is compared without its
    shift, which is all that sets it apart from a ResNet-50."""
    bench = load_bench("speed_cases.py")
    ours, bare, inputs = small_pair(bench, name)
    if name == "tsm":  # the bare ResNet-50 is TSM without its shifts (no parameters, no MACs)
        ours = bench.without_shift(ours)  # what --no-shift times
    assert sum(p.numel() for p in ours.parameters()) == sum(p.numel() for p in bare.parameters())
    modes = ("eval",) if name == "attention_cluster" else ("eval", "train")
    for mode in modes:
        getattr(ours, mode)()
        getattr(bare, mode)()
        with torch.no_grad():
            torch.testing.assert_close(bare(inputs), ours(inputs), rtol=1e-4, atol=1e-4)


def test_youtube8m_lengths_follow_the_dataset():
    bench = load_bench("speed_cases.py")
    lengths = bench.youtube8m_lengths(10_000, 300, torch.Generator().manual_seed(0))
    assert lengths.min() >= 120 and lengths.max() == 300
    # 120-500 s cut at 300: (500 - 300) / 380 of the videos are cut
    assert abs(float((lengths == 300).float().mean()) - 200 / 380) < 0.02


def test_bench_speed_reports_ratios(tmp_path):
    bench = load_bench()
    out = tmp_path / "speed.json"
    sets = [f"--set=nextvlad:{item}" for item in SMALL["nextvlad"]]
    results = bench.main(
        [
            "--models",
            "nextvlad",
            "--batch-size",
            "2",
            "--frames",
            "6",
            "--rounds",
            "2",
            "--warmup",
            "0",
            "--min-seconds",
            "0",
            "--threads",
            "1",
            "--precision",
            "fp32,bf16",
            *sets,
            "--adam",
            "--json",
            str(out),
        ]
    )
    cases = results["models"]["nextvlad"]
    assert set(cases) == {"fp32/none", "fp32/youtube8m", "bf16/none", "bf16/youtube8m"}
    assert cases["fp32/none"]["real_frame_fraction"] == 1
    assert cases["fp32/youtube8m"]["real_frame_fraction"] < 1
    for case in cases.values():
        assert case["params"]["ours"] == case["params"]["bare"]
        for phase in ("train", "infer"):
            ours, bare = case[phase]["ours"], case[phase]["bare"]
            assert ours["samples_per_s"] > 0 and bare["samples_per_s"] > 0
            assert ours["x_bare_best"] > 0
    assert all(results["adam_step"][f"{k}_ms"] > 0 for k in ("for_loop", "foreach", "fused"))
    assert json.loads(out.read_text())["models"]["nextvlad"]["fp32/none"]["params"]["ours"] > 0


def test_summary_ratios_per_round_and_best_against_best():
    bench = load_bench("speed_cases.py")
    row = bench.summarise({"bare": [2.0, 1.0, 4.0], "ours": [1.0, 2.0, 2.0]}, batch_size=4)["ours"]
    assert row["samples_per_s"] == 2.0  # 4 samples / median 2 s
    assert (row["x_bare"], row["x_bare_min"], row["x_bare_max"]) == (2.0, 0.5, 2.0)
    assert row["x_bare_best"] == 1.0  # fastest 1 s against fastest 1 s


def test_bare_model_gets_our_optimizer_groups():
    bench = load_bench("speed_cases.py")
    from videozoo.engine.optim import build_optimizer

    cfg = build_config("attention_lstm", overrides=SMALL["attention_lstm"] + ["model.num_classes=7"])
    ours, bare = bench.build_pair("attention_lstm", cfg, torch.device("cpu"), None)
    ours_opt = build_optimizer(ours, cfg["train"]["optimizer"])
    bare_opt = bench.same_optimizer(ours_opt, ours, bare, "attention_lstm")
    assert type(bare_opt) is type(ours_opt)
    assert len(bare_opt.param_groups) == len(ours_opt.param_groups) > 1
    for mine, theirs in zip(ours_opt.param_groups, bare_opt.param_groups):
        assert mine["weight_decay"] == theirs["weight_decay"] and mine["lr"] == theirs["lr"]
        assert [p.shape for p in mine["params"]] == [p.shape for p in theirs["params"]]


def test_bench_shift_times_two_paths_that_compute_the_same_shift(tmp_path):
    """What bench_shift compares is like with like: the traced path it times gives the
    training path's output and gradient (a change to either would make its ratio meaningless)."""
    module = load_bench("bench_shift.py")
    x = torch.randn(2 * 4, 16, 3, 3).to(memory_format=torch.channels_last).requires_grad_()
    grad = torch.randn_like(x)
    outputs = []
    for cls in (module.TemporalShift, module.TracedPathShift):
        shift = cls(16, 4, 8, "previous_first")
        out = shift(x)
        outputs.append((out, torch.autograd.grad(out, x, grad)[0]))
    torch.testing.assert_close(outputs[0], outputs[1], rtol=0, atol=0)
    assert not torch.equal(outputs[0][0], x)  # it does shift
    raw = tmp_path / "shift.json"
    results = module.main(["--rounds", "1", "--warmup", "0", "--segments", "2", "--json", str(raw)])
    assert [key for key in results["stages"]] == [f"{c}x{s}x{s}" for c, s, _ in module.STAGES]
    assert json.loads(raw.read_text()) == json.loads(json.dumps(results))


def test_rounds_alternate_the_order_and_repeat_short_calls():
    """harness.timed_rounds: warm-up rounds untimed, the order reversed every other round, and
    calls shorter than min_seconds repeated (as many times as the last warm-up round says)."""
    harness = load_bench("harness.py")
    calls, ticks = [], iter(range(1000))  # a clock that moves one second per reading
    seconds = harness.timed_rounds(
        {"a": lambda: calls.append("a"), "b": lambda: calls.append("b")},
        warmup=1,
        rounds=2,
        clock=lambda: next(ticks),
        alternate=True,
        min_seconds=3,
    )
    assert seconds == {"a": [1.0, 1.0], "b": [1.0, 1.0]}
    # warm-up: a once sets the repeats, b already repeated; then b, a reversed; then a, b
    assert calls == ["a"] + ["b"] * 3 + ["b"] * 3 + ["a"] * 3 + ["a"] * 3 + ["b"] * 3
