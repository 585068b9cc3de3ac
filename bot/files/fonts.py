"""The CJK font every chart and PDF is drawn with: Noto Sans CJK SC, from Debian's fonts-noto-cjk.

Noto Sans CJK covers the rare name characters (Ext-A/B) that smaller fonts lack (next-features.md
§5.2). Its Regular weight ships as one TrueType collection; the Simplified Chinese face is found by
its family name, not by a fixed index. Install: `apt-get install fonts-noto-cjk` (README).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

FAMILY = "Noto Sans CJK SC"
# Where distributions put the collection (Debian/Ubuntu first).
CANDIDATES = (
    Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"),
    Path("/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc"),
    Path("/usr/share/fonts/google-noto-cjk/NotoSansCJK-Regular.ttc"),
    Path("/usr/local/share/fonts/NotoSansCJK-Regular.ttc"),
)
INSTALL_HINT = "no CJK font: install Debian's fonts-noto-cjk (apt-get install fonts-noto-cjk)"


class FontMissing(RuntimeError):
    """The CJK font is not installed: charts and PDFs cannot be drawn."""


@dataclass(frozen=True)
class FontFace:
    path: Path
    index: int  # face number inside the collection
    family: str


@cache
def cjk_font() -> FontFace:
    """The Noto Sans CJK SC face; FontMissing (with the install hint) when it is not there."""
    from fontTools.ttLib import TTCollection

    for path in CANDIDATES:
        if not path.is_file():
            continue
        collection = TTCollection(str(path), lazy=True)
        for index, font in enumerate(collection.fonts):
            if font["name"].getDebugName(1) == FAMILY:
                return FontFace(path, index, FAMILY)
    raise FontMissing(INSTALL_HINT)
