"""Training files: every documented format loads; malformed files name the file, the line and the reason."""

from __future__ import annotations

import json

import pytest

from assistant.errors import DataFormatError
from assistant.training.data import (
    QAExample,
    detect_task,
    load_labelled_texts,
    load_squad,
    split_labelled,
    split_squad,
)
from tests.assistant.training.tiny import write_intents_csv, write_squad


@pytest.mark.parametrize("label_column", ["label", "category", "intent"])
def test_csv_label_column_may_be_label_category_or_intent(tmp_path, label_column):
    examples = load_labelled_texts(write_intents_csv(tmp_path / "train.csv", label_column))
    assert len(examples) == 120
    assert {e.label for e in examples} == {"card_arrival", "exchange_rate", "top_up"}
    assert all(e.text and e.text_pair is None for e in examples)


def test_jsonl_and_pair_files(tmp_path):
    jsonl = tmp_path / "train.jsonl"
    jsonl.write_text('{"text": "where is my card", "label": "card"}\n\n{"text": "rate?", "intent": "rate"}\n')
    assert [(e.text, e.label) for e in load_labelled_texts(jsonl)] == [("where is my card", "card"), ("rate?", "rate")]
    pairs = tmp_path / "pairs.csv"
    pairs.write_text('text,text_pair,label\n"reset password","Open Settings, then Security",relevant\n')
    (example,) = load_labelled_texts(pairs, pairs=True)
    assert example.text_pair == "Open Settings, then Security" and example.label == "relevant"
    assert detect_task(pairs) == "pair-classification"
    assert detect_task(jsonl) == "sequence-classification"
    assert detect_task(write_squad(tmp_path / "qa.json")) == "extractive-qa"


@pytest.mark.parametrize(
    ("content", "line", "reason"),
    [
        ("text,label\nhello,greet\nhello,greet,extra\n", 3, "expected 2 fields"),
        ("text,label\nhello,greet\nbye,\n", 3, "'label' is missing or empty"),
        ("words,label\nhello,greet\n", 1, "missing a text column"),
        ("text,score\nhello,1\n", 1, "missing a label column"),
        ("", 1, "the file is empty"),
    ],
)
def test_malformed_csv_names_file_line_and_reason(tmp_path, content, line, reason):
    path = tmp_path / "bad.csv"
    path.write_text(content)
    with pytest.raises(DataFormatError) as caught:
        load_labelled_texts(path)
    message = str(caught.value)
    assert str(path) in message and f"line {line}" in message and reason in message
    assert caught.value.line == line


def test_multiline_quoted_field_keeps_line_numbers_right(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text('text,label\n"two\nlines",a\nok,b\n,c\n')
    with pytest.raises(DataFormatError) as caught:
        load_labelled_texts(path)
    assert caught.value.line == 5


def test_malformed_jsonl_and_encoding(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"text": "a", "label": "x"}\n{"text": "b", "label": \n')
    with pytest.raises(DataFormatError, match=r"bad\.jsonl, line 2: not valid JSON"):
        load_labelled_texts(path)
    latin = tmp_path / "latin.csv"
    latin.write_bytes("text,label\ncaf\xe9,x\n".encode("latin-1"))
    with pytest.raises(DataFormatError, match=r"latin\.csv, line 2: not valid UTF-8"):
        load_labelled_texts(latin)


def test_squad_loads_and_rejects_misplaced_answers(tmp_path):
    path = write_squad(tmp_path / "qa.json")
    examples = load_squad(path)
    assert len(examples) == 18
    first = examples[0]
    start = first.answers[0]["answer_start"]
    assert first.context[start : start + len(first.answers[0]["text"])] == first.answers[0]["text"]

    document = json.loads(path.read_text())
    document["data"][0]["paragraphs"][2]["qas"][0]["answers"][0]["answer_start"] += 3
    path.write_text(json.dumps(document, indent=1))
    with pytest.raises(DataFormatError) as caught:
        load_squad(path)
    message = str(caught.value)
    assert "data[0].paragraphs[2].qas[0]" in message and "not found at answer_start" in message
    bad_id = document["data"][0]["paragraphs"][2]["qas"][0]["id"]
    assert caught.value.line == path.read_text().splitlines().index(f'       "id": "{bad_id}",') + 1

    path.write_text('{"data": [\n  {"paragraphs": [}\n]}')
    with pytest.raises(DataFormatError, match=r"line 2: not valid JSON"):
        load_squad(path)


def test_out_of_scope_rows_only_validate_and_split_is_stratified(tmp_path):
    examples = load_labelled_texts(write_intents_csv(tmp_path / "train.csv"))
    examples += [type(examples[0])(text=f"tell me a joke {i}", label="oos") for i in range(5)]
    train, validation = split_labelled(examples, 0.25, seed=1, out_of_scope_label="oos")
    assert not any(e.label == "oos" for e in train)
    assert sum(e.label == "oos" for e in validation) == 5
    in_scope = [e for e in validation if e.label != "oos"]
    assert len(in_scope) == 30 and {e.label for e in in_scope} == {"card_arrival", "exchange_rate", "top_up"}
    assert all(sum(e.label == label for e in in_scope) == 10 for label in ("card_arrival", "top_up"))


def test_squad_split_never_shares_a_context(tmp_path):
    train, validation = split_squad(load_squad(write_squad(tmp_path / "qa.json")), 0.34, seed=0)
    assert train and validation
    assert not {e.context for e in train} & {e.context for e in validation}


def test_squad_split_by_question_holds_out_questions_of_trained_contexts(tmp_path):
    once = load_squad(write_squad(tmp_path / "qa.json"))
    examples = once + [QAExample(e.id + "-again", "and " + e.question, e.context, e.answers) for e in once]
    train, validation = split_squad(examples, 0.34, seed=0, holdout="questions")
    assert len(validation) == round(len(examples) * 0.34) and len(train) + len(validation) == len(examples)
    assert not {e.id for e in train} & {e.id for e in validation}
    assert {e.context for e in validation} & {e.context for e in train}


def test_single_label_data_is_refused(tmp_path):
    path = tmp_path / "one.csv"
    path.write_text("text,label\n" + "".join(f"x{i},same\n" for i in range(10)))
    with pytest.raises(DataFormatError, match="at least 2 labels"):
        split_labelled(load_labelled_texts(path), 0.2, seed=0, source=str(path))
