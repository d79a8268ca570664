"""The README and the docs/ pages say what the code does: the tour runs as pasted, the names exist, links resolve."""

from __future__ import annotations

import code
import importlib
import math
import os
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
DOCS = REPO / "docs"


def python_blocks(text: str) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", text, flags=re.S | re.M)


class Console(code.InteractiveConsole):
    """The interactive interpreter, fed one line at a time; it records errors instead of printing them."""

    def __init__(self):
        super().__init__(locals={"__name__": "__console__"})
        self.errors: list[str] = []

    def showtraceback(self):
        import traceback

        self.errors.append("".join(traceback.format_exc()))

    def showsyntaxerror(self, filename=None, **kwargs):
        import traceback

        self.errors.append("".join(traceback.format_exc()))


def paste(block: str) -> Console:
    """Feed ``block`` to an interactive console line by line, as a paste into ``python`` does."""
    console = Console()
    for number, line in enumerate(block.splitlines() + [""], start=1):
        console.push(line)
        assert not console.errors, f"line {number}: {line!r}\n{console.errors[0]}"
    return console


def test_a_block_after_a_with_needs_a_blank_line_in_the_interpreter():
    """The check below can fail: a statement right after an indented block is a syntax error when pasted."""
    with pytest.raises(AssertionError, match="SyntaxError"):
        paste("with open(__file__ if '__file__' in dir() else 'README.md') as f:\n    pass\nprint(1)\n")


def test_readme_is_short():
    assert len(README.read_text().splitlines()) <= 200


@pytest.mark.slow
def test_the_tour_runs_pasted_into_the_interpreter_and_says_true_values():
    blocks = python_blocks(README.read_text())
    assert len(blocks) == 1, "the README has one tour"
    ns = paste(blocks[0]).locals
    jnp = ns["jnp"]
    assert float(ns["svm_loss"](ns["W"], ns["X"], ns["y"], reg=1e-3)) == pytest.approx(9.0, abs=0.05)
    assert float(ns["softmax_loss"](ns["W"], ns["X"], ns["y"])) == pytest.approx(math.log(10), abs=0.01)
    assert float(jnp.max(ns["report"].relative_errors)) < 1e-6
    assert ns["report"].verdict == "good", str(ns["report"])  # a right gradient reads good (issue 20)
    evaluate, splits = ns["evaluate"], ns["splits"]
    assert 0.1 < evaluate(ns["found"].params, splits)["test"] < 0.35
    assert 0.75 < evaluate(ns["local"].params, splits)["test"] < 0.92
    assert ns["grid"].val_accuracy.shape == (2, 2, 3)
    assert evaluate(ns["run"].params, splits)["test"] > 0.9


def slide_table(text: str) -> list[tuple[str, str]]:
    """The (slide, code) cells of the README's table that maps the lecture to the code."""
    section = text.split("## The lecture, slide by slide", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| ") and not line.startswith("| the lecture")]
    return [tuple(cell.strip() for cell in row.strip("|").split(" | ")) for row in rows]


def named_in(cell: str) -> list[tuple[str, str]]:
    """``(file, name)`` for every `name` that follows a `file.py`: in a cell."""
    pairs = []
    files = list(re.finditer(r"`([\w/]+\.py)`", cell))
    for this, after in zip(files, [*files[1:], None], strict=True):
        names = cell[this.end() : after.start() if after else len(cell)]
        found = re.findall(r"`([A-Za-z_]\w*)(?:\([^`]*\))?`", names)
        pairs += [(this.group(1), name) for name in found] or [(this.group(1), "")]
    return pairs


def test_every_function_the_slide_table_names_is_defined_in_the_file_it_names():
    rows = slide_table(README.read_text())
    assert len(rows) >= 10
    checked = 0
    for slide, cell in rows:
        pairs = named_in(cell)
        assert pairs, f"no file and function named for {slide!r}"
        for path, name in pairs:
            if path.startswith("experiments/"):
                assert (REPO / path).is_file(), path
                continue
            module = importlib.import_module(f"jaxopt_course.{Path(path).stem}")
            if name:
                assert callable(getattr(module, name, None)), f"{path} defines no {name} (row {slide!r})"
                checked += 1
    assert checked >= 15


def markdown_files() -> list[Path]:
    return [README, *sorted(DOCS.glob("*.md"))]


def anchors(page: Path) -> set[str]:
    """The anchors MkDocs (and GitHub) give the headings of ``page``."""
    slugs = set()
    for heading in re.findall(r"^#+ (.+)$", page.read_text(), flags=re.M):
        slug = re.sub(r"[^\w\- ]", "", heading.lower()).strip().replace(" ", "-")
        slugs.add(slug)
    return slugs


@pytest.mark.parametrize("page", markdown_files(), ids=lambda p: p.name)
def test_relative_links_resolve(page):
    text = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"[a-z]+:", target):
            continue  # http(s), mailto
        path, _, anchor = target.partition("#")
        if page.parent == DOCS and path.startswith("api/"):
            continue  # the API reference pages are generated while the site is built (docs/api/hooks.py)
        linked = Path(os.path.normpath(page.parent / path)) if path else page  # docs/notebooks may be a link
        assert linked.exists(), f"{page.name} links {target}, which does not exist"
        if page.parent == DOCS:
            assert DOCS in linked.parents, f"{page.name} links {target}, outside docs/ (MkDocs cannot follow it)"
        if anchor and linked.suffix == ".md":
            assert anchor in anchors(linked), f"{page.name} links {target}: no such heading"


@pytest.mark.parametrize("page", markdown_files(), ids=lambda p: p.name)
def test_no_paths_of_one_machine(page):
    text = page.read_text()
    for local in ("/work/", "/tmp/", "/root/", ".venv/bin/python", ".cache/cifar10", "../shared"):
        assert local not in text, f"{page.name} mentions {local}"


def test_the_command_line_page_names_every_command_and_option():
    import argparse

    from jaxopt_course import cli

    page = (DOCS / "cli.md").read_text()
    for command in cli.COMMANDS:
        assert f"| `{command.name}` |" in page, f"docs/cli.md has no row for {command.name}"
        parser = cli.build_parser(only=command.name)
        sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        for action in sub.choices[command.name]._actions:
            for option in action.option_strings:
                if option.startswith("--") and option != "--help":
                    assert f"`{option}" in page, f"docs/cli.md does not mention {command.name} {option}"


def test_the_command_lines_in_the_readme_and_the_cli_page_parse():
    import shlex

    from jaxopt_course import cli

    commands = []
    for page in (README, DOCS / "cli.md"):
        for block in re.findall(r"^```\n(.*?)^```", page.read_text(), flags=re.S | re.M):
            for line in block.splitlines():
                if line.startswith("jaxopt-course "):
                    commands.append(shlex.split(line.split("#")[0])[1:])
    assert len(commands) >= 8
    for argv in commands:
        if argv == ["--help"]:
            continue
        parser = cli.build_parser(only=argv[0])
        parser.parse_args(argv)  # argparse exits (SystemExit) on an unknown option or a bad value
