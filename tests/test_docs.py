"""The documentation cannot rot quietly: every relative link and anchor of README.md and docs/*.md
resolves (anchors as GitHub makes them from headings), every page of docs/ is reachable from the
README, and every `trickbench …` and `snakemake …` command the pages show — in shell code blocks
and in inline code — parses with the real argument parsers (`trickbench.cli.build_parser()` and
`snakemake.cli.get_argument_parser()`), without running anything.

Commands are read as a shell would split them: comments, line continuations, `&&`, `||`, `;` and
pipes separate commands, `NAME=value` prefixes and redirections are dropped, and a placeholder
such as `<run_id prefix>` or a trailing `…` stands for a value the reader fills in. Inline code
that only names a command (`trickbench train`, no options) must name a real one but may leave out
the arguments it requires.
"""

from __future__ import annotations

import contextlib
import functools
from typing import Any
import importlib.util
import io
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from conftest import REPO

SHELL_LANGUAGES = {"", "bash", "sh", "shell", "console", "zsh"}
SEPARATORS = {"|", "||", "&&", ";", "&", "|&"}
REDIRECTIONS = {">", ">>", "<", ">&", "<&", ">|", "&>", "&>>"}
ELLIPSES = {"…", "..."}
PLACEHOLDER = re.compile(r"<[^<>\s][^<>]*>")  # <run_id prefix>, <id>; not the redirection `a < b`
FENCE = re.compile(r"^\s*(```+|~~~+)\s*([\w+-]*)")
INLINE_CODE = re.compile(r"(`+)(.+?)\1", re.DOTALL)
LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
HTML_ANCHOR = re.compile(r"<a\s+(?:id|name)=\"([^\"]+)\"", re.IGNORECASE)
ENV_PREFIX = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")


def pages(root: Path) -> list[Path]:
    """The README and every Markdown page under docs/."""
    return [root / "README.md", *sorted((root / "docs").rglob("*.md"))]


# -- Markdown: prose, code blocks, headings --------------------------------------------------------

@dataclass(frozen=True)
class CodeBlock:
    language: str
    lines: list[str]


def split_markdown(text: str) -> tuple[str, list[CodeBlock]]:
    """The prose (fenced code blocks blanked out, line numbers kept) and the fenced code blocks."""
    prose, blocks = [], []
    fence: str | None = None
    for line in text.splitlines():
        match = FENCE.match(line)
        if fence is None and match:
            fence = match.group(1)
            blocks.append(CodeBlock(match.group(2).lower(), []))
            prose.append("")
        elif fence is not None:
            if line.strip().startswith(fence[0] * len(fence)) and not line.strip().strip(fence[0]):
                fence = None
            else:
                blocks[-1].lines.append(line)
            prose.append("")
        else:
            prose.append(line)
    return "\n".join(prose), blocks


def slug(heading: str) -> str:
    """GitHub's anchor of a heading: its text without markup, lowercased, punctuation removed
    (letters, digits, `_`, `-` and spaces stay), each space a hyphen."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link reads as its text
    text = re.sub(r"<[^>]+>", "", text).replace("`", "").replace("*", "")
    text = re.sub(r"[^\w\- ]", "", text.strip().lower())
    return text.replace(" ", "-")


def heading_anchors(text: str) -> list[str]:
    """The anchors of a page's headings, in order, made unique as GitHub does (github-slugger):
    the second heading of a slug gets -1, the third -2, skipping any already taken."""
    prose, _ = split_markdown(text)
    occurrences: dict[str, int] = {}
    found = []
    for line in prose.splitlines():
        match = re.match(r"^ {0,3}#{1,6}\s+(.*?)(?:\s+#+)?\s*$", line)
        if not match:
            continue
        base = result = slug(match.group(1))
        while result in occurrences:
            occurrences[base] += 1
            result = f"{base}-{occurrences[base]}"
        occurrences[result] = 0
        found.append(result)
    return found


def anchors(text: str) -> set[str]:
    """Every anchor a page has: its headings' and explicit `<a id=…>` / `<a name=…>` targets."""
    return set(heading_anchors(text)) | set(HTML_ANCHOR.findall(split_markdown(text)[0]))


