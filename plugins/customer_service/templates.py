"""Answer templates (``data/templates.json``): what the assistant says, kept out of the code.

The file has three parts: ``intents`` (intent -> complete answer), ``document_intents``
(intent -> the help page it is about, a lead-in for answers quoted from that page, and an
optional sympathy line said before any quoted answer to it)
and ``messages`` (everything the order flows, handoff and fallbacks say). Placeholders use
``str.format`` names; a template that needs a value the caller did not give fails loudly
in tests rather than showing ``{order_number}`` to a customer.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from assistant.errors import DataFormatError

REQUIRED_MESSAGES = (
    "ask_order_number",
    "invalid_order_number",
    "unknown_order",
    "status",
    "confirm_cancel",
    "cancelled",
    "cannot_cancel",
    "cancel_kept",
    "ask_new_address",
    "confirm_address",
    "address_changed",
    "cannot_change_address",
    "address_kept",
    "flow_dropped",
    "remind",
    "tasks",
    "tasks_without_number",
    "angry_prefix",
    "angry_offer",
    "angry_offer_on_request",
    "human_declined",
    "confirm_human",
    "your_name",
    "refusal_reason",
    "complaint",
    "handoff",
    "document_answer",
    "report_offer",
    "default_lead",
    "document_passage",
    "not_confident",
)


@dataclass(frozen=True)
class DocumentIntent:
    document: str
    #: Names the page ("About gift cards:"), so it leads only quotes from that page; others get ``default_lead``.
    lead: str
    #: Said before any quoted answer to this intent, whichever page it comes from ("I'm sorry ...").
    sympathy: str = ""
    #: Words of the page's sentence saying what to do about the problem, quoted when the customer
    #: reports it ("my kettle arrived broken") and the reader's best sentence is from another page.
    #: The words may span lines (a list is quoted item by item).
    report: str = ""
    #: More pages that are this intent's own, each with its ``report`` words ("" for none): a
    #: missing item and a package that never came are one intent, with a page each.
    also: dict[str, str] = field(default_factory=dict)
    #: Whether that sentence comes with the offer of a person: yes for a problem ("my kettle arrived
    #: broken"), no for a request the page explains how to do ("i want to return my headphones").
    report_offers_human: bool = True

    def pages(self) -> dict[str, str]:
        """Every page of the intent, with its report words."""
        return {self.document: self.report, **self.also}


class Templates:
    def __init__(self, intents: dict[str, str], documents: dict[str, DocumentIntent], messages: dict[str, Any]):
        self.intents = intents
        self.documents = documents
        self.messages = messages

    @classmethod
    def load(cls, path: Path) -> "Templates":
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise DataFormatError(str(path), f"cannot read the answer templates ({exc})") from exc
        if not isinstance(data, dict) or not all(isinstance(data.get(k), dict) for k in ("intents", "document_intents", "messages")):
            raise DataFormatError(str(path), "expected an object with 'intents', 'document_intents' and 'messages' objects")
        missing = [key for key in REQUIRED_MESSAGES if key not in data["messages"]]
        if missing:
            raise DataFormatError(str(path), f"'messages' lacks {', '.join(missing)}")
        overlap = set(data["intents"]) & set(data["document_intents"])
        if overlap:
            raise DataFormatError(str(path), f"intent(s) {', '.join(sorted(overlap))} are both templated and document-answered; keep one")
        try:
            documents = {intent: DocumentIntent(**spec) for intent, spec in data["document_intents"].items()}
        except TypeError as exc:
            raise DataFormatError(str(path), f"a 'document_intents' entry is malformed ({exc})") from exc
        for intent, spec in documents.items():
            if not isinstance(spec.also, dict) or not all(isinstance(v, str) for v in [*spec.also, *spec.also.values()]):
                raise DataFormatError(str(path), f"'document_intents.{intent}.also' must map page file names to report words")
            if not isinstance(spec.report_offers_human, bool):
                raise DataFormatError(str(path), f"'document_intents.{intent}.report_offers_human' must be true or false")
        return cls(data["intents"], documents, data["messages"])

    def message(self, *keys: str, **values: Any) -> str:
        """The message at ``messages[keys[0]][keys[1]]...``, filled with ``values``."""
        node: Any = self.messages
        for key in keys:
            node = node[key]
        return node.format(**values)

    def has_message(self, *keys: str) -> bool:
        node: Any = self.messages
        for key in keys:
            if not isinstance(node, dict) or key not in node:
                return False
            node = node[key]
        return isinstance(node, str)
