"""A deterministic plugin (no models) whose replies carry evidence and every kind of rich part.

Used by the UI and server tests to exercise rendering without training anything.
"""

from __future__ import annotations

from assistant.contract import Evidence, Plugin, Reply, RichPart, RoutingScore

PASSAGE = "Standard shipping takes 3 to 5 business days. Express shipping arrives the next day."
ANSWER = "3 to 5 business days"

PARTS = {
    "table": RichPart("table", "Orders", {"columns": ["order", "status"], "rows": [["A-1", "shipped"], ["A-2", "packed"]]}),
    "chart": RichPart("chart", "Weekly orders", {"x": ["mon", "tue", "wed"], "series": {"orders": [3, 5, 4], "returns": [1, 0, 2]}}),
    "cards": RichPart("cards", "Related articles", {"cards": [{"title": "Returns", "text": "30 days", "url": "/returns"}]}),
    "ticket": RichPart("ticket", "Ticket T-42", {"id": "T-42", "priority": "high", "summary": "Parcel lost"}),
    "hologram": RichPart("hologram", "Future kind", {"beam": 3}),
}


class ShowcasePlugin(Plugin):
    """Answers 'shipping' questions with a cited passage; a word naming a part kind adds that part."""

    name = "showcase"
    description = "answers shipping questions with evidence and rich parts"
    intents = ("shipping_time",)

    def route(self, turn, session):
        return RoutingScore(confidence=0.8 if "shipping" in turn.text.lower() else 0.1, intent="shipping_time")

    def respond(self, turn, session):
        start = PASSAGE.index(ANSWER)
        evidence = Evidence(
            doc_id="shipping.md#0",
            source="shipping.md",
            text=PASSAGE,
            score=0.91,
            source_start=0,
            source_end=len(PASSAGE),
            answer_start=start,
            answer_end=start + len(ANSWER),
        )
        words = set(turn.text.lower().replace("?", " ").split())
        parts = [part for kind, part in PARTS.items() if kind in words]
        return Reply(
            text=f"Standard shipping takes {ANSWER}.",
            plugin=self.name,
            intent="shipping_time",
            confidence=0.8,
            evidence=[evidence],
            parts=parts,
            handoff="ticket" in words,
        )
