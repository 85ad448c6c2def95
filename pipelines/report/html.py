"""HTML pieces of the report: escaping, number formats, paragraphs, tables, legends and
the section wrapper. Every string from the data goes through `escape`."""

from __future__ import annotations

import html
from collections.abc import Sequence

from pipelines.report.sampling import Rows


def escape(value) -> str:
    return html.escape(str(value), quote=True)


def thousands(value: float) -> str:
    return f"{int(round(value)):,}"


def percent(part: float, whole: float, digits: int = 1) -> str:
    return f"{part / whole:.{digits}%}" if whole else "n/a"


def count_text(value: float, approximate: bool) -> str:
    return ("≈" if approximate else "") + thousands(value)


def short_number(value: float) -> str:
    """Axis tick text: 0, 250, 1.5k, 2M, 0.25."""
    if value == 0:
        return "0"
    magnitude = abs(value)
    for limit, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if magnitude >= limit:
            return f"{value / limit:.3g}{suffix}"
    return f"{value:.3g}"


def plural(n: int, word: str) -> str:
    return f"{thousands(n)} {word}{'' if n == 1 else 's'}"


def key_paragraph(text: str) -> str:
    return f'<p class="key">{text}</p>'


def no_data(why: str) -> str:
    return f'<p class="nodata">no data: {escape(why)}</p>'


def note(text: str) -> str:
    return f'<p class="note">{text}</p>'


def data_table(
    headers: Sequence[str], rows: Sequence[Sequence], numeric: Sequence[int] = ()
) -> str:
    """Headers and rows of cells (escaped here) -> an HTML table; `numeric` columns align
    right."""
    head = "".join(
        f'<th class="n">{escape(h)}</th>' if i in numeric else f"<th>{escape(h)}</th>"
        for i, h in enumerate(headers)
    )
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="n">{escape(c)}</td>' if i in numeric else f"<td>{escape(c)}</td>"
            for i, c in enumerate(row)
        )
        + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def color_legend(items: Sequence[tuple[str, str]]) -> str:
    spans = "".join(
        f'<span><i style="background:{color}"></i>{escape(label)}</span>' for label, color in items
    )
    return f'<div class="legend">{spans}</div>'


def section_html(anchor: str, title: str, body: str) -> str:
    return f'<section id="{anchor}"><h2>{escape(title)}</h2>{body}</section>'


def sampled_note(rows: Rows | None, what: str) -> str:
    if rows is None or rows.sample is None or rows.sample.complete:
        return ""
    s = rows.sample
    return note(
        f"{escape(what)}: from {thousands(s.rows)} of {thousands(s.total_rows)} rows "
        f"({percent(s.rows, s.total_rows)}), scaled to the whole run (≈)."
    )
