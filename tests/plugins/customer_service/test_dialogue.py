"""The conversation state machine: order flows, confirmations, topic switches, memory and handoff policy.

These run without models: each message is given with the intent (and anger) a model would
report, and the order flows work on a real SQLite orders database built from the bundled seed.
"""

from __future__ import annotations

import json

import pytest

from assistant.contract import Evidence
from plugins.customer_service.dialogue import MAX_IGNORED_TURNS, Dialogue, DocumentAnswer, Understanding
from plugins.customer_service.orders import OrderBook
from plugins.customer_service.plugin import DATA
from plugins.customer_service.templates import Templates

PASSAGE = "Express | 1–2 business days | $14.99"


class KnownQuestions:
    """Answers questions about express shipping from a fixed passage, and reports a damaged item with an offer of a person.
    Keeps what it was asked, with the follow-up topic, in ``asked``."""

    def __init__(self):
        self.asked = []

    def answer(self, question, intent, about=None):
        self.asked.append((question, intent, about))
        if intent == "damaged_item":
            return DocumentAnswer(text="Contact us within 7 days. If you'd like a member of our team to take it from here, just "
                                       "reply yes.", evidence=[], confidence=0.9, offers_human=True)
        if "express" not in question.lower():
            return None
        start = PASSAGE.index("$14.99")
        evidence = Evidence("shipping-rates.md#1", "shipping-rates.md", PASSAGE, 0.9, 0, len(PASSAGE), start, start + 6)
        return DocumentAnswer(text="About shipping: Express costs $14.99.", evidence=[evidence], confidence=0.9)


class Chat:
    """One session: feeds messages through the dialogue and keeps state and slots like the engine does."""

    def __init__(self, dialogue: Dialogue):
        self.dialogue = dialogue
        self.state: dict = {}
        self.slots: dict = {}

    def say(self, text: str, intent: str | None = None, angry: bool = False, confidence: float = 0.9):
        outcome = self.dialogue.respond(Understanding.read(text, intent, confidence, angry), self.state, self.slots)
        json.dumps(self.state), json.dumps(self.slots)  # must stay JSON-serialisable for the session store
        return outcome


@pytest.fixture
def orders(tmp_path):
    return OrderBook.open(tmp_path, DATA / "orders.json")


@pytest.fixture
def chat(orders):
    return Chat(Dialogue(orders, Templates.load(DATA / "templates.json"), KnownQuestions()))


def test_order_status_asks_validates_and_answers(chat):
    assert "order number" in chat.say("where is my order?", "order_status").text
    assert "5 digits" in chat.say("1234").text
    unknown = chat.say("10099")
    assert "10099" in unknown.text and "can't find" in unknown.text
    assert "order_number" not in chat.slots
    answer = chat.say("oh sorry, it's 10004").text
    assert all(part in answer for part in ("shipped", "UPS", "1Z8TN9VJ6978809320"))
    assert chat.slots["order_number"] == "10004" and "pending" not in chat.state


def test_status_with_number_up_front_and_a_bare_number(chat):
    assert "out for delivery" in chat.say("can you check order 10009?", "order_status").text
    reply = chat.say("10024")
    assert "delivered" in reply.text and "USPS" in reply.text and reply.intent == "order_status"


def late_chat(tmp_path, as_of: str) -> Chat:
    seed = json.loads((DATA / "orders.json").read_text(encoding="utf-8")) | {"as_of": as_of}
    (tmp_path / "seed.json").write_text(json.dumps(seed), encoding="utf-8")
    orders = OrderBook.open(tmp_path / "late", tmp_path / "seed.json")
    return Chat(Dialogue(orders, Templates.load(DATA / "templates.json"), KnownQuestions()))


def test_an_order_past_its_estimated_delivery_is_called_late_and_a_person_offered(tmp_path, chat):
    on_time = chat.say("where is order 10015?", "order_status")  # the demo's day: due in two days
    assert "Estimated delivery: Tuesday, November 24" in on_time.text and not on_time.offers_human
    late = late_chat(tmp_path, "2026-12-07")
    reply = late.say("where is order 10015?", "order_status")
    assert "USPS" in reply.text and "running late" in reply.text and reply.offers_human
    assert late.say("yes", "affirm").handoff_reason == "the customer accepted the offer of a person"
    delivered = late.say("and order 10024?", "order_status")
    assert "delivered" in delivered.text and "late" not in delivered.text


