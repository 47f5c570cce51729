"""Checks on a rendered certificate's text (poppler's pdftotext) and page images
(pdftoppm): no word, number or identifier is broken across two lines."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterable
from pathlib import Path
from typing import Any

_TOKEN = re.compile(r"[A-Za-z0-9][A-Za-z0-9().,:/_%+\-·µ³²]*[A-Za-z0-9)%³²]")


def pdf_text(pdf: Path, first: int | None = None, last: int | None = None) -> str:
    """The text of ``pdf`` as pdftotext reads it (reading order, one line per text line)."""
    cmd = ["pdftotext", "-enc", "UTF-8"]
    if first is not None:
        cmd += ["-f", str(first)]
    if last is not None:
        cmd += ["-l", str(last)]
    out = subprocess.run([*cmd, str(pdf), "-"], check=True, capture_output=True, timeout=60)
    return out.stdout.decode("utf-8")


def to_png(pdf: Path, stem: Path, dpi: int, first: int = 1, last: int = 1) -> list[Path]:
    """Pages ``first``..``last`` as PNG files ``<stem>-<n>.png``."""
    subprocess.run(
        [
            "pdftoppm",
            "-r",
            str(dpi),
            "-f",
            str(first),
            "-l",
            str(last),
            "-png",
            str(pdf),
            str(stem),
        ],
        check=True,
        timeout=60,
    )
    return sorted(stem.parent.glob(f"{stem.name}-*.png"))


def tokens(texts: Iterable[str]) -> set[str]:
    """The words, numbers and identifiers (Latin letters and digits) of ``texts``."""
    found: set[str] = set()
    for text in texts:
        for word in text.split():
            found.update(m.group(0) for m in _TOKEN.finditer(word) if len(m.group(0)) >= 3)
    return found


def strings_of(record: Any) -> list[str]:
    """Every string of a (content-record) structure."""
    if isinstance(record, str):
        return [record]
    if isinstance(record, dict):
        return [s for v in record.values() for s in strings_of(v)]
    if isinstance(record, list | tuple):
        return [s for v in record for s in strings_of(v)]
    return []


def split_tokens(text: str, expected: Iterable[str]) -> list[str]:
    """The expected tokens that ``text`` shows broken across two lines ("Certifica|te")."""
    lines = [ln.strip() for ln in text.splitlines()]
    joined = "\n".join(lines)
    broken = []
    for token in expected:
        for i in range(1, len(token)):
            head, tail = token[:i], token[i:]
            if f"{head}\n{tail}" in joined:
                # a real break leaves the head at a line's end and the tail at the next start
                broken.append(f"{head}|{tail}")
                break
    return broken


def _words(pdf: Path) -> list[tuple[int, float, float, float, str]]:
    """Every word of ``pdf`` with its page, xMin, xMax and yMin (pdftotext -bbox)."""
    import xml.etree.ElementTree as ET

    out = subprocess.run(
        ["pdftotext", "-bbox", "-enc", "UTF-8", str(pdf), "-"],
        check=True,
        capture_output=True,
        timeout=60,
    )
    root = ET.fromstring(out.stdout)
    words = []
    for page_no, page in enumerate(root.iter("{http://www.w3.org/1999/xhtml}page")):
        for w in page.iter("{http://www.w3.org/1999/xhtml}word"):
            words.append(
                (
                    page_no,
                    float(w.get("xMin", 0)),
                    float(w.get("xMax", 0)),
                    float(w.get("yMin", 0)),
                    w.text or "",
                )
            )
    return words


def split_words(pdf: Path, expected: Iterable[str]) -> list[str]:
    """Expected tokens drawn as two pieces: the head ending one line of a cell and the
    tail starting the next line of the same cell (below it, at the cell's left edge)."""
    wanted = set(expected)
    words = _words(pdf)
    found = []
    for page, x1, _x2, y, head in words:
        for page2, bx1, _bx2, by, tail in words:
            if page2 != page or not (2 < by - y < 16) or not (x1 - 140 <= bx1 <= x1):
                continue
            whole = head + tail
            if whole in wanted and head not in wanted and tail not in wanted:
                found.append(f"{head}|{tail} (page {page + 1})")
    return found
