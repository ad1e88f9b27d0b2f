"""The weights table for people and programs: ``videozoo models --pretrained`` (text table,
JSON) and ``docs/pretrained.md`` (markdown), all generated from ``table.py``.

The JSON form is a stable contract: a list of objects with (at least) ``tag``, ``model``,
``source``, ``url``, ``urls``, ``file``, ``sha256`` (full digest, or null when only a prefix
or nothing is known), ``sha256_prefix``, ``checksum`` (``sha256`` / ``prefix`` / ``recorded``
/ ``unverified``), ``metrics``, ``protocol``, ``dataset``, ``classes``, ``overrides``,
``status``, ``note``, ``size``, ``license``, ``paper``, ``zoo``, ``parity``, ``cached``.
"""

from __future__ import annotations

from videozoo.zoo import hub, table
from videozoo.zoo.table import Weight

__all__ = ["entries_for", "json_rows", "text_table", "markdown", "readme_table", "checksum_state"]


def entries_for(model: str | None = None, pretrained: bool = False) -> list[Weight]:
    """Entries of ``model`` (all when None); ``pretrained``: loadable model weights only."""
    rows = table.entries(model, pretrained_only=pretrained)
    return [e for e in rows if e.loadable] if pretrained else rows


def checksum_state(entry: Weight) -> tuple[str, str | None]:
    """(state, full sha256 or None): sha256 / prefix from the table, recorded in the cache, or
    unverified."""
    if entry.sha256:
        return "sha256", entry.sha256
    if entry.checksum_prefix:
        return "prefix", None
    record = hub.cached_file(entry).with_name(entry.file + ".sha256")
    if record.is_file():
        return "recorded", record.read_text().strip()
    return "unverified", None


def _metrics_text(metrics: dict) -> str:
    return ", ".join(f"{k} {v:g}" for k, v in metrics.items())


def json_rows(entries: list[Weight]) -> list[dict]:
    rows = []
    for e in entries:
        state, full = checksum_state(e)
        rows.append(
            {
                "tag": e.tag,
                "model": e.model,
                "source": e.source,
                "url": e.urls[0],
                "urls": list(e.urls),
                "file": e.file,
                "sha256": full,
                "sha256_prefix": e.checksum_prefix if state == "prefix" else None,
                "checksum": state,
                "metrics": dict(e.metrics),
                "protocol": e.protocol,
                "dataset": e.dataset,
                "classes": e.classes,
                "overrides": list(e.overrides),
                "status": e.status,
                "note": e.note,
                "size": e.size,
                "license": e.license,
                "paper": e.paper,
                "zoo": e.zoo,
                "parity": e.parity_figure,
                "cached": hub.is_cached(e),
            }
        )
    return rows


def text_table(entries: list[Weight]) -> str:
    header = ("tag", "model", "status", "dataset", "metrics", "checksum", "cached")
    lines = [
        (
            e.tag,
            e.model or "-",
            e.status,
            e.dataset,
            _metrics_text(e.metrics),
            checksum_state(e)[0],
            "yes" if hub.is_cached(e) else "no",
        )
        for e in entries
    ]
    widths = [max(len(str(row[i])) for row in [header, *lines]) for i in range(len(header))]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    out = [fmt.format(*header)] + [fmt.format(*row) for row in lines]
    return "\n".join(out) + f"\n{len(lines)} file(s); details: videozoo models --format json"


def _score(entry: Weight) -> float:
    """The entry's headline metric on a 0-1 scale (zoos publish 0.70 or 70.0)."""
    value = entry.metrics.get("top1", entry.metrics.get("gap", 0.0))
    return value / 100 if value > 1 else value


