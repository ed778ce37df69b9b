"""How an answer looks: meta line, evidence with the answer span highlighted, rich parts by kind."""

from __future__ import annotations

import json

import gradio as gr
import pytest

from assistant.contract import Evidence, Reply, RichPart
from tests.ui.showcase_plugin import PARTS
from ui.formatting import (
    chart_figure,
    evidence_panel,
    highlight_answer,
    markdown_table,
    meta_line,
    render_part,
    reply_content,
)


def make_evidence(text: str, answer: str | None = None, **kwargs) -> Evidence:
    start = text.index(answer) if answer else None
    end = start + len(answer) if answer else None
    return Evidence(doc_id="d#0", source=kwargs.pop("source", "faq.md"), text=text, score=0.5, answer_start=start, answer_end=end, **kwargs)


def test_meta_line_names_plugin_intent_confidence_and_latency():
    line = meta_line(Reply(text="x", plugin="customer_service", intent="track_order", confidence=0.873, timings={"total": 0.1234}))
    assert "customer_service" in line and "track_order" in line and "0.87" in line and "123 ms" in line


def test_answer_span_is_marked_and_the_rest_escaped():
    evidence = make_evidence("Refunds <b>take</b> 5 days & more.", answer="5 days")
    shown = highlight_answer(evidence)
    assert "<mark>5 days</mark>" in shown
    assert "&lt;b&gt;take&lt;/b&gt;" in shown and "&amp; more" in shown and "<b>" not in shown


@pytest.mark.parametrize("start,end", [(None, None), (5, 2), (-1, 3), (0, 999)])
def test_missing_or_impossible_offsets_show_the_passage_without_a_mark(start, end):
    evidence = Evidence(doc_id="d", source="s", text="plain passage text", score=0.1, answer_start=start, answer_end=end)
    assert highlight_answer(evidence) == "plain passage text"


def test_long_passage_is_cut_around_the_answer_so_the_mark_stays_visible():
    text = "a" * 2000 + " the answer is here " + "b" * 2000
    shown = highlight_answer(make_evidence(text, answer="the answer is here"), max_chars=200)
    assert "<mark>the answer is here</mark>" in shown
    assert shown.startswith("…") and shown.endswith("…")
    assert len(shown) < 260


def test_blank_lines_in_a_passage_cannot_end_the_html_block():
    shown = highlight_answer(make_evidence("first paragraph\n\nsecond paragraph"))
    assert "\n" not in shown and "<br><br>" in shown


def test_evidence_panel_is_collapsible_and_lists_each_source():
    panel = evidence_panel(
        [make_evidence("Returns within 30 days.", "30 days", source="returns.md", source_start=10, source_end=33), make_evidence("Other.", source="x.md")]
    )
    assert panel.startswith("<details") and "<summary>Evidence · 2 passages</summary>" in panel
    assert "returns.md" in panel and "x.md" in panel and "characters 10–33" in panel
    assert "<mark>30 days</mark>" in panel
    assert "\n\n" not in panel
    assert evidence_panel([]) == ""


def test_table_part_becomes_an_escaped_markdown_table():
    rendered = render_part(RichPart("table", "Orders", {"columns": ["id", "note"], "rows": [["A|1", "<i>x</i>"]]}))
    assert "**Orders**" in rendered
    assert "| id | note |" in rendered and "| --- | --- |" in rendered
    assert "A&#124;1" in rendered and "&lt;i&gt;" in rendered


def test_markdown_table_has_one_line_per_row():
    assert markdown_table(["a"], [[1], [2]]).splitlines() == ["| a |", "| --- |", "| 1 |", "| 2 |"]


def test_chart_part_becomes_a_plot_with_one_line_per_series():
    part = PARTS["chart"]
    figure = chart_figure(part)
    lines = figure.axes[0].get_lines()
    assert [line.get_label() for line in lines] == ["orders", "returns"]
    assert list(lines[0].get_ydata()) == [3, 5, 4]
    assert isinstance(render_part(part), gr.Plot)


def test_cards_and_ticket_show_their_fields():
    cards = render_part(PARTS["cards"])
    assert 'class="card"' in cards and "Returns" in cards and "30 days" in cards and "/returns" in cards
    ticket = render_part(PARTS["ticket"])
    assert 'class="ticket"' in ticket and "Ticket T-42" in ticket
    assert "<th>priority</th><td>high</td>" in ticket and "Parcel lost" in ticket


def test_markdown_part_is_passed_through():
    assert render_part(RichPart("markdown", "", {"text": "**bold** text"})) == "**bold** text"


def test_unknown_kind_shows_its_json():
    rendered = render_part(PARTS["hologram"])
    assert "Future kind" in rendered and "(hologram)" in rendered
    body = rendered.split("```json\n", 1)[1].rsplit("\n```", 1)[0]
    assert json.loads(body) == {"beam": 3}


def test_malformed_known_kind_falls_back_to_json_instead_of_failing():
    rendered = render_part(RichPart("table", "Broken", {"rows": "not a table"}))
    assert "```json" in rendered and "not a table" in rendered


def test_reply_content_puts_text_meta_evidence_then_parts_in_one_bubble():
    reply = Reply(
        text="Standard shipping takes 3 to 5 business days.",
        plugin="showcase",
        intent="shipping_time",
        confidence=0.8,
        evidence=[make_evidence("Shipping takes 3 to 5 business days.", "3 to 5 business days")],
        parts=[PARTS["table"], PARTS["chart"], PARTS["ticket"]],
    )
    content = reply_content(reply)
    assert isinstance(content[0], str) and content[0].startswith("Standard shipping")
    assert content[0].index("shipping_time") < content[0].index("<details") < content[0].index("| order | status |")
    assert isinstance(content[1], gr.Plot)
    assert isinstance(content[2], str) and 'class="ticket"' in content[2]
    # Gradio accepts the content as a chat message.
    gr.Chatbot().postprocess([{"role": "assistant", "content": content}])
