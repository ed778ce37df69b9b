"""Split decoded source text into passages that remember their exact character offsets.

Every function returns ``(start, end)`` spans into the text it was given, so a passage is
always ``text[start:end]`` — nothing is rewritten, which is what lets a hit cite its source
exactly. Plain text is cut at the best boundary near ``chunk_size`` (blank line, line break,
sentence end, space) with ``overlap`` characters repeated between neighbours; CSV and JSONL
files yield one span per record.
"""

from __future__ import annotations

import csv
import re
from typing import Iterator

#: Break points tried from best to worst when a chunk must end before the text does.
BREAKS = ("\n\n", "\n", ". ", "! ", "? ", "; ", ", ", " ")
_SKIPPED = frozenset(" \t\r\n\f\v\ufeff")
_LINE = re.compile(r"[^\n]*\n|[^\n]+$")


def chunk_text(text: str, chunk_size: int, overlap: int, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """Spans of at most ``chunk_size`` characters covering ``text[start:end]``, consecutive
    spans sharing about ``overlap`` characters; leading/trailing whitespace is left out."""
    if chunk_size < 1 or not 0 <= overlap < chunk_size:
        raise ValueError(f"need chunk_size > overlap >= 0, got chunk_size={chunk_size}, overlap={overlap}")
    end = len(text) if end is None else end
    spans: list[tuple[int, int]] = []
    position = _skip_blank(text, start, end)
    while position < end:
        limit = min(position + chunk_size, end)
        cut = limit if limit == end else _best_break(text, position + chunk_size // 2, limit)
        stop = cut
        while stop > position and text[stop - 1] in _SKIPPED:
            stop -= 1
        if stop > position:
            spans.append((position, stop))
        if cut >= end:
            break
        following = max(cut - overlap, position + 1)
        if text[following - 1] not in _SKIPPED:
            # Start the overlap at a word boundary rather than mid-word.
            space = next((i for i in range(following, cut) if text[i] in _SKIPPED), following)
            following = space
        position = _skip_blank(text, following, end)
    return spans


def _best_break(text: str, earliest: int, limit: int) -> int:
    for separator in BREAKS:
        found = text.rfind(separator, earliest, limit)
        if found != -1:
            return found + len(separator)
    return limit


def _skip_blank(text: str, position: int, end: int) -> int:
    while position < end and text[position] in _SKIPPED:
        position += 1
    return position


def _strip_span(text: str, start: int, end: int) -> tuple[int, int]:
    start = _skip_blank(text, start, end)
    while end > start and text[end - 1] in _SKIPPED:
        end -= 1
    return start, end


def csv_records(text: str) -> Iterator[tuple[int, int, int, list[str]]]:
    """(line number, start, end, fields) for every non-blank CSV record; quoted fields may span lines.

    Raises csv.Error (with the line number in the message) on malformed input."""
    consumed = 0
    line_number = 0

    def lines() -> Iterator[str]:
        nonlocal consumed, line_number
        for match in _LINE.finditer(text):
            consumed = match.end()
            line_number += 1
            yield match.group()

    reader = csv.reader(lines(), strict=True)
    while True:
        record_start, first_line = consumed, line_number + 1
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise csv.Error(f"line {line_number}: {exc}") from exc
        start, end = _strip_span(text, record_start, consumed)
        if any(field.strip() for field in fields) and end > start:
            yield first_line, start, end, fields


def jsonl_lines(text: str) -> Iterator[tuple[int, int, int]]:
    """(line number, start, end) of every non-blank line."""
    for number, match in enumerate(_LINE.finditer(text), start=1):
        start, end = _strip_span(text, match.start(), match.end())
        if end > start:
            yield number, start, end