def readme_table() -> str:
    """README's table: per model, the Kinetics-400 / YouTube-8M tag with a parity figure and
    the best published metric."""
    lines = ["| model | tag | zoo | reference metric |", "|---|---|---|---|"]
    best: dict[str, Weight] = {}
    for e in table.TABLE:
        if e.model is None or e.status != "parity":
            continue
        if e.model not in best or _score(e) > _score(best[e.model]):
            best[e.model] = e
    for model, e in best.items():
        first = next(iter(e.metrics.items()))
        lines.append(f"| {model} | `{e.tag}` | {e.source} | {first[0]} {first[1]:g} |")
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------- markdown
_INTRO = """\
# Pretrained models

<!-- Generated from src/videozoo/zoo/table.py by `PYTHONPATH=src python
tools/gen_pretrained_docs.py` (or `videozoo models --format markdown`); tests/zoo/test_table.py
fails when this file is stale. Edit the table, not this file. -->

Every weight file the four zoos publish for videozoo's seven architectures has a tag. Pass the
tag wherever a checkpoint goes; the first use downloads the file (progress bar, resumed when
interrupted, verified), converts it once with `videozoo convert`, and keeps the converted
bundle in the cache (`$VIDEOZOO_HOME`, default `~/.cache/videozoo`):

```bash
videozoo predict --weights tsm_r50_1x1x8_k400.mmaction2 clip.mp4
videozoo eval --weights tsn_r50_k400.paddle15 --data /data/kinetics400
videozoo train --weights tsm_r50_1x1x8_k400.mit --data ucf101/ --set model.num_classes=101
```

```python
import videozoo
model = videozoo.load_model("nextvlad_youtube8m.paddle15")
predictor = videozoo.Predictor("tsm_r50_1x1x8_k400.mmaction2")
videozoo.list_pretrained("tsm")
```

Status: **parity**: the network this file converts to was measured against the source's own
graph (figures below; how: [convert.md](convert.md)); the options listed then change only the
input, the test protocol or the class count; **converts**: the converter with other network
options (depth, non-local blocks), no parity figure yet; **not-loadable**: the architecture
variant is not written yet. Metrics are the zoos' own, with
their test protocol; we have not re-evaluated the published files (our machines cannot reach
the zoos: every download path is tested against a local HTTP server). Checksum: **prefix**: the
file name carries the first hex digits of its sha256 (verified); **unverified**: the zoo
publishes none; the cache records the sha256 of the first download and holds later ones to it
(`videozoo download TAG --sha256 HEX` pins one).

Air-gapped machines: `videozoo download TAG... --to DIR` on a connected machine, then
`VIDEOZOO_MIRROR=DIR` (or a URL prefix serving the files under their published names) on the
other; `VIDEOZOO_OFFLINE=1` never touches the network and names the missing file and where to
put it. `videozoo cache list|clear` shows or empties the cache.
"""


def _link(e: Weight) -> str:
    return f"[`{e.file}`]({e.urls[0]})"


def _model_section(model: str) -> list[str]:
    rows = table.entries(model, pretrained_only=True)
    lines = [
        f"## {model}",
        "",
        "| tag | zoo | dataset | reference metrics | protocol | status | file (published URL) | checksum |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for e in rows:
        status = e.status + (f": {e.note}" if e.note else "")
        options = f" (`{' '.join(e.overrides)}`)" if e.overrides else ""
        lines.append(
            f"| `{e.tag}` | {e.source} | {e.dataset} | {_metrics_text(e.metrics)} | "
            f"{e.protocol}{options} | {status} | {_link(e)} | "
            f"{e.checksum_prefix or 'unverified'} |"
        )
    return lines + [""]


def markdown() -> str:
    parts = [_INTRO]
    models = []
    for e in table.TABLE:
        if e.model and e.model not in models:
            models.append(e.model)
    for model in models:
        parts += _model_section(model)
    parts += [
        "## Parity",
        "",
        "Relative max error of the logits, ours against the source's own "
        "graph on the same input (full-size random weights in the zoo's real layout; "
        "[convert.md](convert.md) has the commands):",
        "",
        "| zoo format | model | relative max error |",
        "|---|---|---|",
    ]
    parts += [f"| {fmt} | {model} | {err} |" for (fmt, model), err in table.PARITY.items()]
    variants = [e for e in table.TABLE if e.parity]
    if variants:
        parts += [
            "",
            "Variants measured on their own (the entry's options on top of the converter's):",
            "",
            "| tag | options | relative max error |",
            "|---|---|---|",
        ]
        parts += [f"| `{e.tag}` | `{' '.join(e.overrides)}` | {e.parity} |" for e in variants]
    parts += [
        "",
        "## Auxiliary files",
        "",
        "| tag | what | file (published URL) | license |",
        "|---|---|---|---|",
    ]
    parts += [
        f"| `{e.tag}` | {e.protocol} | {_link(e)} | {e.license} |" for e in table.TABLE if e.model is None
    ]
    parts += ["", "## Published files not in the table", "", "| files | why |", "|---|---|"]
    parts += [f"| {what} | {why} |" for what, why in table.LEFT_OUT]
    return "\n".join(parts) + "\n"