def test_the_session_remembers_the_customers_name(chat):
    assert "haven't told me" in chat.say("what's my name?", "contact_info").text
    chat.say("hey my name is Priya")
    chat.say("where is my order 10023", "order_status")  # an order in another name does not override it
    assert chat.say("what's my name?", "contact_info").text == "You told me your name is Priya."


def test_the_name_on_a_looked_up_order_is_not_taken_for_the_customers_own(chat):
    chat.say("where is my order 10023", "order_status")
    assert "in the name of" in chat.say("do you know my name", None).text


def test_why_not_after_a_refusal_gets_the_reason(chat):
    chat.say("can i cancel order 10004", "cancel_order")
    assert chat.dialogue.answers_pending(Understanding.read("why?", None, 0.3), chat.state)  # routed here whatever the intent
    reason = chat.say("why not?", "deny")
    assert "a shipped order can't be stopped" in reason.text and "UPS" in reason.text and reason.handoff_reason is None
    # only right after the refusal: later, "why not?" is read as usual
    assert "can't be stopped" not in chat.say("why not?", "deny").text
    chat.say("please send order 10015 to 1 Elm Street, Springfield", "change_address")
    redirect = chat.say("how come?", "bot_capabilities")
    assert "USPS packages can't be redirected" in redirect.text and redirect.offers_human
    chat.say("change the address of order 10004 to 1 Elm Street, Springfield", "change_address")
    assert "UPS redirects packages" in chat.say("how come?", None).text


def test_cancel_writes_only_after_yes(chat, orders):
    chat.say("I want to cancel my order", "cancel_order")
    question = chat.say("10007").text
    assert "Cancel order 10007 (1 item, $59.90)?" in question
    assert orders.get("10007").status == "processing"
    done = chat.say("yes", "affirm")
    assert "cancelled" in done.text and done.intent == "affirm"
    assert orders.get("10007").status == "cancelled"
    assert orders.events("10007") == [("cancelled", "cancelled by the customer in chat")]
    assert "cancelled" in chat.say("check order 10007 again", "order_status").text


def test_plain_yes_is_understood_when_the_model_abstains(chat, orders):
    chat.say("cancel order 10012", "cancel_order")
    chat.say("yep")
    assert orders.get("10012").status == "cancelled"


def test_deny_keeps_the_order(chat, orders):
    chat.say("please cancel order 10012", "cancel_order")
    reply = chat.say("no, keep it actually", "deny")
    assert "10012" in reply.text and reply.intent == "deny"
    assert orders.get("10012").status == "processing" and orders.events("10012") == []
    assert "pending" not in chat.state
    assert orders.get("10012").status == "processing"


def test_shipped_order_cannot_be_cancelled(chat, orders):
    reply = chat.say("cancel my order 10004", "cancel_order")
    assert "shipped" in reply.text and "pending" not in chat.state
    chat.say("yes", "affirm")
    assert orders.get("10004").status == "shipped"


def test_change_address_asks_confirms_and_writes(chat, orders):
    assert "order number" in chat.say("I need to change the delivery address on my order", "change_address").text
    assert "10021" in chat.say("10021").text
    address = "52 Peachtree Place NW, Atlanta, GA 30309"
    confirm = chat.say(address)
    assert address in confirm.text and "yes or no" in confirm.text
    assert chat.slots == {"order_number": "10021", "new_address": address}  # the ZIP code is not an order number
    assert orders.get("10021").address != address
    assert address in chat.say("yes please", "affirm").text
    assert orders.get("10021").address == address
    assert "new_address" not in chat.slots


def test_change_address_in_one_message_then_declined(chat, orders):
    old = orders.get("10036").address
    confirm = chat.say("change the address of order 10036 to 15 Front Street West, Toronto, ON M5J 2N1", "change_address")
    assert "15 Front Street West" in confirm.text and old in confirm.text
    kept = chat.say("actually no, don't change anything", "deny")
    assert old in kept.text and orders.get("10036").address == old


