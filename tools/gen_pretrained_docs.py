"""Regenerate what shows the weights table to people: docs/pretrained.md and README's table.

    PYTHONPATH=src python tools/gen_pretrained_docs.py

Both come from ``src/videozoo/zoo/table.py`` (``zoo/render.py``); tests/zoo/test_table.py
fails while either is stale.
"""

from __future__ import annotations

from pathlib import Path

from videozoo.zoo import render

ROOT = Path(__file__).resolve().parents[1]
MARKER = "<!-- generated: videozoo.zoo.render.readme_table(); tests/zoo/test_table.py checks it -->\n"


def main() -> None:
    (ROOT / "docs" / "pretrained.md").write_text(render.markdown())
    readme = (ROOT / "README.md").read_text()
    start = readme.index(MARKER) + len(MARKER)
    end = readme.index("\n\n", start) + 1
    (ROOT / "README.md").write_text(readme[:start] + render.readme_table() + readme[end:])
    print("docs/pretrained.md and README.md regenerated")


if __name__ == "__main__":
    main()
