#!/usr/bin/env python3
"""Checks README.md and the book under docs/src/ (Python 3.11, standard library only).

1. Links: every relative link in README.md and docs/src/**/*.md resolves to an existing file or
   directory, and a link with a #anchor into a Markdown file (or an anchor alone, into the same
   file) names a heading there, by GitHub's and mdBook's slug rules: lower case, spaces to '-',
   punctuation other than '-' and '_' dropped, a repeated heading suffixed -1, -2, ...
   http(s):, mailto: and other URLs with a scheme are not checked; neither is anything in code.
2. Flags: every long flag (--something) that `medallion <command> --help` defines, for every
   command `medallion --help` lists, appears in docs/src/configuration.md: in the section of
   that command (a heading naming `medallion <command>`), or anywhere in the file for the
   options of every command (those `medallion --help` itself defines, e.g. --log-format).

    python3 scripts/check-docs.py [--bin PATH]

The binary: --bin PATH, else $CARGO_TARGET_DIR/release/medallion when CARGO_TARGET_DIR is set,
else target/release/medallion (relative paths from the repository root). Exit status 0 when
everything resolves, 1 with every problem listed (file:line for links, command and flag for
flags), 2 when the binary cannot be run.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import unicodedata
from pathlib import Path
from urllib.parse import unquote

ROOT = Path(__file__).resolve().parent.parent
CONFIG = Path("docs/src/configuration.md")

# [text](target "title"), ![alt](target); the target may be <wrapped>. Nested brackets in the
# text (one level) are allowed: [`a` [b]](c).
INLINE_LINK = re.compile(
    r"!?\[(?:[^\[\]]|\[[^\[\]]*\])*\]\(\s*(<[^>]*>|[^\s()]*(?:\([^\s()]*\)[^\s()]*)*)"
    r"(?:\s+(?:\"[^\"]*\"|'[^']*'|\([^)]*\)))?\s*\)"
)
REFERENCE_DEF = re.compile(r"^ {0,3}\[[^\]]+\]:\s*(<[^>]*>|\S+)")
HTML_LINK = re.compile(r"<(?:a|img)\b[^>]*?\b(?:href|src)\s*=\s*[\"']([^\"']*)[\"']", re.I)
HTML_ID = re.compile(r"<[a-z]+\b[^>]*?\b(?:id|name)\s*=\s*[\"']([^\"']*)[\"']", re.I)
SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")
FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
HEADING = re.compile(r"^ {0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
SETEXT = re.compile(r"^ {0,3}(=+|-+)\s*$")
LIST_ITEM = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s")
CUSTOM_ID = re.compile(r"\s*\{#([^}\s]+)[^}]*\}\s*$")
LONG_FLAG = re.compile(r"(?<![\w-])(--[a-zA-Z0-9][a-zA-Z0-9-]*)")
OPTION_LINE = re.compile(r"^\s{1,8}(?:-[a-zA-Z0-9],\s+)?(--[a-zA-Z0-9][a-zA-Z0-9-]*)")
COMMAND_LINE = re.compile(r"^\s{1,8}([a-z][a-z0-9-]*)\s{2,}\S")


def strip_inline_code(line: str) -> str:
    """The line without its code spans (`...`, ``...``), which hold no links."""
    out, i = [], 0
    while i < len(line):
        if line[i] == "`":
            j = i
            while j < len(line) and line[j] == "`":
                j += 1
            ticks = line[i:j]
            end = line.find(ticks, j)
            if end == -1:
                out.append(line[i:j])
                i = j
                continue
            out.append(" " * (end + len(ticks) - i))
            i = end + len(ticks)
        else:
            out.append(line[i])
            i += 1
    return "".join(out)


def prose_lines(text: str):
    """(line number, line) for the lines outside fenced and indented code blocks."""
    fence = None
    prev_blank, in_indented, in_list = True, False, False
    for number, line in enumerate(text.splitlines(), 1):
        if fence:
            if re.match(r"^ {0,3}" + re.escape(fence[0]) + "{" + str(len(fence)) + r",}\s*$", line):
                fence = None
            prev_blank = False
            continue
        m = FENCE.match(line)
        if m:
            fence = m.group(1)
            continue
        blank = not line.strip()
        indented = line.startswith("    ") or line.startswith("\t")
        if indented and not blank and (in_indented or (prev_blank and not in_list)):
            in_indented = True
            prev_blank = False
            continue
        if not blank:
            in_indented = False
            if not indented:
                in_list = bool(LIST_ITEM.match(line))
        prev_blank = blank
        yield number, line


def slug(text: str) -> str:
    """A heading's anchor by GitHub's and mdBook's rules."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", text)  # links and images: their text
    text = re.sub(r"<[^>]+>", "", text)  # inline HTML tags
    out = []
    for ch in text.strip().lower():
        if ch in "-_" or unicodedata.category(ch)[0] in "LN":
            out.append(ch)
        elif ch == " ":
            out.append("-")
    return "".join(out)


