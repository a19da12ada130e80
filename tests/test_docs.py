"""The README and docs/: every relative link and anchor resolves, and the README stays short."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Dict, Iterable, List, Set
from urllib.parse import unquote

import pytest

from tests.conftest import REPO

README_MAX_LINES = 250

FENCE = re.compile(r"^\s*(```|~~~)")
HEADING = re.compile(r"^ {0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
INLINE_CODE = re.compile(r"(`+)(.+?)\1")
# [text](target) and ![alt](target); the target may be <...> and may carry a "title"
LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\[\]]*\])*\]\(\s*(<[^>]*>|[^)\s]*)(?:\s+\"[^\"]*\")?\s*\)")
HTML_LINK = re.compile(r"<(?:a|img)\b[^>]*?\b(?:href|src)=\"([^\"]*)\"", re.IGNORECASE)
HTML_ANCHOR = re.compile(r"<a\b[^>]*?\b(?:id|name)=\"([^\"]*)\"", re.IGNORECASE)
EXTERNAL = re.compile(r"^[a-z][a-z0-9+.-]*:", re.IGNORECASE)  # http:, https:, mailto:, ...


def _prose_lines(text: str) -> Iterable[str]:
    """The lines outside fenced code blocks."""
    fenced = None
    for line in text.splitlines():
        match = FENCE.match(line)
        if match:
            if fenced is None:
                fenced = match.group(1)
            elif match.group(1) == fenced:
                fenced = None
            continue
        if fenced is None:
            yield line


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: the text as rendered, lowercase, punctuation dropped except hyphens
    (and underscores), each space a hyphen."""
    text = INLINE_CODE.sub(lambda m: m.group(2), heading)
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", text)  # links and images: their text
    text = re.sub(r"<[^>]+>", "", text)  # inline HTML
    text = re.sub(r"[*~]", "", text)
    text = text.strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path: Path) -> Set[str]:
    """Every anchor a page defines: its headings' slugs (duplicates numbered -1, -2, ...) and HTML ids."""
    seen: Dict[str, int] = {}
    found: Set[str] = set()
    for line in _prose_lines(path.read_text(encoding="utf-8")):
        match = HEADING.match(line)
        if match:
            base = slug(match.group(2))
            count = seen.get(base, 0)
            seen[base] = count + 1
            found.add(base if count == 0 else f"{base}-{count}")
        found.update(HTML_ANCHOR.findall(line))
    return found


def links(path: Path) -> List[str]:
    """The link targets of a page, outside code blocks and code spans."""
    targets = []
    for line in _prose_lines(path.read_text(encoding="utf-8")):
        line = INLINE_CODE.sub("", line)
        for target in LINK.findall(line) + HTML_LINK.findall(line):
            targets.append(target[1:-1] if target.startswith("<") else target)
    return targets


def broken_links(path: Path) -> List[str]:
    """``path: target (why)`` for each relative link or anchor of a page that does not resolve."""
    problems = []
    for target in links(path):
        if not target or EXTERNAL.match(target):
            continue
        file_part, _, anchor = target.partition("#")
        resolved = (path.parent / unquote(file_part)).resolve() if file_part else path
        if not resolved.exists():
            problems.append(f"{path}: {target} (no such file or folder)")
            continue
        if anchor:
            if resolved.is_dir() or resolved.suffix.lower() != ".md":
                problems.append(f"{path}: {target} (an anchor into something that is not a Markdown page)")
            elif unquote(anchor).lower() not in anchors(resolved):
                problems.append(f"{path}: {target} (no heading or anchor '{anchor}' there)")
    return problems


def pages() -> List[Path]:
    return [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md"))]


@pytest.mark.parametrize("page", pages(), ids=lambda p: str(p.relative_to(REPO)))
def test_links_and_anchors_resolve(page: Path) -> None:
    assert broken_links(page) == []


def test_readme_is_short() -> None:
    lines = (REPO / "README.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) <= README_MAX_LINES, f"README.md has {len(lines)} lines (at most {README_MAX_LINES})"


def test_slugs_follow_github() -> None:
    assert slug("Evaluation: `eval.py`") == "evaluation-evalpy"
    assert slug("J&F metrics") == "jf-metrics"
    assert slug("Training and fine-tuning: `train.py`") == "training-and-fine-tuning-trainpy"
    assert slug("`synthetic_long`") == "synthetic_long"
    assert slug("Coming from stcnbuf 0.2.x") == "coming-from-stcnbuf-02x"
    assert slug("STCN's data and objective") == "stcns-data-and-objective"
    assert slug("10,000 frames") == "10000-frames"
    assert slug("A [link](x.md) in a heading") == "a-link-in-a-heading"


def test_checker_reports_broken_links(tmp_path: Path) -> None:
    (tmp_path / "other.md").write_text("# Other page\n\n## Part two\n", encoding="utf-8")
    (tmp_path / "pictures").mkdir()
    (tmp_path / "pictures" / "a.png").write_bytes(b"")
    page = tmp_path / "page.md"
    page.write_text("\n".join([
        "# Title",
        "## Same",
        "## Same",
        "Good: [self](#title), [dup](#same-1), [other](other.md#part-two), [folder](pictures),",
        "![img](pictures/a.png), [web](https://example.com/missing), [other page](other.md).",
        "Bad: [gone](missing.md), ![gone image](pictures/b.png), [no anchor](#nowhere),",
        "[no anchor there](other.md#part-three), [third dup](#same-2), [anchor in picture](pictures/a.png#x).",
        "`[in code](ignored.md)`",
        "```",
        "[in a fenced block](ignored-too.md)",
        "```",
    ]) + "\n", encoding="utf-8")
    problems = broken_links(page)
    reported = [problem.split(": ", 1)[1].split(" (")[0] for problem in problems]
    assert reported == ["missing.md", "pictures/b.png", "#nowhere", "other.md#part-three", "#same-2",
                        "pictures/a.png#x"], problems