def links(text: str) -> list[str]:
    """The targets of every Markdown link and image in the prose (not in code)."""
    prose, _ = split_markdown(text)
    prose = INLINE_CODE.sub("code", prose)  # a link's text may be code; code is never a link
    return LINK.findall(prose)


def broken_links(page: Path) -> list[str]:
    """Each relative link of `page` whose file, folder or anchor does not exist, as a sentence."""
    problems = []
    for target in links(page.read_text()):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.IGNORECASE):  # https:, mailto:
            continue
        path_part, _, anchor = target.partition("#")
        destination = (page.parent / path_part).resolve() if path_part else page
        if not destination.exists():
            problems.append(f"{page.name}: link to {target}: no such file or folder")
        elif anchor and destination.suffix != ".md":
            problems.append(f"{page.name}: link to {target}: an anchor into a file that is not Markdown")
        elif anchor and anchor not in anchors(destination.read_text()):
            problems.append(f"{page.name}: link to {target}: {destination.name} has no heading with that anchor")
    return problems


def unreachable(root: Path) -> list[Path]:
    """The pages of docs/ that no chain of links from README.md reaches."""
    reached, todo = set(), [(root / "README.md").resolve()]
    while todo:
        page = todo.pop()
        if page in reached or not page.is_file() or page.suffix != ".md":
            continue
        reached.add(page)
        for target in links(page.read_text()):
            path_part = target.partition("#")[0]
            if path_part and not re.match(r"^[a-z][a-z0-9+.-]*:", path_part, re.IGNORECASE):
                todo.append((page.parent / path_part).resolve())
    return [page for page in pages(root)[1:] if page.resolve() not in reached]


# -- commands shown in the pages ------------------------------------------------------------------

@dataclass(frozen=True)
class Shown:
    """A command line as a page shows it: in a shell code block, or as inline code in prose."""
    page: str
    text: str
    inline: bool


def shown_commands(page: Path) -> list[Shown]:
    """Every shell line and inline code span of `page` that calls trickbench or snakemake."""
    prose, blocks = split_markdown(page.read_text())
    shown = []
    for block in blocks:
        if block.language not in SHELL_LANGUAGES:
            continue
        joined = re.sub(r"\\\n", " ", "\n".join(block.lines))  # line continuations
        for line in joined.splitlines():
            line = re.sub(r"^\s*\$\s+", "", line)  # a `$ ` prompt
            if re.search(r"\b(trickbench|snakemake)\b", line):
                shown.append(Shown(page.name, line.strip(), inline=False))
    for match in INLINE_CODE.finditer(prose):
        code = " ".join(match.group(2).split())
        if re.match(r"^((python3?\s+-m\s+)?trickbench|snakemake)(\s|$)", code):
            shown.append(Shown(page.name, code, inline=True))
    return shown


def simple_commands(line: str) -> list[list[str]]:
    """The words of each simple command of a shell line, without environment prefixes and
    redirections; placeholders become a value, trailing ellipses are dropped."""
    line = PLACEHOLDER.sub("1", line)
    lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    commands: list[list[str]] = [[]]
    tokens = list(lexer)
    skip_next = False
    for token in tokens:
        if skip_next:
            skip_next = False
        elif token in SEPARATORS:
            commands.append([])
        elif token in REDIRECTIONS:
            skip_next = True
        elif token not in ("(", ")"):
            commands[-1].append(token)
    result = []
    for words in commands:
        while words and ENV_PREFIX.match(words[0]):
            words = words[1:]
        while words and words[-1] in ELLIPSES:
            words = words[:-1]
        result.append(["1" if word in ELLIPSES else word for word in words])
    return [words for words in result if words]


@functools.cache
def trickbench_parser():
    from trickbench.cli import build_parser

    return build_parser()


