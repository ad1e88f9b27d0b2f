"""Per-parameter-group rules and learning-rate schedules from config."""

import copy

import pytest
import torch

from videozoo.config import ENGINE_DEFAULTS
from videozoo.engine.optim import build_optimizer, lr_factor, param_groups, set_learning_rate


class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 4, 3)
        self.bn = torch.nn.BatchNorm2d(4)
        self.classifier = torch.nn.Linear(4, 2)


def _opt(**kw):
    cfg = copy.deepcopy(ENGINE_DEFAULTS["train"]["optimizer"])
    cfg.update(kw)
    return cfg


def _lookup(groups, model):
    names = {id(p): n for n, p in model.named_parameters()}
    return {names[id(p)]: (g["weight_decay"], g["lr"]) for g in groups for p in g["params"]}


def test_decay_only_restricts_weight_decay_to_matching_names():
    model = Net()
    table = _lookup(param_groups(model, _opt(weight_decay=1e-5, decay_only=["classifier"])), model)
    assert table["classifier.weight"][0] == 1e-5 and table["classifier.bias"][0] == 1e-5
    assert table["conv.weight"][0] == 0 and table["bn.weight"][0] == 0


def test_no_decay_keywords_and_lr_multiplier():
    model = Net()
    cfg = _opt(
        lr=0.01, weight_decay=1e-4, no_decay=["norm", "classifier.bias"], lr_mult={"classifier.bias": 2.0}
    )
    table = _lookup(param_groups(model, cfg), model)
    assert table["conv.weight"] == (1e-4, 0.01)
    assert table["bn.weight"][0] == 0 and table["bn.bias"][0] == 0  # "norm": BN parameters
    assert table["conv.bias"][0] == 1e-4  # not a norm layer, not named
    assert table["classifier.bias"] == (0.0, 0.02)


@pytest.mark.parametrize("name", ["adam", "adamw", "sgd", "rmsprop"])
def test_every_optimizer_builds_and_steps(name):
    model = Net()
    opt = build_optimizer(model, _opt(name=name, centered=True))
    model.classifier(torch.randn(2, 4)).sum().backward()
    before = model.classifier.weight.clone()
    opt.step()
    assert not torch.equal(before, model.classifier.weight)
    with pytest.raises(ValueError, match="unknown optimizer"):
        build_optimizer(model, _opt(name="lion"))


def _sched(**kw):
    cfg = copy.deepcopy(ENGINE_DEFAULTS["train"]["schedule"])
    cfg.update(kw)
    return cfg


def test_step_schedule_counts_global_samples():
    sched = _sched(name="step", unit="sample", step_size=2_000_000, gamma=0.8)
    assert lr_factor(sched, 0, 0.0, 1_999_999, 6) == 1.0
    assert lr_factor(sched, 0, 0.0, 2_000_000, 6) == pytest.approx(0.8)
    assert lr_factor(sched, 3, 0.0, 4_100_000, 6) == pytest.approx(0.64)


def test_multistep_epochs_cosine_and_warmup():
    sched = _sched(name="multistep", milestones=[15, 30], gamma=0.1)
    assert [lr_factor(sched, e, 0, 0, 45) for e in (14, 15, 30)] == pytest.approx([1, 0.1, 0.01])
    cos = _sched(name="cosine")
    assert lr_factor(cos, 0, 0, 0, 10) == 1.0 and lr_factor(cos, 10, 0, 0, 10) == pytest.approx(0)
    warm = _sched(warmup_epochs=2.0)
    assert lr_factor(warm, 0, 0.5, 0, 10) == pytest.approx(0.25)
    model = Net()
    opt = build_optimizer(model, _opt(lr=0.1, lr_mult={"classifier": 3.0}))
    set_learning_rate(opt, 0.5)
    assert sorted(g["lr"] for g in opt.param_groups) == pytest.approx([0.05, 0.15])