def test_shipped_order_address_cannot_change_and_a_person_is_offered(chat):
    reply = chat.say("I moved, can you send order 10015 to my new address?", "change_address")
    assert "shipped" in reply.text and reply.offers_human
    assert chat.say("yes", "affirm").handoff_reason is not None


def test_topic_switch_keeps_the_flow_and_the_number_resumes_it(chat, orders):
    chat.say("cancel my order please", "cancel_order")
    side = chat.say("wait, how much does express shipping cost?", "shipping_info")
    assert "$14.99" in side.text and side.evidence[0].answer == "$14.99"
    assert "still need your order number" in side.text
    assert "10033" in chat.say("10033").text
    assert chat.state["pending"]["ignored"] == 0  # progress resets the reminder count
    chat.say("yes, go ahead", "affirm")
    assert orders.get("10033").status == "cancelled"


def test_topic_switch_during_confirmation_then_later_yes(chat, orders):
    chat.say("I'd like to cancel order 10040", "cancel_order")
    side = chat.say("what's your phone number?", "contact_info")
    assert "1-800-555-0142" in side.text and "cancel order 10040" in side.text
    chat.say("yes", "affirm")
    assert orders.get("10040").status == "cancelled"


def test_a_quick_status_question_mid_flow_resumes_the_flow(chat, orders):
    chat.say("I need to change the address on order 10012", "change_address")
    status = chat.say("where is order 10004?", "order_status")
    assert "UPS" in status.text and "new delivery address for order 10012" in status.text
    chat.say("9 Linden Court, Seattle, WA 98103")
    chat.say("yes", "affirm")
    assert orders.get("10012").address == "9 Linden Court, Seattle, WA 98103"


def test_another_flow_replaces_the_pending_one(chat, orders):
    chat.say("change the address of order 10021", "change_address")
    chat.say("please cancel order 10012 instead", "cancel_order")
    assert chat.state["pending"]["flow"] == "cancel_order"
    chat.say("yes", "affirm")
    assert orders.get("10012").status == "cancelled" and orders.get("10021").status == "processing"


def test_number_given_earlier_is_reused(chat, orders):
    chat.say("what's the status of order 10036?", "order_status")
    chat.say("how much does express shipping cost?", "shipping_info")
    chat.say("thanks", "thanks")
    assert "10036" in chat.say("ok please cancel it", "cancel_order").text
    chat.say("hmm no, leave it", "deny")
    assert orders.get("10036").status == "processing"
    assert "10036" in chat.say("and when will that order arrive?", "order_status").text


def test_a_help_page_question_naming_an_order_gets_its_status_first_and_keeps_the_number(chat, orders):
    reply = chat.say("order 10009 is coming by express, how much did that cost?", "shipping_info")
    status, answer = reply.text.split("\n\n")
    assert "order 10009" in status and "out for delivery" in status
    assert answer == "About shipping: Express costs $14.99." and reply.evidence[0].source == "shipping-rates.md"
    assert chat.slots["order_number"] == "10009" and "pending" not in chat.state
    assert chat.say("thanks", "thanks").text.startswith("You're welcome, Hannah!")
    # a number that is no order is said to be unknown before the answer, and the known one is kept
    unknown, answer = chat.say("is express faster for order 10099?", "shipping_info").text.split("\n\n")
    assert unknown.startswith("I can't find an order with the number 10099") and answer == "About shipping: Express costs $14.99."
    assert chat.slots["order_number"] == "10009"


def test_ignored_confirmation_expires(chat, orders):
    chat.say("cancel order 10007", "cancel_order")
    for _ in range(MAX_IGNORED_TURNS + 1):
        chat.say("hello", "greeting")
    assert "pending" not in chat.state
    chat.say("yes", "affirm")
    assert orders.get("10007").status == "processing"


def test_templates_use_the_customer_name_once_known(chat):
    assert chat.say("hi", "greeting").text.startswith("Hi there!")
    chat.say("status of 10007", "order_status")
    assert chat.say("thanks", "thanks").text.startswith("You're welcome, Priya!")


