"""Things read straight off the message text: order numbers, delivery addresses, plain yes/no, a name.

These are exact formats (an order number is 5 digits) or closed word lists, where a regex is
more reliable than a classifier; everything open-ended comes from the fine-tuned models.
"""

from __future__ import annotations

import re

ORDER_NUMBER_DIGITS = 5
_NUMBER = re.compile(r"(?<![\w$£€.,])#?(\d{3,9})(?![\w%]|[.,]\d)")

_STREET = (
    r"street|st|avenue|ave|road|rd|lane|ln|drive|dr|boulevard|blvd|way|court|ct|place|pl|square|sq|terrace|"
    r"close|crescent|parkway|pkwy|highway|hwy|grove|row|circle|cir|trail|apt|apartment|suite|unit|flat"
)
_STREET_WORD = re.compile(rf"\b(?:{_STREET})\b\.?", re.IGNORECASE)
#: A house number followed by a word: where an address starts inside a longer sentence.
_HOUSE_NUMBER = re.compile(r"\b\d+[A-Za-z]?\s+[A-Za-z]")
_ADDRESS_LEAD = re.compile(
    r"^\s*(?:(?:ok(?:ay)?|so|sure|yes|it'?s|it is|that'?s|the new (?:delivery |shipping )?address is|"
    r"new (?:delivery |shipping )?address(?: is)?|my new address is|please )[\s:,]*)+",
    re.IGNORECASE,
)
_ADDRESS_START = re.compile(r"\d|(?:flat|apt|apartment|unit|suite|po box)\b", re.IGNORECASE)
_AFTER_TO = re.compile(r"\b(?:to|address is|address:)\s+(?=\d)", re.IGNORECASE)

_FILLER = r"(?:(?:actually|hmm+|um+|uh+|oh|well|ah|erm|then)[\s,.!]*)*"
_YES = re.compile(
    rf"^\s*{_FILLER}(?:no problem|no worries|yes|yeah|yea|yep|yup|ya|y|sure|ok|okay|alright|all right|please do|go ahead|do it|"
    r"confirm(?:ed)?|correct|that'?s right|absolutely|definitely|of course)\b",
    re.IGNORECASE,
)
_NO = re.compile(
    rf"^\s*{_FILLER}(?:no|nope|nah|n|don'?t|do not|never ?mind|nevermind|cancel that|stop|keep it|not now|leave it)\b",
    re.IGNORECASE,
)
#: Longer messages are requests of their own, not answers to a yes/no question.
MAX_YES_NO_WORDS = 6


def find_address(text: str, expecting: bool = False) -> tuple[str, int, int] | None:
    """A delivery address in ``text`` as (address, start, end), or None.

    When the assistant has just asked for the address (``expecting``), the whole message,
    minus a lead-in like "it's", is the address if it starts with a house number (or flat,
    unit ...) and has a street word or comma. Otherwise only an address introduced by "to ..." or "address is ..." counts.
    """
    if expecting:
        lead = _ADDRESS_LEAD.match(text)
        start = lead.end() if lead else 0
    else:
        marker = _AFTER_TO.search(text)
        if marker is None:
            return None
        start = marker.end()
    candidate = text[start:].strip().rstrip(".!?")
    start = text.find(candidate, start)
    if not _ADDRESS_START.match(candidate):
        return None
    has_number = _HOUSE_NUMBER.search(candidate) is not None
    looks_like_street = _STREET_WORD.search(candidate) is not None or candidate.count(",") >= 1
    if not (has_number and looks_like_street and len(candidate.split()) >= 3):
        return None
    return candidate, start, start + len(candidate)


def find_order_numbers(text: str, skip: tuple[int, int] | None = None) -> tuple[list[str], list[str]]:
    """Order numbers (5 digits) and other 3–9 digit numbers that were probably meant as one.

    Numbers inside ``skip`` (an address span, whose ZIP code has 5 digits too) are ignored;
    prices, decimals and percentages never match."""
    valid, malformed = [], []
    for match in _NUMBER.finditer(text):
        if skip and skip[0] <= match.start() < skip[1]:
            continue
        number = match.group(1)
        (valid if len(number) == ORDER_NUMBER_DIGITS else malformed).append(number)
    return valid, malformed


def plain_yes_no(text: str) -> str | None:
    """"yes" or "no" for short replies that start with a yes/no word, else None."""
    if len(text.split()) > MAX_YES_NO_WORDS:
        return None
    if _YES.match(text):
        return "yes"
    if _NO.match(text):
        return "no"
    return None


FLOW_CUES = {
    "order_status": re.compile(r"\b(?:where|status|track\w*|arriv\w*|deliver\w*|when|carrier|shipped|late)\b", re.IGNORECASE),
    "cancel_order": re.compile(r"\bcancel\w*\b", re.IGNORECASE),
    "change_address": re.compile(r"\b(?:address|redirect|send it to|ship it to|deliver it to|moved)\b", re.IGNORECASE),
}


def mentions_flow(flow: str, text: str) -> bool:
    """Whether ``text`` has a word typical of starting ``flow``; guards switching flows on intent alone."""
    return bool(FLOW_CUES[flow].search(text))


