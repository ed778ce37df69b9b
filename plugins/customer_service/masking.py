"""Mask personal data before a transcript leaves the conversation (handoff tickets).

Card numbers keep their last four digits so an agent can still match a payment;
e-mail addresses and phone numbers are replaced outright. Order numbers (5 digits),
prices, dates and tracking codes are left alone because agents need them.
"""

from __future__ import annotations

import re

EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)*\.[A-Za-z]{2,}")
#: 13–19 digits, optionally grouped by spaces or dashes, not part of a longer number.
CARD = re.compile(r"(?<![\d-])\d(?:[ -]?\d){12,18}(?![\d-]|[ -]\d)")
#: An optional +country code, an optional (area code), then 2–5 groups of digits.
PHONE = re.compile(r"(?<![\w+])(?:\+\d{1,3}[\s.-]?)?(?:\(\d{1,5}\)[\s.-]?)?\d{2,5}(?:[\s.-]?\d{2,5}){1,4}(?![\w-])")
ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _mask_card(match: re.Match) -> str:
    digits = re.sub(r"\D", "", match.group())
    return f"[card ending {digits[-4:]}]"


def _mask_phone(match: re.Match) -> str:
    text = match.group()
    digits = re.sub(r"\D", "", text)
    groups = re.findall(r"\d+", text)
    looks_like_order_numbers = not text.startswith(("+", "(")) and all(len(g) == 5 for g in groups)
    if not 7 <= len(digits) <= 15 or ISO_DATE.fullmatch(text) or looks_like_order_numbers:
        return text
    return "[phone]"


def mask_pii(text: str) -> str:
    """Return ``text`` with e-mail addresses, card numbers and phone numbers masked."""
    text = EMAIL.sub("[email]", text)
    text = CARD.sub(_mask_card, text)
    return PHONE.sub(_mask_phone, text)