@functools.cache
def snakemake_parser():
    from snakemake.cli import get_argument_parser

    return get_argument_parser()


def parse_error(parser, argv: list[str]) -> str | None:
    """None if `parser` accepts `argv`; else what it says (argparse prints and exits; some types
    raise)."""
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            parser.parse_args(argv)
    except SystemExit as stop:
        if stop.code not in (0, None):  # --help exits 0
            return err.getvalue().strip().splitlines()[-1] if err.getvalue().strip() else f"exit {stop.code}"
    except Exception as error:  # noqa: BLE001 - a parser's type function, e.g. snakemake's --cores
        return f"{type(error).__name__}: {error}"
    return None


def needs_slurm(words: list[str]) -> bool:
    """Whether these snakemake words use options that only the SLURM executor plugin adds."""
    text = " ".join(words)
    return bool(re.search(r"(--executor|-e)[ =]slurm\b|--slurm-", text))


def command_problems(shown: Shown, slurm_installed: bool) -> list[str]:
    """Why a shown command line does not parse (nothing if every trickbench/snakemake call in it does)."""
    try:
        commands = simple_commands(shown.text)
    except ValueError as error:  # unbalanced quotes
        return [f"{shown.page}: `{shown.text}`: cannot be split as a shell line ({error})"]
    problems = []
    for words in commands:
        if words[0] == "trickbench":
            checks = trickbench_checks(words[1:], slurm_installed)
        elif words[0] in ("python", "python3") and words[1:3] == ["-m", "trickbench"]:
            checks = trickbench_checks(words[3:], slurm_installed)
        elif words[0] == "snakemake":
            checks = snakemake_checks(words[1:], slurm_installed)
        else:
            continue
        for parser, argv in checks:
            error = parse_error(parser, argv)
            names_only = shown.inline and not any(word.startswith("-") for word in argv)
            if error and not (names_only and "required" in error):
                problems.append(f"{shown.page}: `{shown.text}`: {error}")
    return problems


def snakemake_checks(argv: list[str], slurm_installed: bool) -> list[tuple[Any, list[str]]]:
    return [] if needs_slurm(argv) and not slurm_installed else [(snakemake_parser(), argv)]


def trickbench_checks(argv: list[str], slurm_installed: bool) -> list[tuple[Any, list[str]]]:
    """`trickbench resume` hands every word after it to snakemake (as `trickbench.cli.main` cuts
    them): those are checked by snakemake's parser, the rest by trickbench's."""
    if "resume" in argv[:2] and not {"-h", "--help"} & set(argv):
        cut = argv.index("resume") + 1
        return [(trickbench_parser(), argv[:cut]), *snakemake_checks(argv[cut:], slurm_installed)]
    return [(trickbench_parser(), argv)]


def slurm_plugin_installed() -> bool:
    return importlib.util.find_spec("snakemake_executor_plugin_slurm") is not None


# -- the repository's pages -------------------------------------------------------------------------

def test_the_readme_is_a_front_door():
    readme = REPO / "README.md"
    assert readme.stat().st_size <= 15_000, f"README.md is {readme.stat().st_size} bytes; the manual belongs in docs/"
    screenshot = REPO / "docs" / "img" / "report.png"
    assert screenshot.is_file() and screenshot.stat().st_size < 300_000
    assert "docs/img/report.png" in readme.read_text()


@pytest.mark.parametrize("page", pages(REPO), ids=lambda p: str(p.relative_to(REPO)))
def test_every_relative_link_and_anchor_resolves(page):
    assert broken_links(page) == []


def test_every_docs_page_is_reachable_from_the_readme():
    assert unreachable(REPO) == []


@pytest.mark.parametrize("page", pages(REPO), ids=lambda p: str(p.relative_to(REPO)))
def test_every_command_shown_parses(page):
    problems = [p for shown in shown_commands(page) for p in command_problems(shown, slurm_installed=False)]
    assert problems == []


