"""The answer templates load, fill in values, and a broken file is refused with a reason."""

from __future__ import annotations

import json

import pytest

from assistant.errors import DataFormatError
from plugins.customer_service.plugin import DATA
from plugins.customer_service.templates import Templates


def test_bundled_templates_fill_their_placeholders():
    templates = Templates.load(DATA / "templates.json")
    assert templates.message("unknown_order", order_number="10099").startswith("I can't find an order with the number 10099")
    assert templates.has_message("status", "shipped") and not templates.has_message("status", "lost")
    with pytest.raises(KeyError):
        templates.message("unknown_order")


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda d: d["messages"].pop("handoff"), "lacks handoff"),
        (lambda d: d.pop("intents"), "'intents'"),
        (lambda d: d["intents"].update(return_item="hi"), "both templated and document-answered"),
        (lambda d: d["document_intents"]["warranty"].pop("lead"), "malformed"),
        (lambda d: d["document_intents"]["warranty"].update(also=["faq.md"]), "also' must map page file names"),
        (lambda d: d["document_intents"]["warranty"].update(report_offers_human="no"), "report_offers_human' must be true or false"),
    ],
)
def test_broken_templates_are_refused(tmp_path, change, reason):
    data = json.loads((DATA / "templates.json").read_text(encoding="utf-8"))
    change(data)
    path = tmp_path / "templates.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(DataFormatError, match=reason):
        Templates.load(path)


def test_every_report_quotes_words_of_its_intents_own_page():
    templates = Templates.load(DATA / "templates.json")
    reports = {intent: spec for intent, spec in templates.documents.items() if any(spec.pages().values())}
    assert {"damaged_item", "wrong_item", "missing_item", "payment_failed", "return_item", "apply_coupon"} <= set(reports)
    for intent, spec in reports.items():
        for page, words in spec.pages().items():
            assert words in (DATA / "docs" / page).read_text(encoding="utf-8"), (intent, page)
    assert not templates.documents["return_item"].report_offers_human and templates.documents["damaged_item"].report_offers_human
    assert "lost-or-stolen-packages.md" in templates.documents["missing_item"].pages()
