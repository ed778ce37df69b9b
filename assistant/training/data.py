"""Reading training and evaluation files, with errors that name the file, the line and the reason.

Formats (UTF-8):

* classification, CSV with a header or JSONL: a text column ``text`` (or ``sentence``) and a
  label column ``label`` (or ``category`` / ``intent``)::

      text,label
      where is my card?,card_arrival

* pair classification / ranking: the same plus ``text_pair``::

      {"text": "how do I reset my password?", "text_pair": "Open Settings > Security ...", "label": "relevant"}

* extractive QA: SQuAD JSON (v1.1, or v2.0 with ``is_impossible`` questions)::

      {"data": [{"title": ..., "paragraphs": [{"context": ..., "qas": [
          {"id": ..., "question": ..., "answers": [{"text": ..., "answer_start": 12}]}]}]}]}
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from dataclasses import dataclass, field
from pathlib import Path

from assistant.errors import DataFormatError

TEXT_COLUMNS = ("text", "sentence")
LABEL_COLUMNS = ("label", "category", "intent")
PAIR_COLUMN = "text_pair"
CLASSIFICATION_SUFFIXES = (".csv", ".jsonl")
QA_SUFFIXES = (".json",)


@dataclass
class LabelledText:
    text: str
    label: str
    text_pair: str | None = None


@dataclass
class QAExample:
    id: str
    question: str
    context: str
    #: Gold answers: dicts with ``text`` and ``answer_start`` (character offset into ``context``).
    answers: list[dict] = field(default_factory=list)
    is_impossible: bool = False


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _read_text(path: Path) -> str:
    if not path.is_file():
        raise DataFormatError(str(path), "no such file")
    raw = path.read_bytes()
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise DataFormatError(str(path), f"not valid UTF-8 (byte {exc.start}); save the file as UTF-8", line) from exc


def detect_task(path: Path) -> str:
    """The task a file's format implies: SQuAD JSON → extractive-qa, text_pair → pair-classification."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in QA_SUFFIXES:
        return "extractive-qa"
    if suffix not in CLASSIFICATION_SUFFIXES:
        raise DataFormatError(
            str(path), f"unknown file type '{suffix}': use .csv or .jsonl for classification, .json (SQuAD) for QA"
        )
    columns = _csv_header(path) if suffix == ".csv" else _first_jsonl_keys(path)
    return "pair-classification" if PAIR_COLUMN in columns else "sequence-classification"


def _csv_header(path: Path) -> list[str]:
    text = _read_text(path)
    try:
        header = next(csv.reader(io.StringIO(text, newline="")), [])
    except csv.Error:
        return []  # load_labelled_texts reports the unreadable header with its line
    return [name.strip() for name in header]


def _first_jsonl_keys(path: Path) -> list[str]:
    for number, line in enumerate(_read_text(path).splitlines(), start=1):
        if line.strip():
            return list(_json_record(path, line, number))
    return []


def _json_record(path: Path, line: str, number: int) -> dict:
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        raise DataFormatError(str(path), f"not valid JSON ({exc.msg} at column {exc.colno})", number) from exc
    if not isinstance(record, dict):
        raise DataFormatError(str(path), f"expected a JSON object per line, found {type(record).__name__}", number)
    return record


def _pick(columns, candidates: tuple[str, ...]) -> str | None:
    return next((name for name in candidates if name in columns), None)