def test_the_slurm_commands_shown_parse():
    pytest.importorskip("snakemake_executor_plugin_slurm", reason="the SLURM commands need the slurm extra")
    shown = [s for page in pages(REPO) for s in shown_commands(page)]
    assert any(needs_slurm(words) for s in shown for words in simple_commands(s.text)), "no SLURM command found"
    assert [p for s in shown for p in command_problems(s, slurm_installed=True)] == []


def test_the_pages_show_commands_of_both_programs():
    """The checks above see the commands at all (a reader that found none would pass)."""
    shown = [s for page in pages(REPO) for s in shown_commands(page)]
    programs = {words[0] for s in shown for words in simple_commands(s.text)}
    assert {"trickbench", "snakemake"} <= programs and len(shown) > 40


# -- the checker itself, on small synthetic pages -----------------------------------------------------

def docs_tree(tmp_path: Path, readme: str, page: str) -> Path:
    (tmp_path / "docs").mkdir()
    (tmp_path / "README.md").write_text(readme)
    (tmp_path / "docs" / "guide.md").write_text(page)
    return tmp_path


GUIDE = """# Guide

## Run it: the `--cores` option, twice!

## Run it: the `--cores` option, twice!

### Ünïcode — and (parentheses)

<a id="custom-target"></a>
"""


def test_slugs_follow_github():
    assert slug("Claims: the lecture's claims, reproduced or not") == "claims-the-lectures-claims-reproduced-or-not"
    assert slug("activation (`activation:` in config.yaml)") == "activation-activation-in-configyaml"
    assert slug("My technique vs the [catalogue](x.md), in one command") == "my-technique-vs-the-catalogue-in-one-command"
    assert anchors(GUIDE) == {"guide", "run-it-the---cores-option-twice", "run-it-the---cores-option-twice-1",
                              "ünïcode--and-parentheses", "custom-target"}


def test_duplicate_headings_get_the_suffixes_github_gives():
    assert heading_anchors("# A\n## A\n### A-1\n## A\n") == ["a", "a-1", "a-1-1", "a-2"]


@given(st.lists(st.text(alphabet=st.sampled_from("aZ-_ 1é:`()"), min_size=1, max_size=6), min_size=1, max_size=8))
def test_every_heading_gets_its_own_anchor(headings):
    text = "\n".join(f"## {heading}" for heading in headings)
    found = heading_anchors(text)
    assert len(found) == len(set(found)) == len(headings)
    assert all(anchor == anchor.lower() and " " not in anchor for anchor in found)


def test_good_links_pass(tmp_path):
    root = docs_tree(tmp_path, "[g](docs/guide.md) [a](docs/guide.md#run-it-the---cores-option-twice-1) "
                               "[web](https://example.org/x#y) [folder](docs/) [top](#front)\n# Front\n", GUIDE)
    (root / "docs" / "guide.md").write_text(GUIDE + "\n[back](../README.md#front) [self](#custom-target)\n")
    assert broken_links(root / "README.md") == [] and broken_links(root / "docs" / "guide.md") == []
    assert unreachable(root) == []


@pytest.mark.parametrize("link, why", [
    ("docs/gide.md", "no such file"),
    ("docs/guide.md#run-it", "no heading with that anchor"),
    ("docs/guide.md#run-it-the---cores-option-twice-2", "no heading with that anchor"),
    ("#nowhere", "no heading with that anchor"),
])
def test_a_broken_link_or_anchor_is_found(tmp_path, link, why):
    root = docs_tree(tmp_path, f"# Front\n\nSee [the guide]({link}).\n", GUIDE)
    problems = broken_links(root / "README.md")
    assert len(problems) == 1 and why in problems[0] and link in problems[0]


def test_links_in_code_are_not_links(tmp_path):
    root = docs_tree(tmp_path, "# Front\n\n`[x](missing.md)`\n\n```md\n[y](missing.md)\n```\n[g](docs/guide.md)\n", GUIDE)
    assert broken_links(root / "README.md") == []


def test_a_page_no_link_reaches_is_found(tmp_path):
    root = docs_tree(tmp_path, "# Front\n", GUIDE)
    assert unreachable(root) == [root / "docs" / "guide.md"]


