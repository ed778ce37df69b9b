"""Turn a `Reply` into what the chat window shows: plain functions, no Gradio state.

Kept apart from the app so the look of an answer (meta line, evidence panel with the
answer span highlighted, rich parts) can be tested without a browser. Rich parts are
rendered by ``kind`` only; nothing here knows about any particular plugin.
"""

from __future__ import annotations

import html
import json
from typing import Any

import gradio as gr
from matplotlib.figure import Figure

from assistant.contract import Evidence, Reply, RichPart

#: How many characters of a passage the evidence panel shows around the answer span.
PASSAGE_CHARS = 600


def meta_line(reply: Reply) -> str:
    """Plugin, intent, confidence and latency of an answer, as one small markdown line."""
    items = [f"**{reply.plugin}**"]
    if reply.intent:
        items.append(f"intent `{reply.intent}`")
    items.append(f"confidence {reply.confidence:.2f}")
    if "total" in reply.timings:
        items.append(f"{reply.timings['total'] * 1000:.0f} ms")
    if reply.handoff:
        items.append("handed to a human")
    return "<sub>" + " · ".join(items) + "</sub>"


def _valid_span(evidence: Evidence) -> tuple[int, int] | None:
    start, end = evidence.answer_start, evidence.answer_end
    if start is None or end is None or not 0 <= start < end <= len(evidence.text):
        return None
    return start, end


def _html_text(text: str) -> str:
    """Escape text for an HTML block; blank lines would end the block in markdown, so none survive."""
    return html.escape(text).replace("\n", "<br>")