def test_a_name_the_customer_gives_is_used_and_outlasts_their_orders(chat):
    assert chat.say("my name is tom").text.startswith("Hi Tom!")  # the model found no intent: a hello
    chat.say("status of 10007", "order_status")  # Priya's order
    chat.say("how much is express?", "shipping_info")
    assert chat.say("thanks", "thanks").text.startswith("You're welcome, Tom!")
    assert chat.say("hi, I'm Sarah", "greeting").text.startswith("Hi Sarah!")


@pytest.mark.parametrize(
    ("text", "name"),
    [("hey, my name is Tom", "Tom"), ("MY NAME IS TOM", "Tom"), ("hello, I am Jean-Luc", "Jean-Luc"), ("call me ann", "Ann"),
     ("i'm furious", None), ("This is Ridiculous", None), ("HI I'M FURIOUS", None), ("my name is not important", None),
     ("what is my name on the account", None)],
)
def test_introductions_are_read_and_other_sentences_are_not(text, name):
    assert Understanding.read(text, None, 0.0).name == name


def test_explicit_request_for_a_person_hands_off_at_once(chat):
    chat.say("cancel order 10007", "cancel_order")
    outcome = chat.say("can I talk to a human please?", "human_agent")
    assert outcome.handoff_reason == "the customer asked for a person"
    assert "pending" not in chat.state


def test_an_unsure_request_for_a_person_is_confirmed_before_the_handoff(chat):
    asked = chat.say("and express?", "human_agent", confidence=0.58)
    assert asked.handoff_reason is None and asked.offers_human and "member of our team" in asked.text
    assert chat.say("yes", "affirm").handoff_reason == "the customer accepted the offer of a person"
    chat.say("and express?", "human_agent", confidence=0.58)
    assert chat.say("no", "deny").handoff_reason is None


def test_angry_customer_is_offered_a_person_and_can_accept(chat):
    first = chat.say("This is ridiculous, my order is two weeks late!!", "order_status", angry=True)
    assert first.handoff_reason is None and "sorry" in first.text.lower() and "team" in first.text
    assert "order number" in first.text  # the request itself is still served
    assert chat.say("yes", "affirm").handoff_reason == "the customer accepted the offer of a person"


def test_anger_during_a_confirmation_leaves_the_yes_to_the_confirmation(chat, orders):
    chat.say("can i cancel order 10007", "cancel_order")
    worried = chat.say("wait, how much is express shipping?", None, angry=True)
    assert "cancel order 10007" in worried.text and "say so" in worried.text and not worried.offers_human
    done = chat.say("ok go ahead", "affirm")
    assert done.handoff_reason is None and orders.get("10007").status == "cancelled"


def test_angry_customer_can_decline_and_carry_on(chat):
    chat.say("you people are useless, my package is late AGAIN", None, angry=True)
    declined = chat.say("no thanks", "deny")
    assert declined.handoff_reason is None and declined.intent == "deny"
    assert "FedEx" in chat.say("where is order 10038?", "order_status").text


def test_staying_angry_hands_off(chat):
    chat.say("WHERE IS MY REFUND, IT HAS BEEN THREE WEEKS", None, angry=True)
    chat.say("no", "deny")
    assert chat.say("this is a joke, I'm so done with you", None, angry=True).handoff_reason == "the customer is still frustrated"


def test_unanswerable_question_says_so_and_offers_a_person(chat):
    outcome = chat.say("what's the weather like in Chicago tomorrow?")
    assert "not sure" in outcome.text and outcome.offers_human and outcome.handoff_reason is None
    assert chat.say("never mind", "deny").handoff_reason is None
    assert "offer" not in chat.state


def test_an_address_alone_is_not_read_as_an_order_number(chat):
    outcome = chat.say("9 Linden Court, Seattle, WA 98103")
    assert "98103" not in outcome.text and "order_number" not in chat.slots