_anchor_cache: dict[Path, set[str]] = {}


def anchors(path: Path) -> set[str]:
    """The anchors a Markdown file defines: its headings' slugs and explicit ids."""
    if path in _anchor_cache:
        return _anchor_cache[path]
    found: set[str] = set()
    counts: dict[str, int] = {}

    def add(heading: str) -> None:
        custom = CUSTOM_ID.search(heading)
        if custom:
            found.add(custom.group(1))
            heading = heading[: custom.start()]
        base = slug(heading)
        n = counts.get(base, 0)
        counts[base] = n + 1
        found.add(base if n == 0 else f"{base}-{n}")

    previous = ""
    for _, line in prose_lines(path.read_text(encoding="utf-8")):
        m = HEADING.match(line)
        if m:
            add(m.group(2))
        elif SETEXT.match(line) and previous.strip() and not LIST_ITEM.match(previous):
            if not (line.strip().startswith("-") and "|" in previous):
                add(previous.strip())
        for html_id in HTML_ID.findall(line):
            found.add(html_id)
        previous = line
    _anchor_cache[path] = found
    return found


def link_targets(line: str):
    code_free = strip_inline_code(line)
    for m in INLINE_LINK.finditer(code_free):
        yield m.group(1)
    m = REFERENCE_DEF.match(code_free)
    if m:
        yield m.group(1)
    for target in HTML_LINK.findall(code_free):
        yield target


def check_links(files: list[Path]) -> list[str]:
    problems = []
    for path in files:
        rel = path.relative_to(ROOT)
        for number, line in prose_lines(path.read_text(encoding="utf-8")):
            for target in link_targets(line):
                target = target.strip("<>")
                if not target or SCHEME.match(target) or target.startswith("//"):
                    continue
                file_part, _, anchor = target.partition("#")
                file_part = unquote(file_part.split("?", 1)[0])
                if file_part:
                    dest = (ROOT / file_part.lstrip("/")) if file_part.startswith("/") else (path.parent / file_part)
                    dest = dest.resolve()
                    if not dest.exists():
                        problems.append(f"{rel}:{number}: link to a missing file: {target}")
                        continue
                else:
                    dest = path
                if anchor and dest.is_file() and dest.suffix.lower() in (".md", ".markdown"):
                    if unquote(anchor).lower() not in {a.lower() for a in anchors(dest)}:
                        problems.append(
                            f"{rel}:{number}: no heading '#{anchor}' in {dest.relative_to(ROOT) if dest.is_relative_to(ROOT) else dest}: {target}"
                        )
    return problems


