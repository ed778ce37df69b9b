"""Tickets must not leak e-mail addresses, phone numbers or card numbers, but keep what agents need."""

from __future__ import annotations

import pytest

from plugins.customer_service.masking import mask_pii


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("write to jane.doe+shop@example.co.uk please", "write to [email] please"),
        ("card 4111 1111 1111 1111 was declined", "card [card ending 1111] was declined"),
        ("4111-1111-1111-1234", "[card ending 1234]"),
        ("my card is 5500005555555559.", "my card is [card ending 5559]."),
        ("amex 3782 822463 10005", "amex [card ending 0005]"),
        ("call +1 (555) 123-4567 today", "call [phone] today"),
        ("or 555-123-4567", "or [phone]"),
        ("uk: 07700 900123, london +44 20 7946 0958.", "uk: [phone], london [phone]."),
        ("my number is 5551234567", "my number is [phone]"),
    ],
)
def test_personal_data_is_masked(text, masked):
    assert mask_pii(text) == masked


@pytest.mark.parametrize(
    "text",
    [
        "order 10004 costs $54.20",
        "it arrived on 2024-05-03",
        "tracking 1Z999AA10123456784",
        "tracking 9400111899223856123456",
        "orders 10004 10005 and 10006",
        "I waited 45 minutes",
    ],
)
def test_order_numbers_prices_dates_and_tracking_codes_survive(text):
    assert mask_pii(text) == text


def test_several_kinds_in_one_message():
    text = "I'm bob@mail.com, 555-867-5309, card 4000 0566 5566 5556, order 10007"
    assert mask_pii(text) == "I'm [email], [phone], card [card ending 5556], order 10007"
