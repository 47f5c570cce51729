"""Line breaking for certificate text: at spaces and between Chinese characters, never
inside a word, a number with its unit or an identifier.

reportlab's CJK wrapping breaks anywhere ("Certifica|te No.", "GBW(E)061|050"); its
Latin wrapping cannot break Chinese at all. :func:`break_lines` does both the way a
bilingual certificate needs: a run of Chinese characters may break between any two of
them, except before closing punctuation (``：``, ``，``, ``）`` ... never start a line) and
after opening punctuation; a run of other characters is one unbreakable word. When a
word is wider than the column, :class:`WrappedText` shrinks the cell's font until it
fits (down to :data:`MIN_FONT_SIZE`); only a word wider still is cut, at ``-``, ``/``,
``_`` or ``.`` where it has one.
"""

from __future__ import annotations

import re
from typing import Any
from xml.sax.saxutils import escape

from reportlab.lib.styles import ParagraphStyle
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.platypus import Flowable, Paragraph

__all__ = ["MIN_FONT_SIZE", "WrappedText", "break_lines", "is_cjk", "words_of"]

MIN_FONT_SIZE = 5.5
"""The smallest font size a cell shrinks to before a word is cut."""

NO_START = set("，。、：；！？）】》」』’”〉％·:;,.!?)]}%")
"""Characters that never start a line (they stay with what precedes them)."""
NO_END = set("（【《「『‘“〈([{")
"""Characters that never end a line (they stay with what follows them)."""
_SOFT = re.compile(r"(?<=[-/_.])")


def is_cjk(ch: str) -> bool:
    """A Chinese/Japanese character or full-width punctuation (a break may fall beside it)."""
    o = ord(ch)
    return (
        0x2E80 <= o <= 0x9FFF
        or 0xF900 <= o <= 0xFAFF
        or 0xFE30 <= o <= 0xFE4F
        or 0xFF00 <= o <= 0xFFEF
        or 0x3000 <= o <= 0x303F
    )


def words_of(line: str) -> list[tuple[str, bool]]:
    """The unbreakable atoms of one line, each with whether a space precedes it."""
    atoms: list[tuple[str, bool]] = []
    space = False
    buf = ""
    glue_next = False

    def flush() -> None:
        nonlocal buf, space
        if buf:
            atoms.append((buf, space))
            buf, space = "", False

    for ch in line:
        if ch.isspace():
            flush()
            space = bool(atoms)
            glue_next = False
            continue
        if ch in NO_START and (buf or atoms) and not space:
            if buf:
                buf += ch
            else:
                text, sp = atoms.pop()
                atoms.append((text + ch, sp))
            continue
        if is_cjk(ch):
            if not glue_next:
                flush()
            buf += ch
            glue_next = ch in NO_END
            if not glue_next:
                flush()
            continue
        if buf and is_cjk(buf[-1]) and not glue_next:
            flush()
        buf += ch
        glue_next = ch in NO_END
    flush()
    return atoms


def _width(text: str, font: str, size: float) -> float:
    return float(stringWidth(text, font, size))


def _cut(word: str, font: str, size: float, width: float) -> list[str]:
    """A word too wide for any line: cut after ``-/_.`` where possible, else anywhere."""
    pieces: list[str] = []
    current = ""
    for part in _SOFT.split(word):
        if not part:
            continue
        if _width(current + part, font, size) <= width:
            current += part
            continue
        if current:
            pieces.append(current)
        current = ""
        for ch in part:
            if current and _width(current + ch, font, size) > width:
                pieces.append(current)
                current = ""
            current += ch
    if current:
        pieces.append(current)
    return pieces


def break_lines(text: str, font: str, size: float, width: float) -> list[str]:
    """``text`` broken into lines no wider than ``width`` points (explicit newlines kept)."""
    lines: list[str] = []
    space_w = _width(" ", font, size)
    for raw in text.split("\n"):
        current, used = "", 0.0
        for word, spaced in words_of(raw):
            w = _width(word, font, size)
            gap = space_w if spaced and current else 0.0
            if current and used + gap + w <= width:
                current += (" " if gap else "") + word
                used += gap + w
                continue
            if current:
                lines.append(current)
            if w <= width:
                current, used = word, w
                continue
            *full, current = _cut(word, font, size, width)
            lines.extend(full)
            used = _width(current, font, size)
        lines.append(current)
    return lines


def fitting_size(text: str, font: str, size: float, width: float) -> float:
    """The largest size ≤ ``size`` (in 0.25 pt steps, ≥ MIN_FONT_SIZE) at which every word
    of ``text`` fits in ``width``."""
    words = [w for line in text.split("\n") for w, _ in words_of(line)]
    widest = max(words, key=lambda w: _width(w, font, size), default="")
    while size > MIN_FONT_SIZE and _width(widest, font, size) > width:
        size -= 0.25
    return size


class WrappedText(Flowable):  # type: ignore[misc]
    """A paragraph broken by :func:`break_lines` at the width it is given (a table cell or
    a frame), its font shrunk when a word would not fit."""

    def __init__(self, text: str, style: ParagraphStyle) -> None:
        super().__init__()
        self.text = text
        self.style = style
        self._para: Paragraph | None = None
        self._built_for: float | None = None
        self.lines: list[str] = []

    def _build(self, width: float) -> Paragraph:
        if self._para is None or self._built_for != width:
            style = self.style
            usable = max(width - 0.5, 1.0)
            size = fitting_size(self.text, style.fontName, style.fontSize, usable)
            if size != style.fontSize:
                style = ParagraphStyle(
                    f"{style.name}-{size}",
                    parent=style,
                    fontSize=size,
                    leading=style.leading * size / style.fontSize,
                )
            self.lines = break_lines(self.text, style.fontName, size, usable)
            markup = "<br/>".join(escape(line) for line in self.lines)
            flat = ParagraphStyle(
                f"{style.name}-flat", parent=style, wordWrap=None, splitLongWords=0
            )
            self._para = Paragraph(markup, flat)
            self._built_for = width
        return self._para

    def wrap(self, availWidth: float, availHeight: float) -> tuple[float, float]:  # noqa: N803
        """Break the text for ``availWidth`` and return the size it takes."""
        w, h = self._build(availWidth).wrap(availWidth, availHeight)
        self.width, self.height = w, h
        return w, h

    def split(self, availWidth: float, availHeight: float) -> list[Any]:  # noqa: N803
        """Split across frames (by lines, as a paragraph)."""
        para = self._build(availWidth)
        para.wrap(availWidth, availHeight)
        return list(para.split(availWidth, availHeight))

    def draw(self) -> None:
        """Draw the broken paragraph."""
        assert self._para is not None
        self._para.drawOn(self.canv, 0, 0)

    def getSpaceBefore(self) -> float:  # noqa: N802 - reportlab API
        """The style's space before."""
        return float(self.style.spaceBefore)

    def getSpaceAfter(self) -> float:  # noqa: N802 - reportlab API
        """The style's space after."""
        return float(self.style.spaceAfter)