def highlight_answer(evidence: Evidence, max_chars: int = PASSAGE_CHARS) -> str:
    """The passage as HTML with the extracted answer span wrapped in ``<mark>``.

    Long passages are cut to ``max_chars`` around the answer so the span stays visible.
    Offsets outside the passage are ignored rather than trusted.
    """
    text = evidence.text
    span = _valid_span(evidence)
    window_start, window_end = 0, len(text)
    if len(text) > max_chars:
        centre = (span[0] + span[1]) // 2 if span else 0
        window_start = max(0, min(centre - max_chars // 2, len(text) - max_chars))
        window_end = window_start + max_chars
    prefix = "…" if window_start > 0 else ""
    suffix = "…" if window_end < len(text) else ""
    if span is None or span[1] <= window_start or span[0] >= window_end:
        return prefix + _html_text(text[window_start:window_end]) + suffix
    start, end = max(span[0], window_start), min(span[1], window_end)
    return (
        prefix
        + _html_text(text[window_start:start])
        + "<mark>"
        + _html_text(text[start:end])
        + "</mark>"
        + _html_text(text[end:window_end])
        + suffix
    )


def _source_line(evidence: Evidence) -> str:
    where = f"<b>{html.escape(evidence.source)}</b>"
    if evidence.source_start is not None and evidence.source_end is not None:
        where += f" · characters {evidence.source_start:,}–{evidence.source_end:,}"
    where += f" · score {evidence.score:.2f}"
    return f'<div class="evidence-source">{where}</div>'


def evidence_panel(evidence: list[Evidence]) -> str:
    """A collapsed ``<details>`` block listing each retrieved passage and its source document."""
    if not evidence:
        return ""
    noun = "passage" if len(evidence) == 1 else "passages"
    items = "".join(
        f'<div class="evidence-item">{_source_line(item)}'
        f'<div class="evidence-text">{highlight_answer(item)}</div></div>'
        for item in evidence
    )
    return f'<details class="evidence"><summary>Evidence · {len(evidence)} {noun}</summary>{items}</details>'


def _cell(value: Any) -> str:
    return html.escape(str(value)).replace("|", "&#124;").replace("\n", " ")


def markdown_table(columns: list, rows: list[list]) -> str:
    """A GitHub-style markdown table; cells are escaped so a '|' cannot break the layout."""
    header = "| " + " | ".join(_cell(c) for c in columns) + " |"
    rule = "| " + " | ".join("---" for _ in columns) + " |"
    body = ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]
    return "\n".join([header, rule, *body])


def _title(part: RichPart) -> str:
    return f"**{html.escape(part.title)}**\n\n" if part.title else ""


def _fields_html(fields: dict[str, Any]) -> str:
    rows = "".join(
        f"<tr><th>{html.escape(str(key).replace('_', ' '))}</th><td>{_html_text(_plain(value))}</td></tr>"
        for key, value in fields.items()
    )
    return f"<table>{rows}</table>"


def _plain(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def render_table(part: RichPart) -> str:
    # A markdown table, not gr.Dataframe: Gradio 6's chatbot fails to render Dataframe messages.
    return _title(part) + markdown_table(list(part.data["columns"]), [list(row) for row in part.data.get("rows", [])])


def chart_figure(part: RichPart) -> Figure:
    """A line chart with one line per series over the shared x values."""
    figure = Figure(figsize=(6, 3), layout="constrained")
    axes = figure.add_subplot()
    x = part.data.get("x", [])
    for name, values in part.data.get("series", {}).items():
        axes.plot(x[: len(values)] if x else range(len(values)), values, marker="o", label=str(name))
    if part.data.get("series"):
        axes.legend()
    axes.set_title(part.title)
    axes.grid(alpha=0.3)
    return figure


def render_chart(part: RichPart) -> gr.Plot:
    return gr.Plot(value=chart_figure(part), label=part.title or None)


def render_cards(part: RichPart) -> str:
    cards = []
    for card in part.data.get("cards", []):
        extra = {k: v for k, v in card.items() if k not in ("title", "text")}
        body = f'<div class="card-title">{html.escape(str(card.get("title", "")))}</div>'
        if card.get("text"):
            body += f'<div class="card-text">{_html_text(str(card["text"]))}</div>'
        if extra:
            body += _fields_html(extra)
        cards.append(f'<div class="card">{body}</div>')
    return _title(part) + f'<div class="cards">{"".join(cards)}</div>'


def render_ticket(part: RichPart) -> str:
    title = html.escape(part.title or "Ticket")
    return f'<div class="ticket"><div class="ticket-title">{title}</div>{_fields_html(part.data)}</div>'


def render_markdown(part: RichPart) -> str:
    return _title(part) + str(part.data.get("text", ""))


def render_json(part: RichPart) -> str:
    """Fallback for kinds this UI does not know: the part's JSON, so nothing is silently dropped."""
    # JSON lines never start with a backtick, so the data cannot close the fence early.
    body = json.dumps(part.data, indent=2, ensure_ascii=False, default=str)
    return f"**{html.escape(part.title or part.kind)}** <sub>({html.escape(part.kind)})</sub>\n\n```json\n{body}\n```"


RENDERERS = {
    "table": render_table,
    "chart": render_chart,
    "cards": render_cards,
    "ticket": render_ticket,
    "markdown": render_markdown,
}


def render_part(part: RichPart) -> str | gr.Component:
    """Markdown/HTML text, or a Gradio component (chart → Plot), for one rich part."""
    renderer = RENDERERS.get(part.kind, render_json)
    try:
        return renderer(part)
    except (KeyError, TypeError, ValueError, AttributeError):
        # Malformed data for a known kind: show what the plugin sent instead of failing the turn.
        return render_json(part)


def reply_content(reply: Reply) -> list[str | gr.Component]:
    """Everything one answer shows in its chat bubble, in order: text with meta and evidence, then parts."""
    text = "\n\n".join(block for block in (reply.text, meta_line(reply), evidence_panel(reply.evidence)) if block)
    content: list[str | gr.Component] = [text]
    for part in reply.parts:
        rendered = render_part(part)
        if isinstance(rendered, str) and isinstance(content[-1], str):
            content[-1] += "\n\n" + rendered
        else:
            content.append(rendered)
    return content


def error_content(message: str) -> str:
    return f"**Could not answer:** {message}"
