"""The model contract (docs/ARCHITECTURE.md, section 1), checked on every registered model:
plain-typed builder defaults, a `classifier`, `default_input`, logits of the right shape, the
head contract (forward_features / forward_head / reset_classifier, every way a head pools),
padding that changes nothing, bf16 autocast (channels_last for conv models), and a TorchScript
export that agrees."""

import inspect

import pytest
import torch
from support import TINY_MODELS, tiny_kwargs

from videozoo.engine.precision import channels_last_format, resolve_channels_last
from videozoo.errors import ConfigError
from videozoo.models.base import VideozooModel
from videozoo.registry import create_model, list_models, model_builder
from videozoo.serialization.graph_export import export_model, frames_vary, input_names, parity_check

CLASSES = 6


def test_every_registered_model_has_a_tiny_variant_here():
    assert sorted(TINY_MODELS) == sorted(list_models())


def _tiny(name, **extra):
    torch.manual_seed(0)
    return create_model(name, num_classes=CLASSES, **tiny_kwargs(name, **extra)).eval()


def _input(model, batch_size=2, image_size=32):
    if _is_video(model):
        return model.default_input(batch_size, num_frames=4, image_size=image_size)
    return model.default_input(batch_size, num_frames=10)


def _is_video(model) -> bool:
    return "image_size" in inspect.signature(model.default_input).parameters


@pytest.mark.parametrize("name", sorted(TINY_MODELS))
def test_builder_defaults_are_plain_config_types(name):
    for param in inspect.signature(model_builder(name)).parameters.values():
        assert param.default is None or type(param.default) in (int, float, bool, str), param


@pytest.mark.parametrize("name", sorted(TINY_MODELS))
def test_logits_shape_default_input_and_classifier(name):
    model = _tiny(name)
    batch = _input(model, batch_size=3)
    assert set(batch) in ({"rgb", "audio", "mask"}, {"video"})
    logits = model(batch)
    assert logits.shape == (3, CLASSES) and torch.isfinite(logits).all()
    assert isinstance(model.classifier, torch.nn.Linear)
    assert model.classifier.out_features == CLASSES


#: Every registered model, and the head options that change where pooling sits: per-frame
#: dropout before the consensus, and the Non-local window head (4 windows on a 48x48 input).
HEAD_VARIANTS = [(name, {}) for name in sorted(TINY_MODELS)] + [
    ("tsn", {"dropout_per_frame": True, "dropout": 0.5}),
    ("nonlocal", {"head": "window_softmax", "head_window": 1}),
]


def _classifier_input(model, batch):
    """What the classifier was given, averaged over the positions it classified (windows)."""
    captured = []
    hook = model.classifier.register_forward_hook(lambda m, args, out: captured.append(args[0]))
    try:
        logits = model(batch)
    finally:
        hook.remove()
    (given,) = captured
    return logits, given.reshape(given.shape[0], -1, given.shape[-1]).mean(1)


@pytest.mark.parametrize("name, extra", HEAD_VARIANTS, ids=lambda v: v if isinstance(v, str) else "-".join(v))
def test_head_contract_and_reset_classifier(name, extra):
    model = _tiny(name, **extra).train()
    batch = _input(model, image_size=48 if extra.get("head") == "window_softmax" else 32)
    assert isinstance(model, VideozooModel)
    torch.manual_seed(2)  # dropout draws alike on both paths
    whole = model(batch)
    torch.manual_seed(2)
    assert torch.equal(whole, model.forward_head(model.forward_features(batch)))

    model.eval()
    logits, classifier_input = _classifier_input(model, batch)
    features = model.forward_features(batch)
    assert torch.equal(model.forward_head(features), logits)
    pre_logits = model.forward_head(features, pre_logits=True)
    assert pre_logits.shape == (2, model.num_features)
    assert torch.equal(pre_logits, classifier_input)  # what embed wrote before the head contract
    if extra.get("head") != "window_softmax":
        assert torch.equal(model.classifier(pre_logits), logits)

    before = {k: v.clone() for k, v in model.state_dict().items()}
    model.reset_classifier(3)
    assert model.num_classes == 3 and model.forward_head(features).shape == (2, 3)
    assert torch.equal(model.forward_head(features, pre_logits=True), pre_logits)
    keys = model.classifier_keys()
    assert sorted(keys) == ["classifier.bias", "classifier.weight"]
    after = model.state_dict()
    assert after.keys() == before.keys()
    assert all(torch.equal(after[k], before[k]) for k in before if k not in keys)
    assert after["classifier.weight"].shape == (3, model.num_features)
    with pytest.raises(ConfigError, match="num_classes must be >= 1"):
        model.reset_classifier(0)


def test_reset_classifier_initialises_by_the_models_rule():
    # Non-local's classifier is N(0, 0.01) with zero bias; PyTorch's default would be
    # uniform(+-1/sqrt(512)) with std ~0.026 and a non-zero bias.
    model = _tiny("nonlocal")
    model.reset_classifier(50)
    assert model.classifier.weight.std() < 0.012 and not model.classifier.bias.any()


@pytest.mark.parametrize(
    "name", [n for n in sorted(TINY_MODELS) if n in ("nextvlad", "attention_lstm", "attention_cluster")]
)
@pytest.mark.parametrize("training", [False, True])
def test_padded_frames_never_change_the_output(name, training):
    # Without dropout, training-mode outputs are deterministic given the RNG seed.
    model = _tiny(name, drop_rate=0.0).train(training)
    batch = _input(model, batch_size=3)
    batch["mask"][0, 6:] = False  # video 0 has 6 real frames
    padded = {k: torch.cat([v, torch.zeros_like(v[:, :5])], dim=1) for k, v in batch.items()}
    for key in ("rgb", "audio"):  # garbage where the mask says padding
        padded[key] = torch.where(
            padded["mask"].unsqueeze(-1), padded[key], 1e3 * torch.randn_like(padded[key])
        )
    torch.manual_seed(1)
    expected = model(batch)
    torch.manual_seed(1)
    assert torch.allclose(model(padded), expected, atol=1e-5)


@pytest.mark.parametrize("name", sorted(TINY_MODELS))
def test_bf16_autocast_forward_and_backward(name):
    model = _tiny(name).train()
    if resolve_channels_last("auto", model):  # what training does by default
        model = model.to(memory_format=channels_last_format(model))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        logits = model(_input(model))
    logits.float().sum().backward()
    assert torch.isfinite(logits.float()).all()
    assert any(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())


@pytest.mark.parametrize("name", sorted(TINY_MODELS))
def test_torchscript_export_agrees_with_eager(name, tmp_path):
    model = _tiny(name)
    example = _input(model)
    dynamic = frames_vary(input_names(example))
    path = export_model(model, example, "torchscript", tmp_path / "m.pt", dynamic_frames=dynamic)
    # another batch size (and, for feature models, another frame count and padding)
    other = _input(model, batch_size=3)
    if dynamic:
        other = {k: v[:, :7] for k, v in other.items()}
        other["mask"][0, 4:] = False
    assert parity_check(model, path, "torchscript", other) < 1e-4