def is_shouting(text: str) -> bool:
    """Mostly capital letters over several words. The uncased tokenizer of the emotion model
    lowercases everything, so this is the one anger cue it cannot see."""
    letters = [ch for ch in text if ch.isalpha()]
    return len(text.split()) >= 3 and len(letters) >= 10 and sum(ch.isupper() for ch in letters) / len(letters) >= 0.7


#: "my name is tom" in any case; "I'm Tom" / "this is Tom" only capitalised and after a greeting,
#: since "i'm furious" and "This is Ridiculous" are not introductions.
_MY_NAME = re.compile(r"\b(?:my name is|my name's|call me)\s+([A-Za-z][a-z'-]+)\b", re.IGNORECASE)
_INTRODUCTION = re.compile(r"\b(?:hi|hello|hey)\b[\s,!.]*(?:i'm|i am|this is|it's)\s+([A-Z][a-z'-]+)\b", re.IGNORECASE)
_NOT_NAMES = frozenset("a an the not so very really just still here back done sorry looking trying waiting".split())


def find_name(text: str) -> str | None:
    """The first name a customer introduces themselves with, capitalised; None when there is none."""
    for pattern, any_case in ((_MY_NAME, True), (_INTRODUCTION, False)):
        match = pattern.search(text)
        name = match.group(1) if match else ""
        written_as_name = name[:1].isupper() and not name.isupper()
        if name and (any_case or written_as_name) and name.lower() not in _NOT_NAMES:
            return name if written_as_name else name.capitalize()
    return None


_ASKS_NAME = re.compile(r"\b(?:what'?s|what is|do you (?:know|remember)|did i (?:tell|give) you)\s+my name\b", re.IGNORECASE)


def asks_own_name(text: str) -> bool:
    """"what's my name?": a question about what the session remembers, which no intent covers."""
    return _ASKS_NAME.search(text) is not None


_ASKS_WHY = re.compile(r"^\s*(?:but|and|ok(?:ay)?|so|hm+)?[\s,]*(?:why(?:\s+not)?|how come|why is that|why can'?t (?:i|you))\s*[?!.]*\s*$", re.IGNORECASE)


def asks_why(text: str) -> bool:
    """A bare "why not?" / "how come?": a request for the reason behind the last refusal."""
    return _ASKS_WHY.match(text) is not None


_QUESTION_WORDS = (
    r"(?:what|when|where|why|how|who|which|whose|can|could|do|does|did|is|are|was|were|will|would|should|shall|may|might|"
    r"have|has|am|any|anything|tell me|i(?:'d| would)? (?:want|like|need) to know|i'?m wondering|i wonder|wondering)\b"
)
#: A question starting the message or a clause of it ("it's been 16 days, can i still report it"),
#: after fillers such as "hi" or "so".
_QUESTION_CLAUSE = re.compile(
    r"(?:(?:^|[,;:.!-])\s*(?:(?:hi|hello|hey|so|ok(?:ay)?|and|but|um+|uh+|also|then|please|pls)\b[\s,!.]*)*" + _QUESTION_WORDS
    + r"|\b(?:and|but|so)\s+(?:what|when|where|why|how|who|which)\b)",
    re.IGNORECASE,
)


def is_report(text: str) -> bool:
    """A statement of what happened ("my kettle arrived broken"), not a question: no question mark
    and no question word or "tell me" at the start of the message or of one of its clauses."""
    return "?" not in text and not _QUESTION_CLAUSE.search(text)


#: Short enough to lean on the last question rather than stand on its own.
MAX_FOLLOW_UP_WORDS = 8
_ACKNOWLEDGEMENT = r"(?:(?:ok(?:ay)?|thanks|thank you|great|cool|nice|right|got it|i see|hm+)\b[\s,.!]*)*"
#: "and for canada?", "what about express?", "how about the uk": the last question, about something else.
_CONTINUATION = re.compile(
    rf"^\s*{_ACKNOWLEDGEMENT}(?:(?:and|or|but)\s+(?:(?:what|how)\s+about\s+)?|(?:what|how)\s+about\s+)(?P<topic>\S.*?)[\s?.!]*$",
    re.IGNORECASE,
)
#: "do they expire?", "how much does it cost?": a question about what the last one was about.
_POINTS_BACK = re.compile(r"\b(?:it|its|they|them|their|those|that)\b", re.IGNORECASE)


def follow_up_topic(text: str) -> str | None:
    """What a short follow-up to the last question asks about ("and for canada?" -> "for canada";
    "do they expire?" -> the whole message), or None when the message does not lean on an earlier one.

    The reply to a follow-up must be about these words, so that "what about the capital of peru?"
    after a shipping question is not answered with shipping again."""
    if len(text.split()) > MAX_FOLLOW_UP_WORDS:
        return None
    if match := _CONTINUATION.match(text):
        # "ok and go ahead" still answers a yes/no question.
        return match.group("topic") if plain_yes_no(match.group("topic")) is None else None
    # "ok do it" answers a confirmation; it asks nothing.
    if _POINTS_BACK.search(text) and ("?" in text or _QUESTION_CLAUSE.match(text)) and plain_yes_no(text) is None:
        return text.strip().rstrip("?.! ")
    return None