def load_labelled_texts(path: Path, pairs: bool | None = None) -> list[LabelledText]:
    """Read a classification file. ``pairs=True`` requires ``text_pair``; ``None`` accepts either."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in CLASSIFICATION_SUFFIXES:
        raise DataFormatError(str(path), f"expected a .csv or .jsonl file for classification, got '{suffix}'")
    rows = _csv_rows(path) if suffix == ".csv" else _jsonl_rows(path)
    examples = []
    header = 1 if suffix == ".csv" else None  # a CSV's columns are named on its first line
    for number, row in rows:
        text_key, label_key = _pick(row, TEXT_COLUMNS), _pick(row, LABEL_COLUMNS)
        if text_key is None or label_key is None:
            wanted = "a text column (text or sentence)" if text_key is None else "a label column (label, category or intent)"
            raise DataFormatError(str(path), f"missing {wanted}; found {', '.join(map(str, row)) or 'no columns'}", header or number)
        if pairs and PAIR_COLUMN not in row:
            raise DataFormatError(str(path), f"pair classification needs a '{PAIR_COLUMN}' column", header or number)
        has_pair = pairs if pairs is not None else PAIR_COLUMN in row
        text, label = row.get(text_key), row.get(label_key)
        pair = row.get(PAIR_COLUMN) if has_pair else None
        for name, value in ((text_key, text), (label_key, label)) + (((PAIR_COLUMN, pair),) if has_pair else ()):
            if not isinstance(value, (str, int)) or isinstance(value, bool) or not str(value).strip():
                raise DataFormatError(str(path), f"'{name}' is missing or empty", number)
        examples.append(LabelledText(text=str(text).strip(), label=str(label).strip(), text_pair=str(pair).strip() if has_pair else None))
    if not examples:
        raise DataFormatError(str(path), "the file holds no examples")
    return examples


def _csv_rows(path: Path):
    text = _read_text(path)
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [name.strip() for name in next(reader)]
    except StopIteration:
        raise DataFormatError(str(path), "the file is empty; expected a header such as 'text,label'", 1) from None
    except csv.Error as exc:
        raise DataFormatError(str(path), f"unreadable CSV header ({exc})", 1) from exc
    if len(set(header)) != len(header):
        raise DataFormatError(str(path), f"duplicate column names in header {header}", 1)
    line = reader.line_num
    while True:
        start = line + 1
        try:
            values = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise DataFormatError(str(path), f"unreadable CSV row ({exc})", start) from exc
        line = reader.line_num
        if not values or all(not v.strip() for v in values):
            continue
        if len(values) != len(header):
            raise DataFormatError(
                str(path),
                f"expected {len(header)} fields ({','.join(header)}) but found {len(values)}; quote text that contains commas",
                start,
            )
        yield start, dict(zip(header, values))


def _jsonl_rows(path: Path):
    for number, line in enumerate(_read_text(path).splitlines(), start=1):
        if line.strip():
            yield number, _json_record(path, line, number)


def _line_of(raw: str, needle: str) -> int | None:
    position = raw.find(needle)
    return raw.count("\n", 0, position) + 1 if position >= 0 else None


def load_squad(path: Path) -> list[QAExample]:
    """Read a SQuAD-format JSON file; answers must match their context at ``answer_start``."""
    path = Path(path)
    raw = _read_text(path)
    try:
        document = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise DataFormatError(str(path), f"not valid JSON ({exc.msg} at column {exc.colno})", exc.lineno) from exc
    if not isinstance(document, dict) or not isinstance(document.get("data"), list):
        raise DataFormatError(str(path), "expected SQuAD JSON: an object with a 'data' list of articles", 1)
    examples = []
    for a, article in enumerate(document["data"]):
        paragraphs = article.get("paragraphs") if isinstance(article, dict) else None
        if not isinstance(paragraphs, list):
            raise DataFormatError(str(path), f"data[{a}] has no 'paragraphs' list")
        for p, paragraph in enumerate(paragraphs):
            where = f"data[{a}].paragraphs[{p}]"
            context = paragraph.get("context") if isinstance(paragraph, dict) else None
            if not isinstance(context, str) or not context.strip():
                raise DataFormatError(str(path), f"{where} has no 'context' text")
            line = _line_of(raw, json.dumps(context[:40])[:-1])
            for q, qa in enumerate(paragraph.get("qas") or []):
                examples.append(_squad_question(path, raw, qa, context, f"{where}.qas[{q}]", line))
    if not examples:
        raise DataFormatError(str(path), "the file holds no questions")
    seen: set[str] = set()
    for example in examples:
        if example.id in seen:
            raise DataFormatError(str(path), f"question id {example.id!r} is used twice", _line_of(raw, json.dumps(example.id)))
        seen.add(example.id)
    return examples


def _squad_question(path: Path, raw: str, qa, context: str, where: str, context_line: int | None) -> QAExample:
    if not isinstance(qa, dict):
        raise DataFormatError(str(path), f"{where} is not an object", context_line)
    qid = qa.get("id")
    line = _line_of(raw, json.dumps(qid)) if isinstance(qid, str) else context_line
    if not isinstance(qid, (str, int)) or isinstance(qid, bool):
        raise DataFormatError(str(path), f"{where} has no 'id'", line)
    question = qa.get("question")
    if not isinstance(question, str) or not question.strip():
        raise DataFormatError(str(path), f"{where} (id {qid}) has no 'question' text", line)
    impossible = bool(qa.get("is_impossible", False))
    answers = qa.get("answers") or []
    if not isinstance(answers, list):
        raise DataFormatError(str(path), f"{where} (id {qid}): 'answers' must be a list", line)
    if not answers and not impossible:
        raise DataFormatError(str(path), f"{where} (id {qid}) has no answers; mark it \"is_impossible\": true if it has none", line)
    checked = []
    for answer in answers:
        text, start = (answer.get("text"), answer.get("answer_start")) if isinstance(answer, dict) else (None, None)
        if not isinstance(text, str) or not text or not isinstance(start, int) or isinstance(start, bool):
            raise DataFormatError(str(path), f"{where} (id {qid}): each answer needs 'text' and an integer 'answer_start'", line)
        if context[start : start + len(text)] != text:
            raise DataFormatError(
                str(path),
                f"{where} (id {qid}): answer {text!r} is not found at answer_start={start} of its context "
                f"(the context there reads {context[start:start + len(text)]!r})",
                line,
            )
        checked.append({"text": text, "answer_start": start})
    return QAExample(id=str(qid), question=question.strip(), context=context, answers=checked, is_impossible=impossible and not checked)


def split_labelled(
    examples: list[LabelledText], fraction: float, seed: int, out_of_scope_label: str | None = None, source: str = "training data"
) -> tuple[list[LabelledText], list[LabelledText]]:
    """Stratified train/validation split. Out-of-scope rows never train a class: they all go to
    validation, where they pick the abstain threshold."""
    from sklearn.model_selection import train_test_split

    in_scope = [e for e in examples if e.label != out_of_scope_label]
    out_of_scope = [e for e in examples if e.label == out_of_scope_label]
    counts: dict[str, int] = {}
    for example in in_scope:
        counts[example.label] = counts.get(example.label, 0) + 1
    if len(counts) < 2:
        raise DataFormatError(source, f"classification needs at least 2 labels, found {sorted(counts) or 'none'}")
    size = max(1, round(len(in_scope) * fraction))
    if size >= len(in_scope):
        raise DataFormatError(source, f"{len(in_scope)} examples are too few to hold out a validation split")
    stratify = [e.label for e in in_scope] if min(counts.values()) >= 2 and size >= len(counts) else None
    train, validation = train_test_split(in_scope, test_size=size, random_state=seed, stratify=stratify)
    return list(train), list(validation) + out_of_scope


#: What a QA validation split holds out: whole passages (does the reader read text it never saw?) or
#: questions (does it answer new questions about the passages it was trained on, as a reader of a
#: fixed help center does?).
QA_HOLDOUTS = ("contexts", "questions")


def split_squad(
    examples: list[QAExample], fraction: float, seed: int, source: str = "training data", holdout: str = "contexts"
) -> tuple[list[QAExample], list[QAExample]]:
    """Train/validation split by context (no validation passage seen in training) or by question."""
    import numpy as np

    if holdout == "questions":
        if len(examples) < 2:
            raise DataFormatError(source, "extractive QA needs at least 2 questions to hold out a validation split")
        order = np.random.default_rng(seed).permutation(len(examples))
        held = set(order[: max(1, round(len(examples) * fraction))].tolist())
        return [e for i, e in enumerate(examples) if i not in held], [e for i, e in enumerate(examples) if i in held]
    contexts = sorted({e.context for e in examples})
    if len(contexts) < 2:
        raise DataFormatError(source, "extractive QA needs questions on at least 2 different contexts to hold out a validation split")
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(contexts))
    held = {contexts[i] for i in order[: max(1, round(len(contexts) * fraction))]}
    return [e for e in examples if e.context not in held], [e for e in examples if e.context in held]
