"""The weights table is consistent with itself, with the converters and configs it names, and
with every document that shows it (docs/pretrained.md, README, `videozoo models`)."""

import json
import re
from pathlib import Path

import pytest

from videozoo.cli import main
from videozoo.config import build_config, nested_to_overrides
from videozoo.convert import mappings
from videozoo.zoo import render, table

ROOT = Path(__file__).resolve().parents[2]
MMACTION_STAMP = re.compile(r"_(\d{8})-([0-9a-f]{8})\.pth$")


def test_entries_are_well_formed():
    assert len(table.tags()) == len(table.TABLE)
    for e in table.TABLE:
        assert e.status in table.STATUSES, e.tag
        assert all(url.startswith(("https://", "http://")) for url in e.urls), e.tag
        assert (e.model is None) == (e.status == "auxiliary"), e.tag
        assert e.status != "not-loadable" or e.note, e.tag
        assert e.license and e.zoo, e.tag


def test_mmaction2_files_carry_their_sha256_prefix():
    entries = [e for e in table.TABLE if e.source == "mmaction2"]
    assert len(entries) == 22
    for e in entries:
        stamp = MMACTION_STAMP.search(e.file)
        assert stamp and e.checksum_prefix == stamp.group(2), e.file
        config_name = e.urls[0].split("/")[-2]
        assert e.file.startswith(config_name + "_"), e.file  # folder and file agree


def test_every_loadable_entry_has_a_converter_and_a_valid_config():
    table_of_mappings = mappings()
    for e in table.TABLE:
        if not e.loadable:
            continue
        mapping = table_of_mappings[(e.source, e.model)]
        cfg = build_config(e.model, overrides=nested_to_overrides(mapping.config) + list(e.overrides))
        if "model.depth=101" in e.overrides:
            assert cfg["model"]["depth"] == 101
        if e.status == "parity":
            assert e.parity or (table.same_network(e.overrides) and (e.source, e.model) in table.PARITY), (
                e.tag
            )


def test_committed_docs_are_generated_from_the_table():
    assert (ROOT / "docs" / "pretrained.md").read_text() == render.markdown(), (
        "docs/pretrained.md is stale: PYTHONPATH=src python tools/gen_pretrained_docs.py"
    )
    assert render.readme_table() in (ROOT / "README.md").read_text(), (
        "README's pretrained table is stale: PYTHONPATH=src python tools/gen_pretrained_docs.py"
    )


def test_published_file_names_in_docs_are_in_the_table():
    files = {e.file for e in table.TABLE}
    zoo_file = re.compile(
        r"[\w.-]*(?:kinetics|youtube8m|k400|yt8|something|sthv)[\w.-]*"
        r"\.(?:pth|pdparams|tar\.gz)\b"
    )
    for doc in ("README.md", "docs/convert.md"):
        named = set(zoo_file.findall((ROOT / doc).read_text()))
        assert not named - files, f"{doc} names zoo files the table lacks: {named - files}"


def test_models_json_lists_every_entry(capsys):
    assert main(["models", "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["tag"] for r in rows] == table.tags()
    for row in rows:
        for key in ("tag", "model", "source", "url", "file", "sha256", "metrics"):
            assert key in row
    by_tag = {r["tag"]: r for r in rows}
    assert by_tag["tsm_r50_1x1x8_k400.mmaction2"]["sha256_prefix"] == "64d69186"
    assert by_tag["tsm_r50_1x1x8_k400.mmaction2"]["metrics"] == {"top1": 73.18, "top5": 90.56}
    assert by_tag["tsm_r101_1x1x8_sthv2.mit"]["parity"] is None  # no figure of its own
    assert by_tag["tsn_r101_1x1x8_k400.mmaction2"]["parity"].startswith("0, bit-identical")


def test_models_pretrained_lists_only_loadable_tags(capsys):
    assert main(["models", "--pretrained", "--model", "nonlocal"]) == 0
    out = capsys.readouterr().out
    assert "i3d_r50_nl_dot_product_32x2x1_k400.mmaction2" in out
    assert "i3d_r50_nl_gaussian_32x2x1_k400.mmaction2" not in out  # not loadable yet


@pytest.mark.parametrize("model", ["tsm", None])
def test_list_pretrained(model):
    import videozoo

    tags = videozoo.list_pretrained(model)
    assert tags and all(table.get(t).loadable for t in tags)
    assert model is None or all(table.get(t).model == model for t in tags)


def test_metrics_live_only_in_the_table():
    """Converter descriptions and recipe comments point to the table instead of repeating
    its metrics."""
    for mapping in mappings().values():
        assert not re.search(r"top-1|GAP|\d\.\d{2}", mapping.description), mapping.description
    for yaml in (ROOT / "src" / "videozoo" / "configs").glob("*.yaml"):
        head = yaml.read_text().split("\nmodel:")[0]
        assert not re.search(r"top-1|GAP \d|Hit@1", head), yaml.name
