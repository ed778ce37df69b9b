"""Order numbers, addresses and plain yes/no read from the message text."""

from __future__ import annotations

import pytest

from plugins.customer_service.cues import (
    asks_own_name, asks_why, find_address, find_order_numbers, follow_up_topic, is_report, is_shouting, mentions_flow,
    plain_yes_no,
)


@pytest.mark.parametrize(
    ("text", "valid", "malformed"),
    [
        ("10004", ["10004"], []),
        ("oh sorry, it's #10031.", ["10031"], []),
        ("1234", [], ["1234"]),
        ("NW-104582", [], ["104582"]),
        ("orders 10004 and 10005", ["10004", "10005"], []),
        ("it cost $54.20 and 12,500 points, 99.99% sure", [], []),
        ("tracking 1Z8TN9VJ6978809320", [], []),
    ],
)
def test_order_numbers(text, valid, malformed):
    assert find_order_numbers(text) == (valid, malformed)


def test_zip_codes_inside_an_address_are_not_order_numbers():
    text = "change order 10036 to 15 Front Street West, Toronto, ON 12345"
    address, start, end = find_address(text)
    assert address == "15 Front Street West, Toronto, ON 12345" and text[start:end] == address
    assert find_order_numbers(text, skip=(start, end)) == (["10036"], [])


@pytest.mark.parametrize(
    ("text", "expecting", "address"),
    [
        ("52 Peachtree Place NW, Atlanta, GA 30309", True, "52 Peachtree Place NW, Atlanta, GA 30309"),
        ("it's 221B Baker Street, London.", True, "221B Baker Street, London"),
        ("the new address is 9 Linden Court, Seattle", True, "9 Linden Court, Seattle"),
        ("send it to 12 oak st please", False, "12 oak st please"),
        ("10004", True, None),
        ("10004, thanks", True, None),
        ("what is your phone number", True, None),
        ("I moved, can you send order 10015 to my new address?", False, None),
        ("52 Peachtree Place NW, Atlanta", False, None),
    ],
)
def test_addresses(text, expecting, address):
    found = find_address(text, expecting=expecting)
    assert (found[0] if found else None) == address


@pytest.mark.parametrize(
    ("text", "answer"),
    [
        ("yes", "yes"),
        ("Yes, please go ahead with it", "yes"),
        ("ok", "yes"),
        ("no, keep it actually", "no"),
        ("actually no, don't change anything", "no"),
        ("hmm no, leave it", "no"),
        ("never mind", "no"),
        ("oh sorry, it's 10031", None),
        ("yes but first tell me how long shipping to Canada takes", None),
    ],
)
def test_plain_yes_no(text, answer):
    assert plain_yes_no(text) == answer


def test_flow_cues():
    assert mentions_flow("cancel_order", "please cancel order 10012 instead")
    assert not mentions_flow("cancel_order", "where is it")
    assert mentions_flow("change_address", "send it to my new address")


def test_a_request_mentioning_an_address_is_not_itself_an_address():
    assert find_address("change the address of order 10036 to 15 Front Street West", expecting=True) is None
    assert find_address("Flat 2, 10 Downing Street, London", expecting=True)[0] == "Flat 2, 10 Downing Street, London"


def test_shouting():
    assert is_shouting("WHERE IS MY REFUND, IT HAS BEEN THREE WEEKS")
    assert not is_shouting("where is my refund, it has been three weeks")
    assert not is_shouting("OK")
    assert not is_shouting("I ordered the USB-C hub from NW")


@pytest.mark.parametrize(
    ("text", "asks"),
    [("what's my name?", True), ("Do you remember my name", True), ("what is my name on the order", True),
     ("my name is Tom", False), ("what's the name of the courier", False)],
)
def test_asks_own_name(text, asks):
    assert asks_own_name(text) is asks


@pytest.mark.parametrize(
    ("text", "asks"),
    [("why not?", True), ("but why", True), ("How come?", True), ("ok why?", True), ("why can't i?", True),
     ("why is my refund late?", False), ("why not cancel it", False), ("no", False)],
)
def test_asks_why(text, asks):
    assert asks_why(text) is asks


@pytest.mark.parametrize(
    ("text", "report"),
    [("my kettle arrived broken", True), ("you sent me the wrong size", True), ("payment keeps failing at checkout", True),
     ("the package never arrived", True), ("my order arrived damaged, what do i do?", False), ("how do i report damage", False),
     ("hi, can you help with a broken mug", False), ("tell me the return window", False), ("so what happens now", False),
     ("i'd like to know if damage is covered", False), ("Is my order late", False),
     ("it's been 16 days since it was marked delivered, can i still report it", False),
     ("my order went in at 3pm, why didnt it ship today", False), ("it broke and why is that my problem", False),
     ("the lamp arrived and is broken", True), ("got it today and have to send it back", True)],
)
def test_a_report_is_a_statement_not_a_question(text, report):
    assert is_report(text) is report


@pytest.mark.parametrize(
    ("text", "topic"),
    [("what about express?", "express"), ("and for canada?", "for canada"), ("ok and to the uk", "to the uk"),
     ("thanks, how about apple pay?", "apple pay"), ("do they expire?", "do they expire"),
     ("how much does it cost?", "how much does it cost"), ("and if i paid with a gift card?", "if i paid with a gift card"),
     ("how many planets are there?", None), ("can i change my password?", None), ("ok do it", None), ("yes, cancel it", None), ("ok and go ahead", None),
     ("that is terrible service", None), ("and what if the item i ordered as a gift arrives after the party?", None)],
)
def test_a_follow_up_leans_on_the_last_question(text, topic):
    assert follow_up_topic(text) == topic
