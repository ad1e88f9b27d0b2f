"""embed_rows: a video's embedding is the model's forward_head(..., pre_logits=True), averaged
over its evaluation views."""

import torch
from support import kinetics_overrides

from videozoo.config import build_config
from videozoo.data import build_source
from videozoo.engine.distributed import DistContext
from videozoo.engine.embed import embed_rows
from videozoo.engine.tasks import make_task
from videozoo.registry import build_model


def test_embedding_is_the_pre_logits_vector_averaged_over_views(kinetics_dir):
    # The Non-local window head on a 2x2 map (4 windows), 2 clips x 3 crops: the richest path.
    extra = [
        "data.short_side=48",
        "data.test_crop_size=48",
        "model.head=window_softmax",
        "model.head_window=1",
    ]
    cfg = build_config(
        "nonlocal", overrides=kinetics_overrides("nonlocal", extra) + [f"data.root={kinetics_dir}"]
    )
    torch.manual_seed(0)
    model = build_model(cfg).eval()
    videos = [str(v) for v in sorted((kinetics_dir / "validate").glob("*.mp4"))[:3]]
    done, failed = embed_rows(model, cfg, videos, DistContext(), batch_size=2)
    assert failed == [] and [vid for vid, _ in done] == videos

    source = build_source(cfg, "predict", training=False, batch_size=2, inputs=videos)
    task = make_task(cfg, source.class_names)
    expected = {}
    with torch.inference_mode():
        for batch in source.batches(0):
            assert batch["video"].shape[1] == 6  # views
            pre_logits = model.forward_head(model.forward_features(task.model_inputs(batch)), pre_logits=True)
            per_video = pre_logits.view(len(batch["ids"]), 6, model.num_features).mean(1)
            expected.update(zip(batch["ids"], per_video))
    for vid, vector in done:
        assert vector.shape == (model.num_features,)
        assert torch.equal(torch.from_numpy(vector), expected[vid])
