"""The docs do not rot: every relative link resolves, and every `streamscope <cmd> --flag` they show exists.

Links: every ``[text](target)`` in ``docs/*.md``, ``README.md`` and ``examples/README.md`` (outside code) that is
not a URL must name an existing file, and a ``#fragment`` must name a heading of the target (GitHub's slugs).
Commands: every ``streamscope <cmd> ...`` in shell code (``bash``/``console``/untyped fenced blocks, and inline code
that starts with it) names a command of the real CLI
and only flags that command has (``streamscope <cmd> --help``); an unknown command fails.
"""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from streamscope.cli import main

ROOT = Path(__file__).resolve().parent.parent
PAGES = [*sorted((ROOT / "docs").glob("*.md")), ROOT / "README.md", ROOT / "examples" / "README.md"]
SHELL_BLOCKS = {"", "bash", "sh", "shell", "console", "zsh"}

_FENCE = re.compile(r"^(```|~~~).*?^\1[^\n]*$", re.MULTILINE | re.DOTALL)
_INLINE = re.compile(r"(`+)(.+?)\1", re.DOTALL)
_LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
_HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.MULTILINE)
_COMMAND = re.compile(r"(?<![\w./-])streamscope\s+([a-z][a-z0-9-]*)([^\n]*)")
_FLAG = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]*")


def _rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


def _prose(text: str) -> str:
    """The text outside fenced blocks and inline code (where a link is a link)."""
    return _INLINE.sub(" ", _FENCE.sub("", text))


def _command_lines(text: str) -> list[str]:
    """Code where a command line can stand: the lines of shell and untyped fenced blocks, and inline code that
    starts with ``streamscope `` (log messages such as "streamscope dropped ..." go in ``text`` blocks)."""
    lines: list[str] = []
    for block in _FENCE.finditer(text):
        head, *body = block.group(0).splitlines()
        if head.strip("`~ ").lower() not in SHELL_BLOCKS:
            continue
        joined: list[str] = []
        for line in body[:-1]:
            # a command continued on the next line: after a backslash, or an indented [--option ...] line
            if joined and (joined[-1].endswith("\\") or re.match(r"\s+[\[-]", line)):
                joined[-1] = joined[-1].rstrip("\\") + " " + line.strip()
            else:
                joined.append(line)
        lines.extend(joined)
    for span in _INLINE.finditer(_FENCE.sub("", text)):
        if span.group(2).startswith("streamscope "):
            lines.append(span.group(2))
    return lines


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lowercase, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link in a heading keeps its text
    text = text.strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    seen: dict[str, int] = {}
    out: set[str] = set()
    for match in _HEADING.finditer(_FENCE.sub("", path.read_text())):
        base = slug(match.group(1))
        n = seen.get(base, 0)
        seen[base] = n + 1
        out.add(base if n == 0 else f"{base}-{n}")
    return out


def links() -> list[tuple[Path, str]]:
    found: list[tuple[Path, str]] = []
    for page in PAGES:
        for target in _LINK.findall(_prose(page.read_text())):
            if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto:
                continue
            found.append((page, target))
    return found


def test_the_pages_have_links_to_check() -> None:
    """The link finder works (a parser that finds nothing would make the next test pass vacuously)."""
    found = {(_rel(p), t) for p, t in links()}
    assert ("docs/quickstart.md", "sdk.md") in found
    assert ("docs/privacy.md", "collector.md#retention") in found


@pytest.mark.parametrize("page", PAGES, ids=_rel)
def test_relative_links_resolve(page: Path) -> None:
    """Every relative link of the page names an existing file, and its #fragment a heading there."""
    broken = []
    for source, target in links():
        if source != page:
            continue
        path, _, fragment = target.partition("#")
        dest = (page.parent / path).resolve() if path else page
        if not dest.exists():
            broken.append(f"{target}: no such file")
        elif fragment and dest.suffix == ".md" and fragment not in anchors(dest):
            broken.append(f"{target}: no heading #{fragment} in {_rel(dest)}")
    assert not broken, f"{_rel(page)} has broken links:\n" + "\n".join(broken)


def mentions() -> dict[str, list[tuple[str, str]]]:
    """``{command: [(where, flag), ...]}`` for every ``streamscope <command> ...`` shown in code."""
    found: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for page in PAGES:
        for line in _command_lines(page.read_text()):
            for part in re.split(r"&&|\|\||;|\|(?!\s*$)", line):
                for match in _COMMAND.finditer(part):
                    command, rest = match.group(1), match.group(2).split(" #")[0]
                    found[command].append((_rel(page), ""))
                    found[command].extend((_rel(page), flag) for flag in _FLAG.findall(rest))
    return found


MENTIONS = mentions()


def test_the_docs_show_commands() -> None:
    """The command finder works: the docs show the collector and the fake LLM server with their flags."""
    assert ("docs/collector.md", "--retention") in MENTIONS["collector"]
    assert ("docs/fake-llm.md", "--scenarios") in MENTIONS["fake-llm"]


def _help(command: str) -> str:
    result = CliRunner().invoke(main, [command, "--help"])
    assert result.exit_code == 0, result.output
    return result.output


@pytest.mark.parametrize("command", sorted(MENTIONS))
def test_commands_and_flags_in_the_docs_exist(command: str) -> None:
    """``streamscope <command>`` exists and has every flag the docs show with it."""
    where = sorted({page for page, _ in MENTIONS[command]})
    flags = sorted({flag for _, flag in MENTIONS[command] if flag})
    cli = main.get_command(click.Context(main), command)
    if cli is None:
        pytest.fail(f"the docs show `streamscope {command}` ({', '.join(where)}), which is not a command")
    known = {"--help"} | {opt for p in cli.params for opt in (*p.opts, *p.secondary_opts)}
    unknown = [
        f"{flag} ({', '.join(sorted({w for w, f in MENTIONS[command] if f == flag}))})"
        for flag in flags
        if flag not in known
    ]
    assert not unknown, f"`streamscope {command}` has no " + ", ".join(unknown)
    text = _help(command)
    assert all(flag in text for flag in flags if flag != "--help"), text
