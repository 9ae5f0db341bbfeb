"""The documentation holds together: README.md links every page of docs/, every relative link of the
README and the pages reaches a file (and a heading, for ``#anchor``), and the ``exectrail`` examples
use commands and options the command line has."""

from __future__ import annotations

import re
import shlex
from collections import Counter
from pathlib import Path

import click
import pytest

from exectrail.cli.main import cli
from tests.support.paths import DOCS, README, REPO

PAGES = sorted(DOCS.rglob("*.md"))
FENCE = re.compile(r"^ *```.*?^ *```[^\n]*$", re.MULTILINE | re.DOTALL)
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
#: shell words that end one command of a line, and redirections (with their target)
SEPARATORS = {"&&", "||", ";", "|"}
REDIRECT = re.compile(r"\d*(>>?|<)&?")


def prose(text: str) -> str:
    """The text outside fenced code blocks and inline code spans."""
    return re.sub(r"`[^`\n]*`", "", FENCE.sub("", text))


def anchors(page: Path) -> set[str]:
    """GitHub's heading anchors: lowercase, punctuation dropped but ``-`` and ``_``, spaces to ``-``;
    a repeated one gets ``-1``, ``-2``…"""
    seen: Counter[str] = Counter()
    found = set()
    for heading in re.findall(r"^#{1,6} +(.*?) *#* *$", FENCE.sub("", page.read_text()), re.MULTILINE):
        slug = "".join(c for c in heading.lower() if c.isalnum() or c in "-_ ").replace(" ", "-")
        found.add(f"{slug}-{seen[slug]}" if seen[slug] else slug)
        seen[slug] += 1
    return found


def relative_links(page: Path) -> list[tuple[Path, str]]:
    """Each link of ``page`` that is not a URL: the file it names (``page`` itself for ``#anchor``)
    and its anchor ('' for none)."""
    links = []
    for target in LINK.findall(prose(page.read_text())):
        if re.match(r"[a-z][a-z0-9+.-]*:", target):
            continue
        path, _, anchor = target.partition("#")
        links.append(((page.parent / path).resolve() if path else page, anchor))
    return links


def test_there_are_pages() -> None:
    assert README.is_file() and len(PAGES) >= 5


@pytest.mark.parametrize("page", [README, *PAGES], ids=lambda p: str(p.relative_to(REPO)))
def test_every_relative_link_resolves(page: Path) -> None:
    broken = []
    for target, anchor in relative_links(page):
        if not target.exists():
            broken.append(f"{target.relative_to(REPO)}: no such file")
        elif anchor and (target.suffix != ".md" or anchor not in anchors(target)):
            broken.append(f"{target.relative_to(REPO)}#{anchor}: no such heading")
    assert not broken, f"{page.relative_to(REPO)}: " + "; ".join(broken)


def test_the_readme_links_every_page() -> None:
    linked = {target for target, _ in relative_links(README)}
    unlinked = [str(page.relative_to(REPO)) for page in PAGES if page.resolve() not in linked]
    assert not unlinked, f"README.md links none of {unlinked}"


def commands_of(page: Path) -> list[list[str]]:
    """The ``exectrail …`` commands of the ```sh blocks of ``page`` and its ``$ `` lines in other blocks,
    as argument lists (comments, redirections and the other commands of a line left out)."""
    commands = []
    for language, block in re.findall(r"```(\w*)\n(.*?)```", page.read_text(), re.DOTALL):
        lines = block.splitlines()
        for line in lines if language == "sh" else [line[2:] for line in lines if line.startswith("$ ")]:
            command: list[str] = []
            skip = False
            for word in [*shlex.split(line, comments=True), ";"]:
                if skip:
                    skip = False
                elif word in SEPARATORS:
                    if command[:1] == ["exectrail"]:
                        commands.append(command[1:])
                    command = []
                elif REDIRECT.match(word):
                    skip = REDIRECT.fullmatch(word) is not None  # the target is the next word
                else:
                    command.append(word)
    return commands


def test_the_readme_shows_the_five_jobs() -> None:
    assert {args[0] for args in commands_of(README)} >= {"review", "watch", "import", "tree", "alarms"}


@pytest.mark.parametrize("page", [README, *PAGES], ids=lambda p: str(p.relative_to(REPO)))
def test_the_examples_parse(page: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each ``exectrail`` example names a command and options that exist, with values they accept
    (parsed by click as the command line would, without running anything)."""
    # no configuration file is read: neither this host's nor one an example names (--config '': none)
    monkeypatch.setenv("EXECTRAIL_CONFIG", "")
    for args in commands_of(page):
        command: click.Command = cli
        context = click.Context(cli, info_name="exectrail")
        previous = ["", *args[:-1]]
        words = ["" if before == "--config" else word for before, word in zip(previous, args, strict=True)]
        while isinstance(command, click.Group):
            name = words.pop(0)
            if name.startswith("-") and not words:  # an option of the group alone: --version, --help
                assert any(name in param.opts for param in command.params), f"exectrail {' '.join(args)}"
                break
            found = command.get_command(context, name)
            assert found is not None, f"exectrail {' '.join(args)}: no command {name!r}"
            command = found
            if isinstance(command, click.Group):
                context = click.Context(command, info_name=name, parent=context)
        if isinstance(command, click.Group):
            continue
        try:
            command.make_context(name, words, parent=context).close()
        except click.ClickException as error:
            pytest.fail(f"exectrail {' '.join(args)}: {error.format_message()}")
