"""What the customer-service assistant says next, given what it understood of a message.

The plugin reads a message with its models into an :class:`Understanding`; this module holds
the conversation policy and needs no model, so the whole state machine is testable with
plain data. State lives in two JSON-serialisable dicts the engine persists per session:
``slots`` (shared: ``order_number``, ``new_address``) and the plugin's ``state``:

- ``pending``: an unfinished order flow, ``{"flow", "step", "order_number", "new_address",
  "ignored"}``, where ``step`` is what it waits for (``order_number``, ``new_address`` or
  ``confirm``). Messages that do not answer it are answered on their own and followed by a
  reminder; after ``MAX_IGNORED_TURNS`` such turns the flow is dropped, so a "yes" much later
  never confirms a cancellation the customer has forgotten about.
- ``offer``: ``"human"`` when the previous reply offered a person (valid for one turn).
- ``refusal``: the flow and order the previous reply refused ("can't be cancelled"), so that a
  bare "why not?" next gets the reason (valid for one turn).
- ``last_question``: the question the previous reply answered from the help pages and its intent,
  so that a follow-up ("what about express?") is asked together with it (valid for one turn; a
  follow-up's answer keeps the first question, so follow-ups can chain).
- ``angry_turns``: how many messages the emotion model found angry.
- ``customer_name``: the name the customer introduced themselves with ("hi, I'm Sarah";
  ``name_given`` is then set), else from the last order looked up, for friendlier templates.

Handoff policy: asking for a person (intent ``human_agent``) hands off at once, unless the intent
model is unsure of it (``MIN_HANDOFF_CONFIDENCE``), when the assistant asks first. The first
angry message is answered as usual, with an apology and an offer of a person; accepting the
offer, or a second angry message in the same session, hands off. While a cancellation or address
change awaits its yes/no, the offer asks the customer to say they want a person instead, so that
the "yes" still answers the confirmation. A complaint, an answer the assistant is not confident
about and an order past its estimated delivery also offer a person, but never hand off on their own.
A complaint is a statement, not a question, so it gets the complaints process and that offer
rather than a quote from a help page. A question for the help pages that names a known order
("my order 10001 arrived cracked") gets the order's status before the help pages' answer, as an
agent would look the order up first, and the number is kept for the next flow; a number that is no
order is said to be unknown there instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any, Protocol

from assistant.contract import Evidence
from plugins.customer_service.cues import (
    MAX_FOLLOW_UP_WORDS,
    asks_own_name,
    asks_why,
    find_address,
    find_name,
    find_order_numbers,
    follow_up_topic,
    is_report,
    mentions_flow,
    plain_yes_no,
)
from plugins.customer_service.orders import Order, OrderBook
from plugins.customer_service.templates import Templates

FLOWS = ("order_status", "cancel_order", "change_address")
#: The flows that ask for a yes before they change an order.
CONFIRMED_FLOWS = ("cancel_order", "change_address")
YES_NO_INTENTS = {"affirm": "yes", "deny": "no"}
HUMAN_INTENT = "human_agent"
#: Below this calibrated confidence a request for a person is confirmed before the handoff: real
#: requests score 0.93-0.99, while "and express?" after an answer was read as one at 0.58.
MIN_HANDOFF_CONFIDENCE = 0.8
#: Below this confidence a small-talk intent ("how long does the link last?" read as contact_info at
#: 0.67) does not place a short question right after a help-page answer: it is tried as a follow-up.
PLACED_CONFIDENCE = 0.8
GREETING_INTENT = "greeting"
COMPLAINT_INTENT = "complaint"
MAX_IGNORED_TURNS = 3
ANGRY_TURNS_BEFORE_HANDOFF = 2


@dataclass
class Understanding:
    """One message as the models and the text cues read it."""

    text: str
    #: The intent model's label, or None when it abstained.
    intent: str | None
    confidence: float
    angry: bool = False
    order_numbers: list[str] = field(default_factory=list)
    malformed_numbers: list[str] = field(default_factory=list)
    #: An address introduced in passing ("... to 12 Oak Street").
    address: str | None = None
    #: The message read as a reply to "what's the new address?".
    address_reply: str | None = None
    plain_answer: str | None = None
    #: The name the customer introduced themselves with, if they did.
    name: str | None = None
    #: "what's my name?"
    asks_name: bool = False
    #: A bare "why not?", asking for the reason behind the last refusal.
    asks_why: bool = False
    #: What a short follow-up to the last question asks about ("what about express?" -> "express").
    follow_up: str | None = None

    @classmethod
    def read(cls, text: str, intent: str | None, confidence: float, angry: bool = False) -> "Understanding":
        in_passing = find_address(text)
        whole = find_address(text, expecting=True)
        # A ZIP code has 5 digits too: numbers inside an address are not order numbers.
        address_span = (in_passing or whole or (None, None, None))[1:]
        numbers, malformed = find_order_numbers(text, skip=address_span if address_span[0] is not None else None)
        follow_up = follow_up_topic(text)
        if follow_up is not None and intent in YES_NO_INTENTS and not any(mentions_flow(f, text) for f in CONFIRMED_FLOWS):
            intent = None  # "and for canada?" is no yes or no, whatever the model makes of a bare "and ..."
        return cls(
            text=text,
            intent=intent,
            confidence=confidence,
            angry=angry,
            order_numbers=numbers,
            malformed_numbers=malformed,
            address=in_passing[0] if in_passing else None,
            address_reply=whole[0] if whole else None,
            plain_answer=plain_yes_no(text),
            name=find_name(text),
            asks_name=asks_own_name(text),
            asks_why=asks_why(text),
            follow_up=follow_up,
        )

    def yes_no(self, flow: str | None = None) -> str | None:
        """"yes", "no" or None (not an answer, or a contradictory one).

        A reply starting with a yes/no word decides by itself, because confirmations guard
        writes: "no, keep it" must never cancel an order even if the intent model reads it as
        ``affirm``; when the words and the model disagree the answer is None, so the question
        is asked again. Otherwise the model's ``affirm``/``deny`` counts. A short reply the
        model reads as starting a different flow ("ok, cancel it" during an address change)
        is that request, not an answer, and a follow-up ("ok and for canada?") asks, it does not answer."""
        if self.follow_up is not None:
            return None
        model = YES_NO_INTENTS.get(self.intent or "")
        if self.plain_answer is None:
            return model
        if model is not None and model != self.plain_answer:
            return None
        if self.intent in FLOWS and self.intent != flow:
            return None
        return self.plain_answer


@dataclass
class DocumentAnswer:
    text: str
    evidence: list[Evidence]
    confidence: float
    #: False when it shows a relevant passage without having found the answer in it.
    exact: bool = True
    #: True when the text itself offers a person (the dialogue then hands off on a yes).
    offers_human: bool = False


class DocumentAnswers(Protocol):
    def answer(self, question: str, intent: str | None, about: str | None = None) -> DocumentAnswer | None:
        """A quoted, cited answer, or None when retrieval or the reader is not confident. With ``about``,
        only an exact answer whose quote is about those words (a follow-up's topic) counts."""


@dataclass
class Outcome:
    text: str
    intent: str | None
    confidence: float = 0.0
    evidence: list[Evidence] = field(default_factory=list)
    #: Set when the conversation must go to a person; the plugin writes the ticket.
    handoff_reason: str | None = None
    offers_human: bool = False


def format_date(value: str | None) -> str:
    if not value:
        return "not available yet"
    day = date.fromisoformat(value)
    return f"{day:%A, %B} {day.day}"


def order_values(order: Order) -> dict[str, Any]:
    return {
        "order_number": order.number,
        "items": order.items_summary,
        "item_count": order.item_count,
        "total": f"${order.total:,.2f}",
        "status": order.status.replace("_", " "),
        "carrier": order.carrier or "not assigned yet",
        "tracking_number": order.tracking_number or "not available yet",
        "estimated_delivery": format_date(order.estimated_delivery),
        "delivered_on": format_date(order.delivered_at),
        "address": order.address,
    }


#: Statuses whose estimated delivery can pass while the order is still on its way.
UNDELIVERED_STATUSES = ("processing", "shipped")
#: Statuses of an order with the carrier: too late to cancel or re-address, for the reason ``refusal_reason`` gives.
IN_TRANSIT_STATUSES = ("shipped", "out_for_delivery")


class Dialogue:
    def __init__(self, orders: OrderBook, templates: Templates, documents: DocumentAnswers):
        self.orders = orders
        self.templates = templates
        self.documents = documents

    # -- routing help ------------------------------------------------------------------

    def answers_pending(self, u: Understanding, state: dict) -> bool:
        """Whether the message answers the question the last reply asked (for routing)."""
        if state.get("offer") == "human" and u.yes_no() is not None:
            return True
        if u.asks_why and state.get("refusal"):
            return True
        pending = state.get("pending")
        if not pending:
            return False
        step = pending["step"]
        if step == "order_number":
            return bool(u.order_numbers or u.malformed_numbers)
        if step == "new_address":
            return u.address_reply is not None
        return u.yes_no(pending["flow"]) is not None

    # -- one turn ------------------------------------------------------------------------

    def respond(self, u: Understanding, state: dict, slots: dict) -> Outcome:
        offer = state.pop("offer", None)
        refusal = state.pop("refusal", None)
        last_question = state.pop("last_question", None)
        if u.name:
            state["customer_name"], state["name_given"] = u.name, True
        if u.angry:
            state["angry_turns"] = state.get("angry_turns", 0) + 1
        if u.intent == HUMAN_INTENT:
            if u.confidence >= MIN_HANDOFF_CONFIDENCE:
                return self._handoff(u, state, "the customer asked for a person")
            # A handoff opens a ticket: when the model is unsure ("and express?" read as a request for
            # a person), ask first.
            state["offer"] = "human"
            return Outcome(self.templates.message("confirm_human"), u.intent, u.confidence, offers_human=True)
        if offer == "human":
            answer = u.yes_no()
            if answer == "yes":
                return self._handoff(u, state, "the customer accepted the offer of a person")
            if answer == "no":
                outcome = Outcome(self.templates.message("human_declined"), u.intent or "deny", u.confidence)
                return self._with_reminder(outcome, state)
        if u.angry and state["angry_turns"] >= ANGRY_TURNS_BEFORE_HANDOFF:
            return self._handoff(u, state, "the customer is still frustrated")
        if u.asks_name:
            outcome = self._with_reminder(Outcome(self._your_name(state), GREETING_INTENT, u.confidence), state)
        elif u.asks_why and refusal:
            # "why not?" right after "can't be cancelled" asks for the reason, not to drop the subject.
            outcome = Outcome(self._refusal_reason(refusal), refusal["flow"], u.confidence)
            outcome.offers_human = refusal["flow"] == "change_address"
        else:
            outcome = (
                self._continue_pending(u, state, slots)
                or self._follow_up(u, last_question, state)
                or self._new_topic(u, state, slots)
            )
        if u.angry:
            if not outcome.text.startswith("I'm sorry"):
                outcome.text = f"{self.templates.message('angry_prefix')} {outcome.text}"
            if not outcome.offers_human and self._awaits_confirmation(state):
                # A "yes" must answer the cancel or address confirmation: offer the person by name only.
                outcome.text = f"{outcome.text} {self.templates.message('angry_offer_on_request')}"
            elif not outcome.offers_human:
                outcome.text = f"{outcome.text} {self.templates.message('angry_offer')}"
                outcome.offers_human = True
        if outcome.offers_human:
            state["offer"] = "human"
        state["last_intent"] = outcome.intent
        return outcome

    @staticmethod
    def _awaits_confirmation(state: dict) -> bool:
        pending = state.get("pending")
        return bool(pending) and pending["step"] == "confirm"

    def _handoff(self, u: Understanding, state: dict, reason: str) -> Outcome:
        state.pop("pending", None)
        return Outcome("", u.intent or HUMAN_INTENT, u.confidence, handoff_reason=reason)

    # -- pending flows -------------------------------------------------------------------

    def _continue_pending(self, u: Understanding, state: dict, slots: dict) -> Outcome | None:
        pending = state.get("pending")
        if not pending:
            return None
        flow, step = pending["flow"], pending["step"]
        if u.intent in FLOWS and u.intent != flow and mentions_flow(u.intent, u.text):
            return None  # the customer starts a different flow; _new_topic handles it
        intent = u.intent if u.intent in (flow, *YES_NO_INTENTS) else flow
        if step == "new_address" and u.address_reply:
            pending["new_address"] = slots["new_address"] = u.address_reply
            return self._advance(pending, pending["order_number"], state, slots, intent, u.confidence)
        if u.order_numbers and u.order_numbers[0] != pending.get("order_number"):
            return self._advance(pending, u.order_numbers[0], state, slots, intent, u.confidence)
        if step == "order_number" and u.malformed_numbers:
            text = self.templates.message("invalid_order_number", given=u.malformed_numbers[0])
            return Outcome(text, intent, u.confidence)
        answer = u.yes_no(flow)
        if step == "confirm":
            if flow == "change_address" and u.address and answer is None:
                pending["new_address"] = slots["new_address"] = u.address
                return self._advance(pending, pending["order_number"], state, slots, intent, u.confidence)
            if answer == "yes":
                return self._execute(pending, state, slots, u)
            if answer == "no":
                return self._abort(pending, state, slots, u)
            if u.plain_answer is not None and u.intent in YES_NO_INTENTS:
                # "yes" read as deny (or the reverse): ask the same question again rather than act.
                return self._advance(pending, pending["order_number"], state, slots, None, u.confidence)
        elif answer == "no":
            self._clear(state, slots)
            return Outcome(self.templates.message("flow_dropped"), u.intent or "deny", u.confidence)
        return None

    def _start(self, flow: str, u: Understanding, state: dict, slots: dict) -> Outcome:
        pending: dict[str, Any] = {"flow": flow, "step": "order_number", "ignored": 0}
        slots.pop("new_address", None)
        if flow == "change_address" and u.address:
            pending["new_address"] = slots["new_address"] = u.address
        number = u.order_numbers[0] if u.order_numbers else slots.get("order_number")
        if number is None:
            state["pending"] = pending
            if u.malformed_numbers:
                return Outcome(self.templates.message("invalid_order_number", given=u.malformed_numbers[0]), flow, u.confidence)
            return Outcome(self.templates.message("ask_order_number", flow), flow, u.confidence)
        return self._advance(pending, number, state, slots, flow, u.confidence)

    def _advance(self, pending: dict, number: str, state: dict, slots: dict, intent: str | None, confidence: float) -> Outcome:
        """Look the order up and move the flow to its next step."""
        flow = pending["flow"]
        order = self.orders.get(number)
        if order is None:
            pending.update(step="order_number", order_number=None)
            state["pending"] = pending
            return Outcome(self.templates.message("unknown_order", order_number=number), intent, confidence)
        self._remember(order, state, slots)
        pending.update(order_number=number, ignored=0)
        values = order_values(order) | {"new_address": pending.get("new_address")}
        outcome = Outcome("", intent, confidence)
        if flow == "order_status" or order.status == "cancelled":
            outcome.text = self._status(order)
            # A late order gets the offer of a person, who can trace it with the carrier.
            outcome.offers_human = self._is_late(order)
            self._clear(state, slots)
        elif not order.changeable:
            key = "cannot_cancel" if flow == "cancel_order" else "cannot_change_address"
            outcome.text = self.templates.message(key, **values)
            outcome.offers_human = flow == "change_address"
            if order.status in IN_TRANSIT_STATUSES:
                state["refusal"] = {"flow": flow, "values": {name: values[name] for name in ("order_number", "status", "carrier")}}
            self._clear(state, slots)
        else:
            if flow == "cancel_order":
                pending["step"], key = "confirm", "confirm_cancel"
            elif pending.get("new_address"):
                pending["step"], key = "confirm", "confirm_address"
            else:
                pending["step"], key = "new_address", "ask_new_address"
            outcome.text = self.templates.message(key, **values)
            state["pending"] = pending
        return outcome

    @staticmethod
    def _remember(order: Order, state: dict, slots: dict) -> None:
        slots["order_number"] = order.number
        if order.customer_name and not state.get("name_given"):  # the name they gave us wins
            state["customer_name"] = order.customer_name

    def _is_late(self, order: Order) -> bool:
        """Whether the order is still on its way after its estimated delivery date."""
        return (
            order.status in UNDELIVERED_STATUSES
            and order.estimated_delivery is not None
            and date.fromisoformat(order.estimated_delivery) < self.orders.today()
        )

    def _status(self, order: Order) -> str:
        status = f"{order.status}_late" if self._is_late(order) else order.status
        if not self.templates.has_message("status", status):
            status = order.status if self.templates.has_message("status", order.status) else "other"
        return self.templates.message("status", status, **order_values(order))

    def _execute(self, pending: dict, state: dict, slots: dict, u: Understanding) -> Outcome:
        number, flow = pending["order_number"], pending["flow"]
        if flow == "cancel_order":
            done = self.orders.cancel(number)
            success_key, values = "cancelled", {"order_number": number}
        else:
            done = self.orders.change_address(number, pending["new_address"])
            success_key, values = "address_changed", {"order_number": number, "new_address": pending["new_address"]}
        self._clear(state, slots)
        if done:
            return Outcome(self.templates.message(success_key, **values), u.intent or "affirm", u.confidence)
        # The order changed since we asked (it shipped meanwhile): say what it is now.
        order = self.orders.get(number)
        key = "cannot_cancel" if flow == "cancel_order" else "cannot_change_address"
        return Outcome(self.templates.message(key, **order_values(order)), u.intent or "affirm", u.confidence)

    def _abort(self, pending: dict, state: dict, slots: dict, u: Understanding) -> Outcome:
        order = self.orders.get(pending["order_number"])
        key = "cancel_kept" if pending["flow"] == "cancel_order" else "address_kept"
        self._clear(state, slots)
        return Outcome(self.templates.message(key, **order_values(order)), u.intent or "deny", u.confidence)

    @staticmethod
    def _clear(state: dict, slots: dict) -> None:
        state.pop("pending", None)
        slots.pop("new_address", None)

    def _reminder(self, state: dict) -> str | None:
        """A nudge about the unfinished flow, or None (and the flow dropped) once ignored too often."""
        pending = state.get("pending")
        if not pending:
            return None
        pending["ignored"] = pending.get("ignored", 0) + 1
        if pending["ignored"] > MAX_IGNORED_TURNS:
            state.pop("pending")
            return None
        flow, step = pending["flow"], pending["step"]
        values = {"order_number": pending.get("order_number"), "new_address": pending.get("new_address")}
        if step == "order_number":
            task = self.templates.message("tasks_without_number", flow)
        else:
            task = self.templates.message("tasks", flow, **values)
        return self.templates.message("remind", step, task=task, **values)

    def _with_reminder(self, outcome: Outcome, state: dict) -> Outcome:
        if not outcome.offers_human and (reminder := self._reminder(state)):
            outcome.text = f"{outcome.text}\n\n{reminder}"
        return outcome

    # -- new topics ------------------------------------------------------------------------

    def _new_topic(self, u: Understanding, state: dict, slots: dict) -> Outcome:
        flow = u.intent if u.intent in FLOWS else None
        if flow is None and u.intent is None and u.order_numbers:
            flow = "order_status"  # a bare order number: the most common reason to send one
        if u.intent is None and u.name and not u.order_numbers:
            u.intent = GREETING_INTENT  # "my name is Tom" on its own: say hello
        if u.intent in YES_NO_INTENTS:
            # Nothing awaits a yes/no, so "ok, cancel it" (read as deny, like "cancel that") is a
            # request; the flow confirms before it changes anything.
            flow = next((f for f in CONFIRMED_FLOWS if mentions_flow(f, u.text)), None)
        if flow:
            earlier, earlier_address = state.get("pending"), slots.get("new_address")
            outcome = self._start(flow, u, state, slots)
            if earlier and "pending" not in state and earlier["flow"] != flow:
                # The new question was answered at once: resume the earlier flow.
                state["pending"] = earlier
                if earlier_address:
                    slots["new_address"] = earlier_address
                return self._with_reminder(outcome, state)
            return outcome
        if u.intent == COMPLAINT_INTENT:
            outcome = Outcome(self.templates.message("complaint"), u.intent, u.confidence, offers_human=True)
        elif u.intent in self.templates.intents:
            text = self.templates.intents[u.intent].format(**self._name_values(state))
            outcome = Outcome(text, u.intent, u.confidence)
        else:
            outcome = self._from_documents(u, state)
            order = self.orders.get(u.order_numbers[0]) if u.order_numbers else None
            if order is not None:
                self._remember(order, state, slots)
                outcome.text = f"{self._status(order)}\n\n{outcome.text}"
            elif u.order_numbers:  # an agent would say so before answering the rest
                outcome.text = f"{self.templates.message('unknown_order', order_number=u.order_numbers[0])}\n\n{outcome.text}"
        return self._with_reminder(outcome, state)

    def _from_documents(self, u: Understanding, state: dict) -> Outcome:
        found = self.documents.answer(u.text, u.intent)
        if found is None:
            return Outcome(self.templates.message("not_confident"), u.intent, u.confidence, offers_human=True)
        outcome = Outcome(found.text, u.intent, u.confidence if u.intent else found.confidence, found.evidence)
        outcome.offers_human = not found.exact or found.offers_human
        if found.exact:
            state["last_question"] = {"text": u.text, "intent": u.intent}
        return outcome

    def follow_up_answer(self, u: Understanding, last_question: dict | None) -> DocumentAnswer | None:
        """The help pages' exact answer to a short follow-up to the question just answered ("what about
        express?", "do they expire?"), asked together with it; None when there is none, and the message
        is read on its own. Requests of their own (an order flow, a person, an order number) never are."""
        if last_question is None or u.order_numbers or u.intent in (*FLOWS, HUMAN_INTENT):
            return None
        topic = u.follow_up or self._unplaced_question(u)
        if topic is None:
            return None
        found = self.documents.answer(f"{last_question['text']} {u.text}", last_question["intent"], about=topic)
        return found if found is not None and found.exact else None

    def _unplaced_question(self, u: Understanding) -> str | None:
        """A short question the intent model cannot place ("how long does the link last?" after a password
        reset, read as contact_info at 0.67) may be about the last answer too: its words are the topic."""
        if len(u.text.split()) > MAX_FOLLOW_UP_WORDS or is_report(u.text):
            return None
        small_talk = u.intent in self.templates.intents and u.confidence < PLACED_CONFIDENCE
        return u.text.strip().rstrip("?!. ") if u.intent is None or small_talk else None

    def _follow_up(self, u: Understanding, last_question: dict | None, state: dict) -> Outcome | None:
        found = self.follow_up_answer(u, last_question)
        if found is None:
            return None
        state["last_question"] = last_question
        outcome = Outcome(found.text, last_question["intent"], found.confidence, found.evidence, offers_human=found.offers_human)
        return self._with_reminder(outcome, state)

    def _refusal_reason(self, refusal: dict) -> str:
        """Why the order could not be cancelled or re-addressed; USPS cannot redirect a package at all."""
        key = refusal["flow"]
        if key == "change_address" and refusal["values"]["carrier"] == "USPS":
            key = "change_address_usps"
        return self.templates.message("refusal_reason", key, **refusal["values"])

    def _your_name(self, state: dict) -> str:
        """What the session knows of the customer's name: given in chat, or on the last order looked up."""
        name = state.get("customer_name")
        key = "unknown" if not name else "given" if state.get("name_given") else "from_order"
        return self.templates.message("your_name", key, name=name)

    @staticmethod
    def _name_values(state: dict) -> dict[str, str]:
        first = (state.get("customer_name") or "").split(" ")[0]
        return {"name": first or "there", "comma_name": f", {first}" if first else ""}
