"""Chunk spans slice the text exactly, respect the size, overlap, and cover everything."""

from __future__ import annotations

import csv
import random

import pytest

from knowledge.chunking import chunk_text, csv_records, jsonl_lines

WORDS = ["refund", "order", "parcel", "the", "a", "shipping", "warranty", "card", "address", "delivery"]


def random_text(seed: int, words: int = 600) -> str:
    rng = random.Random(seed)
    parts = []
    for _ in range(words):
        parts.append(rng.choice(WORDS))
        parts.append(rng.choice([" ", " ", " ", ". ", ",  ", "\n", "\n\n", "\r\n"]))
    return "  " + "".join(parts)


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("size, overlap", [(80, 0), (120, 30), (300, 100)])
def test_spans_slice_cover_and_overlap(seed, size, overlap):
    text = random_text(seed)
    spans = chunk_text(text, size, overlap)
    covered = set()
    for (start, end), following in zip(spans, spans[1:] + [None]):
        piece = text[start:end]
        assert 0 < len(piece) <= size
        assert piece == piece.strip()
        covered.update(range(start, end))
        if following is not None:
            assert following[0] > start  # always moves forward
            if overlap:
                assert following[0] < end  # neighbours share text
    assert all(i in covered for i, ch in enumerate(text) if not ch.isspace())


def test_chunks_end_at_paragraph_or_sentence_breaks_when_possible():
    text = ("First sentence here. " * 4 + "\n\n") * 6
    for start, end in chunk_text(text, 200, 0)[:-1]:
        assert text[start:end].endswith(".")


def test_a_word_longer_than_the_chunk_is_cut_hard():
    text = "x" * 250
    assert chunk_text(text, 100, 10) == [(0, 100), (90, 190), (180, 250)]


def test_offsets_are_relative_to_the_whole_text_when_chunking_a_range():
    text = "header line\nsecond part of the text that we chunk\ntrailer"
    spans = chunk_text(text, 20, 5, start=12, end=len(text) - 8)
    assert spans[0][0] == 12 and all(12 <= s < e <= len(text) - 8 for s, e in spans)


def test_invalid_sizes_raise():
    with pytest.raises(ValueError):
        chunk_text("abc", 10, 10)


def test_csv_records_keep_exact_spans_of_quoted_multiline_rows():
    text = 'question,answer\r\n"How do I\nreturn?","Within 30 days, ""unused"""\r\n\r\nplain,row\n'
    records = list(csv_records(text))
    assert [fields for _, _, _, fields in records] == [
        ["question", "answer"],
        ["How do I\nreturn?", 'Within 30 days, "unused"'],
        ["plain", "row"],
    ]
    assert [line for line, _, _, _ in records] == [1, 2, 5]
    assert [text[start:end] for _, start, end, _ in records] == [
        "question,answer",
        '"How do I\nreturn?","Within 30 days, ""unused"""',
        "plain,row",
    ]


@pytest.mark.parametrize("text, line", [('a,b\n"x"y,1\n', 2), ('a,b\n1,2\n"never closed,3\n4,5\n', 4)])
def test_malformed_csv_names_the_line(text, line):
    with pytest.raises(csv.Error, match=f"line {line}"):
        list(csv_records(text))


def test_jsonl_lines_skip_blank_lines_and_count_from_one():
    text = '{"a": 1}\n\n  {"b": 2}  \n'
    assert [(n, text[s:e]) for n, s, e in jsonl_lines(text)] == [(1, '{"a": 1}'), (3, '{"b": 2}')]
