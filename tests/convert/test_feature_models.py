"""`videozoo convert` for the YouTube-8M feature models: PaddleVideo's files in, its logits out.

Fixtures are written in the real layouts by tools/parity/paddle_features.py (v1.5
``save_persistables`` folders packed as .tar.gz, with Adam / RMSProp accumulators and the
learning-rate variables; a 2.x ``paddle.save`` pickle with the LSTM parameters saved twice)
from random weights under the real names at small sizes, converted, and compared with the
numpy re-statement of the reference inference graphs there. Then the error messages, and the
command line (convert, predict, export) on converted checkpoints.
"""

import csv
import json
import shutil
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch

from videozoo.cli import main
from videozoo.convert import convert_weights
from videozoo.convert.feature_models import fluid_gates_to_torch
from videozoo.errors import ConvertError
from videozoo.serialization.loading import load_checkpoint_model

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tools" / "parity"))
import paddle_features as ref  # noqa: E402  (the numpy reference graphs)

LENGTHS = [23, 9, 1, 16]  # frames per test video: padded in our batch, LoD in Paddle's
SMALL = {
    "nextvlad": dict(
        num_classes=12,
        rgb_size=48,
        audio_size=16,
        cluster_size=8,
        groups=4,
        expansion=2,
        hidden_size=32,
        gating_reduction=4,
    ),
    "attention_lstm": dict(
        num_classes=12,
        rgb_size=48,
        audio_size=16,
        embedding_size=16,
        lstm_size=24,
        fusion_relu_size=32,
        fusion_tanh_size=20,
    ),
    "attention_cluster": dict(
        num_classes=12, rgb_size=48, audio_size=16, rgb_clusters=4, audio_clusters=3, fc_size=32, fc2_size=20
    ),
}
SMALL["attention_lstm_2x"] = SMALL["attention_lstm"]
SHAPES = {
    "nextvlad": ref.nextvlad_v15_shapes,
    "attention_lstm": ref.attention_lstm_v15_shapes,
    "attention_cluster": ref.attention_cluster_v15_shapes,
}


def sets(sizes: dict) -> list[str]:
    return [f"model.{key}={value}" for key, value in sizes.items()]


def v15_folder(tmp_path: Path, model: str, sizes: dict, seed: int = 0) -> Path:
    """A v1.5 weights folder (unpacked) of ``model`` at ``sizes``, with its optimizer state."""
    weights = ref.random_weights(SHAPES[model](**sizes), np.random.default_rng(seed))
    archive = ref.write_v15_tarball(
        tmp_path / f"{model}_youtube8m",
        weights,
        "rmsprop" if model == "attention_lstm" else "adam",
        model != "attention_cluster",
    )
    archive.unlink()
    return tmp_path / f"{model}_youtube8m"


# ----------------------------------------------------------------------------- parity
@pytest.mark.parametrize("pair", ref.PAIRS)
def test_converted_model_reproduces_reference_graph(pair, tmp_path):
    result = ref.check_pair(pair, tmp_path, LENGTHS, seed=1, sizes=SMALL[pair], seg_num=10)
    assert result["error"] < 1e-5 and result["same_top5"]
    summary = result["summary"]
    if pair == "attention_lstm_2x":
        assert summary["format"] == "paddlevideo"
        assert summary["ignored"] == 16  # the LSTM parameters' second names
    else:
        assert summary["format"] == "paddle-v1.5"
        assert summary["ignored"] > summary["mapped"]  # accumulators of every parameter
    if "lstm" in pair:
        config = load_checkpoint_model(result["checkpoint"], "attention_lstm").config["model"]
        assert config["peepholes"] is (pair == "attention_lstm")