def test_no_words_win_over_a_contradicting_model(chat, orders):
    chat.say("please cancel order 10012", "cancel_order")
    kept = chat.say("no, keep it actually", "affirm")  # the intent model misread the reply
    assert "10012" in kept.text and orders.get("10012").status == "processing"
    chat.say("cancel order 10012", "cancel_order")
    unclear = chat.say("yes", "deny")  # words and model disagree: ask again rather than act
    assert "yes or no" in unclear.text and orders.get("10012").status == "processing"
    chat.say("no problem, go ahead", "affirm")
    assert orders.get("10012").status == "cancelled"


def test_a_request_read_as_yes_or_no_starts_its_flow_when_nothing_was_asked(chat, orders):
    chat.say("what's the status of order 10036?", "order_status")
    confirm = chat.say("ok please cancel it", "deny")  # "cancel that" is deny data; nothing is pending here
    assert "Cancel order 10036" in confirm.text
    chat.say("hmm no, leave it", "deny")
    assert orders.get("10036").status == "processing"


def test_angry_complaint_gets_one_apology_and_the_offer(chat):
    outcome = chat.say("this is RIDICULOUS, I want to complain about your service", "complaint", angry=True)
    assert outcome.text.count("sorry") == 1 and "1 business day" in outcome.text and outcome.offers_human
    assert chat.say("yes", "affirm").handoff_reason == "the customer accepted the offer of a person"


def test_a_document_answer_that_offers_a_person_hands_off_on_yes(chat):
    reported = chat.say("my kettle arrived broken", "damaged_item")
    assert reported.offers_human and reported.handoff_reason is None
    assert chat.say("yes please", "affirm").handoff_reason is not None


def test_a_follow_up_is_asked_with_the_question_it_follows(chat):
    documents = chat.dialogue.documents
    chat.say("how much is express shipping?", "shipping_info")
    followed = chat.say("and to canada?", "deny", confidence=0.69)  # the model's guess for a bare "and to ..."
    assert documents.asked[-1] == ("how much is express shipping? and to canada?", "shipping_info", "to canada")
    assert followed.text == "About shipping: Express costs $14.99." and followed.intent == "shipping_info"
    # Follow-ups chain on the first question, and a request of its own is never one.
    chat.say("what about the uk?", "bot_capabilities")
    assert documents.asked[-1] == ("how much is express shipping? what about the uk?", "shipping_info", "the uk")
    chat.say("and cancel order 10012", "cancel_order")
    assert documents.asked[-1][0] == "how much is express shipping? what about the uk?"


def test_without_an_answered_question_a_follow_up_is_read_on_its_own(chat):
    chat.say("what's the return window?", "return_item")  # the pages had no answer
    outcome = chat.say("what about express?", "bot_capabilities")
    assert [about for _, _, about in chat.dialogue.documents.asked] == [None] and outcome.intent == "bot_capabilities"


def test_a_follow_up_after_an_offer_of_a_person_is_not_a_yes(chat):
    chat.say("what's the weather like in Chicago tomorrow?")  # "not sure", and the offer of a person
    assert chat.say("ok and for canada?", "affirm").handoff_reason is None


def test_a_follow_up_the_pages_cannot_answer_is_no_yes_or_no(chat, orders):
    chat.say("how long do refunds take?", "refund_status")  # not answered by the fixed pages here
    outcome = chat.say("and for canada?", "deny", confidence=0.69)
    assert outcome.intent is None and "not sure" in outcome.text
    chat.say("what's the status of order 10036?", "order_status")
    assert "Cancel order 10036" in chat.say("ok and cancel it", "deny").text  # a request in a continuation still counts


def test_a_short_question_the_intent_model_cannot_place_is_tried_as_a_follow_up(chat):
    documents = chat.dialogue.documents
    chat.say("how much is express shipping?", "shipping_info")
    chat.say("how long does the link last?", "contact_info", confidence=0.67)
    assert documents.asked[-1] == ("how much is express shipping? how long does the link last?", "shipping_info",
                                   "how long does the link last")
    chat.say("how much is express shipping?", "shipping_info")
    calls = len(documents.asked)
    assert chat.say("thanks, that's all", "thanks", confidence=0.99).intent == "thanks" and len(documents.asked) == calls
