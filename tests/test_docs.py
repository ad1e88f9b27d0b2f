"""README's commands stay runnable, and facts the docs repeat agree with their homes in code.

The two set-up commands and every `videozoo ...` line in the bash blocks of README and docs/
are parsed by the CLI's own argparse parser; the model list, install extras and the exit-code
table are checked against registry.py, pyproject.toml and errors.py."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import tomllib

from videozoo import errors, registry
from videozoo.cli import build_parser, parse_command_line

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = [README, *sorted((ROOT / "docs").rglob("*.md"))]
SETUP_MARKERS = ("# 1. set up and run the demo", "# 2. set up and run the tests")


def code_lines(text: str) -> list[str]:
    """The lines of the ```bash code blocks, with backslash continuations joined."""
    lines, inside, pending = [], False, ""
    for line in text.splitlines():
        if line.startswith("```"):
            inside = not inside and line.strip() in ("```bash", "```sh")
            continue
        if not inside:
            continue
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        lines.append(pending + line)
        pending = ""
    return lines


def videozoo_commands(text: str) -> list[list[str]]:
    """Every `videozoo ...` command of the code blocks as argv (without `videozoo`)."""
    commands = []
    for line in code_lines(text):
        for part in re.split(r"&&|\|\|", line):
            words = shlex.split(part, comments=True)
            if words[:1] == ["videozoo"]:
                commands.append(words[1:])
    return commands


def setup_commands(text: str) -> list[str]:
    lines = text.splitlines()
    found = []
    for marker in SETUP_MARKERS:
        at = [i for i, line in enumerate(lines) if line.startswith(marker)]
        assert len(at) == 1, f"README needs one line starting {marker!r} (.ci/run greps it)"
        found.append(lines[at[0] + 1])
    return found


def test_readme_shows_the_main_commands():
    shown = {argv[0] for argv in videozoo_commands(README.read_text())}
    assert {"demo", "train", "eval", "predict", "convert"} <= shown


@pytest.mark.parametrize("doc", DOCS, ids=lambda path: path.relative_to(ROOT).as_posix())
def test_documented_commands_parse(doc):
    for argv in videozoo_commands(doc.read_text()):
        try:
            parse_command_line(argv)
        except SystemExit as exc:
            pytest.fail(f"{doc.name}: command does not parse: videozoo {shlex.join(argv)} ({exc})")


def test_setup_commands_install_what_exists_and_run_known_commands():
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"].get("optional-dependencies", {})
    parser = build_parser()
    demo, tests = setup_commands(README.read_text())
    for command in (demo, tests):
        steps = [shlex.split(step) for step in command.split("&&")]
        assert steps[0][:3] == ["python3", "-m", "venv"]
        for words in steps:
            if words[:3] == ["pip", "install", "-e"]:
                wanted = re.fullmatch(r"\.(?:\[([\w,]+)\])?", words[3])
                assert wanted, f"unexpected install target {words[3]!r}"
                for extra in filter(None, (wanted.group(1) or "").split(",")):
                    assert extra in extras, f"README installs extra [{extra}] that pyproject lacks"
            if words[:1] == ["videozoo"]:
                parser.parse_args(words[1:])
    assert command.endswith("python -m pytest -q")


def test_unknown_command_is_refused():
    """The check above can fail: a misspelt command or option does not parse."""
    with pytest.raises(SystemExit):
        build_parser().parse_args(["trian", "tsm"])
    with pytest.raises(SystemExit):
        build_parser().parse_args(["predict", "tsm", "--wieghts", "x.pt", "clip.mp4"])


def test_readme_model_list_is_the_registry():
    match = re.search(r"^Models: (.+)\.$", README.read_text(), re.M)
    assert match, "README's 'Models:' line is gone"
    assert re.findall(r"`(\w+)`", match.group(1)) == registry.list_models()


def test_exit_code_table_is_errors_py():
    text = (ROOT / "docs" / "reliability.md").read_text()
    assert errors.exit_code_table() in text
    codes = {
        value for name, value in vars(errors).items() if name.startswith("EXIT_") and isinstance(value, int)
    }
    assert codes == set(errors.EXIT_MEANINGS)
