"""Handoff tickets hold the masked transcript and are written whole."""

from __future__ import annotations

import json

from plugins.customer_service.tickets import create_ticket, masked_transcript


def test_ticket_file_holds_the_masked_transcript(tmp_path):
    history = [
        {"role": "user", "text": "my card 4111 1111 1111 1111 was charged twice", "plugin": "customer_service", "intent": None},
        {"role": "assistant", "text": "Sorry about that.", "plugin": "customer_service", "intent": None},
    ]
    transcript = masked_transcript(history, "call me on 555-123-4567 or mail jo@example.com")
    ticket = create_ticket(tmp_path / "tickets", session_id="s1", reason="asked", transcript=transcript, details={"order_number": "10004"})
    files = list((tmp_path / "tickets").iterdir())
    assert [f.name for f in files] == [f"{ticket['id']}.json"]
    stored = json.loads(files[0].read_text(encoding="utf-8"))
    assert stored == ticket
    assert stored["order_number"] == "10004" and stored["session_id"] == "s1" and stored["status"] == "open"
    texts = [line["text"] for line in stored["transcript"]]
    assert texts == ["my card [card ending 1111] was charged twice", "Sorry about that.", "call me on [phone] or mail [email]"]
    assert [line["role"] for line in stored["transcript"]] == ["user", "assistant", "user"]
    raw = files[0].read_text(encoding="utf-8")
    assert "4111" not in raw.replace("ending 1111", "") and "555-123" not in raw and "jo@example.com" not in raw


def test_ticket_ids_are_unique(tmp_path):
    ids = {create_ticket(tmp_path, session_id="s", reason="r", transcript=[], details={})["id"] for _ in range(20)}
    assert len(ids) == 20 and len(list(tmp_path.glob("*.json"))) == 20
