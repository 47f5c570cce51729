"""The embedded CJK TrueType font (WenQuanYi Micro Hei, Apache-2.0; see README.md here)."""

from __future__ import annotations

import threading
from pathlib import Path

__all__ = ["FONT_NAME", "FONT_PATH", "register_fonts"]

FONT_PATH = Path(__file__).with_name("wqy-microhei.ttf")
"""The TrueType file used for all text (Chinese and Latin) in PDFs and signature appearances."""

FONT_NAME = "WenQuanYiMicroHei"
"""The name under which the font is registered with reportlab."""

_lock = threading.Lock()
_registered = False


def register_fonts() -> str:
    """Register the font with reportlab (once) and return its name."""
    global _registered
    with _lock:
        if not _registered:
            from reportlab.pdfbase import pdfmetrics
            from reportlab.pdfbase.ttfonts import TTFont

            pdfmetrics.registerFont(TTFont(FONT_NAME, str(FONT_PATH)))
            _registered = True
    return FONT_NAME