def test_shell_constructs_are_split_as_a_shell_would():
    assert simple_commands("A=1 B='x y' trickbench plan --ids | head -3 && snakemake -n  # a comment") == [
        ["trickbench", "plan", "--ids"], ["head", "-3"], ["snakemake", "-n"]]
    assert simple_commands("trickbench show <run_id prefix> --json > spec.json; trickbench train --spec ...") == [
        ["trickbench", "show", "1", "--json"], ["trickbench", "train", "--spec"]]
    assert simple_commands("snakemake --config train='{epochs: 20}' studies=lr_search,ensembles") == [
        ["snakemake", "--config", "train={epochs: 20}", "studies=lr_search,ensembles"]]


SHOWN = """# Commands

```bash
python3 -m venv .venv && . .venv/bin/activate && pip install -e . && snakemake --cores 2
TRICKBENCH_X=1 snakemake --cores 2 \\
    --configfile workflow/presets/smoke.yaml   # the whole DAG
trickbench plan --ids | head -3                # ids only
trickbench show <run_id prefix>
```

```yaml
snakemake: --not-a-command
```

Inline: `trickbench train` names a command, `python -m trickbench techniques --markdown` runs one,
`trickbench.stats` is a module, and `snakemake --cores 2 --config
studies=all` spans a line.
"""


def test_commands_that_parse_pass(tmp_path):
    root = docs_tree(tmp_path, SHOWN, GUIDE)
    shown = shown_commands(root / "README.md")
    assert [s.inline for s in shown] == [False] * 4 + [True] * 3
    assert shown[1].text.startswith("TRICKBENCH_X=1 snakemake --cores 2") and "smoke.yaml" in shown[1].text
    assert [p for s in shown for p in command_problems(s, slurm_installed=False)] == []


@pytest.mark.parametrize("line, said", [
    ("snakemake --coers 2", "unrecognized arguments: --coers"),
    ("snakemake --cores two", "--cores"),
    ("trickbench plna", "invalid choice: 'plna'"),
    ("trickbench plan --limt 3", "unrecognized arguments: --limt"),
    ("trickbench plan --limit three", "invalid int value"),
    ("trickbench train --configfile x.yaml", "required"),
    ("python3 -m venv .venv && trickbench techniques --markdwon", "unrecognized arguments: --markdwon"),
    ("trickbench plan --ids | head -3 && snakemake --cores 2 --keep-gonig", "--keep-gonig"),
    ("trickbench resume --cores 2 --keep-gonig", "--keep-gonig"),  # resume's words are snakemake's
    ("trickbench resme --cores 2", "invalid choice: 'resme'"),
])
def test_a_misspelt_command_in_a_code_block_is_found(tmp_path, line, said):
    root = docs_tree(tmp_path, f"# Commands\n\n```bash\n{line}\n```\n", GUIDE)
    (shown,) = shown_commands(root / "README.md")
    problems = command_problems(shown, slurm_installed=False)
    assert len(problems) == 1 and said in problems[0], problems


@pytest.mark.parametrize("code, said", [
    ("trickbench tecniques", "invalid choice"),
    ("trickbench plan --limt 3", "--limt"),
    ("snakemake --dryrun --foo", "--foo"),
])
def test_a_misspelt_command_in_inline_code_is_found(tmp_path, code, said):
    root = docs_tree(tmp_path, f"# Commands\n\nRun `{code}` first.\n", GUIDE)
    (shown,) = shown_commands(root / "README.md")
    problems = command_problems(shown, slurm_installed=False)
    assert len(problems) == 1 and said in problems[0], problems


def test_unbalanced_quotes_are_a_problem(tmp_path):
    root = docs_tree(tmp_path, "# Commands\n\n```bash\nsnakemake --config train='{epochs: 2}\n```\n", GUIDE)
    (shown,) = shown_commands(root / "README.md")
    assert "cannot be split" in command_problems(shown, slurm_installed=False)[0]