def help_text(binary: Path, args: list[str]) -> str:
    result = subprocess.run(
        [str(binary), *args, "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "NO_COLOR": "1", "TERM": "dumb", "COLUMNS": "200"},
    )
    if result.returncode != 0:
        raise RuntimeError(f"`{binary} {' '.join(args)} --help` exited {result.returncode}: {result.stderr.strip()}")
    return result.stdout


def sections(text: str) -> list[tuple[str, list[str]]]:
    """Each heading of the file with the lines under it up to the next heading of its level or above."""
    lines = text.splitlines()
    heads = []
    fence = None
    for i, line in enumerate(lines):
        m = FENCE.match(line)
        if m:
            fence = None if fence else m.group(1)
            continue
        if fence:
            continue
        h = HEADING.match(line)
        if h:
            heads.append((i, len(h.group(1)), h.group(2)))
    out = []
    for k, (i, level, title) in enumerate(heads):
        end = len(lines)
        for j, other_level, _ in heads[k + 1 :]:
            if other_level <= level:
                end = j
                break
        out.append((title, lines[i:end]))
    return out


def parse_help(text: str) -> tuple[set[str], list[str]]:
    """The long flags a help text defines and the commands it lists (`help` left out)."""
    flags, commands = set(), []
    part = None
    for line in text.splitlines():
        if re.match(r"^\S.*:\s*$", line):
            part = line.strip().rstrip(":").lower()
            continue
        if part == "options":
            m = OPTION_LINE.match(line)
            if m:
                flags.add(m.group(1))
        elif part == "commands":
            m = COMMAND_LINE.match(line)
            if m and m.group(1) != "help":
                commands.append(m.group(1))
    return flags, commands


def check_flags(binary: Path) -> list[str]:
    config_path = ROOT / CONFIG
    if not config_path.exists():
        return [f"{CONFIG}: missing"]
    config = config_path.read_text(encoding="utf-8")
    documented = set(LONG_FLAG.findall(config))
    by_section = [(title, set(LONG_FLAG.findall("\n".join(body)))) for title, body in sections(config)]

    top_flags, commands = parse_help(help_text(binary, []))
    problems = [f"medallion: {flag} is not in {CONFIG}" for flag in sorted(top_flags - documented)]
    if not commands:
        problems.append("medallion --help lists no commands")

    def visit(path: list[str]) -> None:
        flags, subcommands = parse_help(help_text(binary, path))
        name = "medallion " + " ".join(path)
        title_re = re.compile(r"(?<![\w-])" + re.escape(name) + r"(?![\w-])")
        in_section = set()
        found_section = False
        for title, section_flags in by_section:
            if title_re.search(title.replace("`", "")):
                found_section = True
                in_section |= section_flags
        if not found_section:
            problems.append(f"{name}: no section (a heading naming `{name}`) in {CONFIG}")
        for flag in sorted(flags):
            if flag in in_section:
                continue
            if flag in top_flags and flag in documented:
                continue  # an option of every command, documented once
            where = "its section of " if found_section else ""
            problems.append(f"{name}: {flag} is not in {where}{CONFIG}")
        for sub in subcommands:
            visit(path + [sub])

    for command in commands:
        visit([command])
    return problems


def default_binary() -> Path:
    """$CARGO_TARGET_DIR/release/medallion (relative to the current directory, as cargo reads
    it) when the variable is set, else the repository's target/release/medallion."""
    target = os.environ.get("CARGO_TARGET_DIR")
    if target:
        return (Path.cwd() / target / "release" / "medallion").resolve()
    return ROOT / "target" / "release" / "medallion"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bin", type=Path, help="the medallion binary (default: $CARGO_TARGET_DIR/release/medallion or target/release/medallion)")
    args = parser.parse_args()
    binary = args.bin.resolve() if args.bin else default_binary()

    files = [ROOT / "README.md", *sorted((ROOT / "docs" / "src").rglob("*.md"))]
    files = [f for f in files if f.exists()]
    problems = check_links(files)
    try:
        problems += check_flags(binary)
    except (OSError, RuntimeError, subprocess.TimeoutExpired) as e:
        print(f"check-docs: cannot run the binary {binary}: {e}", file=sys.stderr)
        print("check-docs: build it (cargo build --release) or pass --bin PATH", file=sys.stderr)
        for p in problems:
            print(p, file=sys.stderr)
        return 2
    for p in problems:
        print(p, file=sys.stderr)
    if problems:
        print(f"check-docs: {len(problems)} problem(s)", file=sys.stderr)
        return 1
    print(f"check-docs: {len(files)} Markdown files, links and flags of {binary.name} all resolve")
    return 0


if __name__ == "__main__":
    sys.exit(main())
