"""The model contract (docs/ARCHITECTURE.md, section 1), checked on every registered model:
plain-typed builder defaults, a `classifier`, `default_input`, logits of the right shape,
padding that changes nothing, bf16 autocast (channels_last for conv models), and a TorchScript
export that agrees."""

import inspect

import pytest
import torch
from support import TINY_MODELS, tiny_kwargs

from videozoo.engine.precision import channels_last_format, resolve_channels_last
from videozoo.registry import create_model, list_models, model_builder
from videozoo.serialization.graph_export import export_model, frames_vary, input_names, parity_check

CLASSES = 6


def test_every_registered_model_has_a_tiny_variant_here():
    assert sorted(TINY_MODELS) == sorted(list_models())


def _tiny(name, **extra):
    torch.manual_seed(0)
    return create_model(name, num_classes=CLASSES, **tiny_kwargs(name, **extra)).eval()


def _input(model, batch_size=2):
    if _is_video(model):
        return model.default_input(batch_size, num_frames=4, image_size=32)
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