def test_the_reference_details_matter(monkeypatch):
    """What the converter folds in moves v1.5's logits far beyond the 1e-5 checked above:
    the peepholes, the x0.5 of inference dropout and NeXtVLAD's rgb dequantisation."""
    rng = np.random.default_rng(0)
    rgb, audio = ref.random_videos(rng, LENGTHS, 48, 16)
    w = ref.random_weights(ref.attention_lstm_v15_shapes(**SMALL["attention_lstm"]), rng)
    base = ref.attention_lstm_v15_forward(w, rgb, audio)
    gates = 4 * SMALL["attention_lstm"]["lstm_size"]
    no_peepholes = {
        **w,
        **{
            f"lstm_{n}.b_0": np.concatenate(
                [w[f"lstm_{n}.b_0"][:, :gates], np.zeros((1, gates - gates // 4))], axis=1
            )
            for n in range(4)
        },
    }
    assert ref.ops.relative_max_error(ref.attention_lstm_v15_forward(no_peepholes, rgb, audio), base) > 1e-3
    w = ref.random_weights(ref.nextvlad_v15_shapes(**SMALL["nextvlad"]), rng)
    base = ref.nextvlad_v15_forward(w, rgb, audio, calibrate=True)
    monkeypatch.setattr(ref, "nextvlad_dequantize", lambda x, modality: ref.reader_dequantize(x))
    assert ref.ops.relative_max_error(ref.nextvlad_v15_forward(w, rgb, audio), base) > 1e-3
    monkeypatch.undo()
    monkeypatch.setattr(ref, "DROPOUT_KEEP", 1.0)
    assert ref.ops.relative_max_error(ref.nextvlad_v15_forward(w, rgb, audio), base) > 1e-3


def test_fluid_gate_order_is_moved_to_pytorch_order():
    # fluid blocks (c, i, f, o) -> PyTorch (i, f, g, o), g being the candidate c.
    fluid = np.repeat(np.array(["c", "i", "f", "o"]), 2)
    assert "".join(fluid_gates_to_torch(fluid)) == "iiffccoo"
    weight = np.arange(8 * 3).reshape(3, 8)  # [H_in, 4H], gates along axis 1
    assert (fluid_gates_to_torch(weight.T)[0:2] == weight.T[2:4]).all()


def test_2x_lstm_parameters_are_read_under_either_name(tmp_path):
    """``paddle.nn.LSTM`` saves each parameter as ``weight_ih_l0`` and ``0.cell_fw.weight_ih``;
    a file with only the second names converts to the same model."""
    import pickle

    from videozoo.fileio import load_numpy_pickle

    sizes = SMALL["attention_lstm"]
    weights = ref.random_weights(ref.attention_lstm_2x_shapes(**sizes), np.random.default_rng(0))
    both = ref.write_pdparams(tmp_path / "both.pdparams", weights)
    saved = load_numpy_pickle(both)
    cells_only = {k: v for k, v in saved.items() if "_l0" not in k}
    (tmp_path / "cells.pdparams").write_bytes(pickle.dumps(cells_only, protocol=4))
    states = []
    for name in ("both", "cells"):
        convert_weights(
            tmp_path / f"{name}.pdparams",
            "attention_lstm",
            tmp_path / f"{name}.pt",
            overrides=sets(sizes),
            verbose=False,
        )
        states.append(load_checkpoint_model(tmp_path / f"{name}.pt", "attention_lstm").model.state_dict())
    assert all(torch.equal(states[0][k], states[1][k]) for k in states[0])


# ----------------------------------------------------------------------------- classes
def write_vocabulary(path: Path, count: int) -> Path:
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(
            [
                "Index",
                "TrainVideoCount",
                "KnowledgeGraphId",
                "Name",
                "WikiUrl",
                "Vertical1",
                "Vertical2",
                "Vertical3",
                "WikiDescription",
            ]
        )
        for i in range(count):
            writer.writerow([i, 10, f"/m/{i}", f"Entity {i}", "", "", "", "", ""])
    return path


def test_3862_class_file_needs_no_class_setting(tmp_path):
    sizes = {k: v for k, v in SMALL["attention_cluster"].items() if k != "num_classes"}
    folder = v15_folder(tmp_path, "attention_cluster", {**sizes, "num_classes": 3862})
    vocabulary = write_vocabulary(tmp_path / "vocabulary.csv", 3862)
    summary = convert_weights(
        folder,
        "attention_cluster",
        tmp_path / "ac.pt",
        overrides=sets(sizes),
        classes=vocabulary,
        verbose=False,
    )
    loaded = load_checkpoint_model(summary["output"], "attention_cluster")
    assert loaded.config["model"]["num_classes"] == 3862 and len(loaded.class_names) == 3862
    assert loaded.class_names[3861] == "Entity 3861"
    with pytest.raises(ConvertError, match=r"names 12 classes, the weights have 3862"):
        convert_weights(
            folder,
            "attention_cluster",
            tmp_path / "ac2.pt",
            overrides=sets(sizes),
            classes=write_vocabulary(tmp_path / "v12.csv", 12),
            verbose=False,
        )


# ----------------------------------------------------------------------------- errors
def test_missing_tensor_is_named(tmp_path):
    folder = v15_folder(tmp_path, "nextvlad", SMALL["nextvlad"])
    (folder / "batch_norm_3.w_2").unlink()
    with pytest.raises(ConvertError, match=r"tensor 'batch_norm_3\.w_2' is missing"):
        convert_weights(
            folder, "nextvlad", tmp_path / "x.pt", overrides=sets(SMALL["nextvlad"]), verbose=False
        )


def test_misshaped_tensor_names_both_shapes_and_the_settings(tmp_path):
    folder = v15_folder(tmp_path, "nextvlad", SMALL["nextvlad"])
    # The file's rgb_size and num_classes (48, 12) are not set: the defaults (1024, 3862) differ.
    sizes = {k: v for k, v in SMALL["nextvlad"].items() if k not in ("rgb_size", "num_classes")}
    with pytest.raises(ConvertError) as err:
        convert_weights(folder, "nextvlad", tmp_path / "x.pt", overrides=sets(sizes), verbose=False)
    assert str(err.value).endswith(
        "tensor 'eigen_param' has shape [48] in the file, the model's 'rgb_scale' is [1024]; "
        "likely fix: --set model.rgb_size=48 --set model.num_classes=12"
    )
    # One size wrong: only that one is named.
    sizes = {**SMALL["attention_lstm"], "lstm_size": 20}
    folder = v15_folder(tmp_path, "attention_lstm", SMALL["attention_lstm"])
    with pytest.raises(
        ConvertError,
        match=r"\[96, 16\] in the file, the model's "
        r"'rgb_encoder\.lstm_forward\.weight_ih_l0' is "
        r"\[80, 16\]; likely fix: --set model\.lstm_size=24$",
    ):
        convert_weights(folder, "attention_lstm", tmp_path / "x.pt", overrides=sets(sizes), verbose=False)


def test_wrong_model_says_which_model_the_file_is(tmp_path):
    folder = v15_folder(tmp_path, "nextvlad", SMALL["nextvlad"])
    with pytest.raises(
        ConvertError,
        match=r"looks like a 'nextvlad' model, not "
        r"'attention_cluster'; run `videozoo convert",
    ):
        convert_weights(folder, "attention_cluster", tmp_path / "x.pt", verbose=False)
    folder = v15_folder(tmp_path, "attention_lstm", SMALL["attention_lstm"])
    with pytest.raises(ConvertError, match=r"looks like a 'attention_lstm' model, not 'nextvlad'"):
        convert_weights(folder, "nextvlad", tmp_path / "x.pt", verbose=False)
    pdparams = ref.write_pdparams(
        tmp_path / "a.pdparams",
        ref.random_weights(ref.attention_lstm_2x_shapes(**SMALL["attention_lstm"]), np.random.default_rng(0)),
    )
    with pytest.raises(ConvertError, match=r"no converter for 'nextvlad' from paddlevideo"):
        convert_weights(pdparams, "nextvlad", tmp_path / "x.pt", verbose=False)


def test_v15_attention_lstm_refuses_a_model_without_peepholes(tmp_path):
    folder = v15_folder(tmp_path, "attention_lstm", SMALL["attention_lstm"])
    with pytest.raises(ConvertError, match=r"no tensor 'rgb_encoder\.lstm_forward\.peephole_l0'"):
        convert_weights(
            folder,
            "attention_lstm",
            tmp_path / "x.pt",
            overrides=[*sets(SMALL["attention_lstm"]), "model.peepholes=false"],
            verbose=False,
        )


def test_unknown_tensors_fail_but_training_outputs_are_ignored(tmp_path):
    from videozoo.convert.sources import write_fluid_dir

    folder = v15_folder(tmp_path, "attention_cluster", SMALL["attention_cluster"])
    write_fluid_dir(folder, {"sigmoid_0.tmp_0": np.zeros((4, 12), np.float32)})
    summary = convert_weights(
        folder,
        "attention_cluster",
        tmp_path / "a.pt",
        overrides=sets(SMALL["attention_cluster"]),
        verbose=False,
    )
    assert summary["ignored"] > 0
    write_fluid_dir(folder, {"fc_0.w_0": np.zeros((4, 12), np.float32)})
    with pytest.raises(ConvertError, match=r"not used by this model, e\.g\. 'fc_0\.w_0'"):
        convert_weights(
            folder,
            "attention_cluster",
            tmp_path / "b.pt",
            overrides=sets(SMALL["attention_cluster"]),
            verbose=False,
        )


# ----------------------------------------------------------------------------- command line
@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    from videozoo.data.synth import synth_youtube8m

    out = tmp_path_factory.mktemp("yt8m")
    synth_youtube8m(out, videos=12, classes=5, shards=1, max_frames=40)
    return out


@pytest.mark.slow
@pytest.mark.parametrize("model", list(SHAPES))
def test_cli_converts_and_predicts(model, shards, tmp_path):
    sizes = {**SMALL[model], "num_classes": 5, "rgb_size": 1024, "audio_size": 128}
    folder = v15_folder(tmp_path, model, sizes)
    archive = tmp_path / f"{model}_youtube8m.tar.gz"
    with tarfile.open(archive, "w:gz", compresslevel=1) as tar:  # as published: folder inside
        tar.add(folder, arcname=folder.name)
    shutil.rmtree(folder)
    checkpoint = tmp_path / f"{model}.pt"
    set_args = [arg for item in sets(sizes) for arg in ("--set", item)]
    assert (
        main(
            [
                "convert",
                str(archive),
                "--model",
                model,
                "--output",
                str(checkpoint),
                "--classes",
                str(shards / "vocabulary.csv"),
                *set_args,
            ]
        )
        == 0
    )
    out = tmp_path / "predictions.jsonl"
    assert (
        main(
            [
                "predict",
                model,
                "--weights",
                str(checkpoint),
                str(shards / "test*.tfrecord"),
                "--topk",
                "3",
                "--output",
                str(out),
            ]
        )
        == 0
    )
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    names = [row["Name"] for row in csv.DictReader(open(shards / "vocabulary.csv"))]
    assert rows and all(len(r["class_ids"]) == 3 for r in rows)
    assert all(r["class_names"][0] == names[r["class_ids"][0]] for r in rows)


def test_exported_peephole_model_keeps_a_dynamic_frame_count(tmp_path):
    from videozoo.engine.export import export_checkpoint

    sizes = SMALL["attention_lstm"]
    folder = v15_folder(tmp_path, "attention_lstm", sizes)
    checkpoint = tmp_path / "al.pt"
    convert_weights(folder, "attention_lstm", checkpoint, overrides=sets(sizes), verbose=False)
    # Exported on 300 frames, checked by onnxruntime on 151 (parity_batch).
    result = export_checkpoint("attention_lstm", checkpoint, "onnx")
    assert result["dynamic_axes"]["rgb"] == {0: "batch", 1: "frames"}
    assert result["max_abs_diff"] < 1e-4


def test_classifier_shape_error_suggests_the_files_class_count():
    from videozoo.convert.mapping import TensorMapper

    target = {"classifier.weight": torch.zeros(10, 32), "classifier.bias": torch.zeros(10)}
    mapper = TensorMapper({}, target, "file.pth")
    with pytest.raises(ConvertError, match=r"\[7, 32\].*num_classes=7 "):
        mapper.put("classifier.weight", np.zeros((7, 32), np.float32), src="fc.weight")
    with pytest.raises(ConvertError, match=r"num_classes=7 "):
        mapper.put("classifier.bias", np.zeros(7, np.float32), src="fc.bias")
