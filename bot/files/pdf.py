"""A small document builder on fpdf2 with the CJK font embedded (subset), for exports and the copy
of my data. The font is embedded, so the PDF renders the same in any viewer (next-features.md §5:
reportlab's STSong-Light is not embedded and was rejected)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from bot.files.fonts import cjk_font

FONT = "NotoSansSC"
GREY = (75, 85, 99)
RULE = (209, 213, 219)
HEAD_FILL = (239, 246, 255)


class Document:
    """Title, text, key–value blocks and tables, paged with "page n/N" in the footer."""

    def __init__(
        self, *, title: str, lang: str, created: datetime, landscape: bool = False, page_label: str = "{page}/{pages}"
    ) -> None:
        from fpdf import FPDF

        face = cjk_font()
        label = page_label

        class _PDF(FPDF):
            def footer(self) -> None:
                self.set_y(-12)
                self.set_font(FONT, size=8)
                self.set_text_color(*GREY)
                self.cell(0, 6, label.format(page=self.page_no(), pages="{nb}"), align="C")

        pdf = _PDF(orientation="L" if landscape else "P", format="A4")
        pdf.add_font(FONT, fname=str(face.path), collection_font_number=face.index)
        pdf.set_title(title)
        pdf.set_creator("swbot")
        pdf.set_lang("zh-CN" if lang.startswith("zh") else "en")
        pdf.set_creation_date(created)
        pdf.set_auto_page_break(auto=True, margin=16)
        pdf.set_margins(14, 14, 14)
        pdf.add_page()
        self.pdf = pdf
        self.heading(title, size=16)

    def heading(self, text: str, *, size: float = 12) -> None:
        pdf = self.pdf
        pdf.set_font(FONT, size=size)
        pdf.set_text_color(17, 24, 39)
        pdf.ln(1)
        pdf.multi_cell(0, size * 0.5, text, new_x="LMARGIN", new_y="NEXT")
        pdf.ln(1)

    def text(self, text: str, *, size: float = 9, grey: bool = False) -> None:
        pdf = self.pdf
        pdf.set_font(FONT, size=size)
        pdf.set_text_color(*(GREY if grey else (17, 24, 39)))
        pdf.multi_cell(0, size * 0.5, text, new_x="LMARGIN", new_y="NEXT")

    def pairs(self, rows: Sequence[tuple[str, str]], *, size: float = 9) -> None:
        """Label: value lines, in a two-column table without rules."""
        if not rows:
            return
        self.table(["", ""], list(rows), widths=(1, 2), size=size, headings=False, rules=False)

    def table(
        self,
        headers: Sequence[str],
        rows: Sequence[Sequence[str]],
        *,
        widths: Sequence[float] | None = None,
        right: Sequence[int] = (),
        size: float = 8,
        headings: bool = True,
        rules: bool = True,
    ) -> None:
        """A table; `right` lists the columns (amounts) aligned right."""
        from fpdf.enums import TableBordersLayout, WrapMode
        from fpdf.fonts import FontFace

        pdf = self.pdf
        pdf.set_font(FONT, size=size)
        pdf.set_text_color(17, 24, 39)
        pdf.set_draw_color(*RULE)
        align = ["RIGHT" if i in right else "LEFT" for i in range(len(headers))]
        with pdf.table(
            col_widths=widths,
            text_align=align,
            first_row_as_headings=headings,
            headings_style=FontFace(emphasis="", fill_color=HEAD_FILL),  # one weight registered: no bold
            borders_layout=TableBordersLayout.HORIZONTAL_LINES if rules else TableBordersLayout.NONE,
            wrapmode=WrapMode.CHAR,  # long numbers and CJK text wrap anywhere
            line_height=size * 0.5,
            padding=1,
        ) as table:
            if headings:
                table.row(list(headers))
            for row in rows:
                table.row([str(cell) for cell in row])
        pdf.ln(2)

    def output(self) -> bytes:
        return bytes(self.pdf.output())
