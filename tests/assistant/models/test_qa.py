"""Answer spans: windows over long passages keep exact character offsets; no-answer wins when it should."""

from __future__ import annotations

import numpy as np
import torch
from transformers import AutoModelForQuestionAnswering, AutoTokenizer

from assistant.models.qa import AnswerExtractor, best_answers, encode_windows, window_spans
from assistant.models.registry import Manifest

PASSAGE = " ".join(f"Sentence {i} says the depot number {i * 11} is open on weekdays." for i in range(12))


def test_long_passages_split_into_windows_with_exact_character_offsets(tiny_bert_path):
    tokenizer = AutoTokenizer.from_pretrained(tiny_bert_path)
    encoded, sources, offsets = encode_windows(tokenizer, ["which depot?"], [PASSAGE], max_length=40, doc_stride=10)
    assert len(sources) > 3 and set(sources) == {0}
    covered = set()
    for window, ids in zip(offsets, encoded["input_ids"]):
        assert len(window) == len(ids) <= 40
        for (start, end), token in ((o, t) for o, t in zip(window, ids) if o is not None):
            piece = tokenizer.convert_ids_to_tokens(token).removeprefix("##")
            assert PASSAGE[start:end].lower() == piece
            covered.add(start)
    assert max(covered) > len(PASSAGE) - 20  # the last window reaches the end of the passage


def test_window_spans_scores_and_no_answer():
    offsets = [None, None, (0, 5), (6, 11), (12, 17), None]
    start = np.array([0.0, -9, 4.0, 0.0, 0.0, -9])
    end = np.array([0.0, -9, 0.0, 4.0, 0.0, -9])
    found = window_spans(start, end, offsets)
    best, char_start, char_end = found.spans[0]
    assert (char_start, char_end) == (0, 11) and found.prefers_answer
    assert 0 < best <= 1 and found.null_score < best
    assert all(s[0] >= t[0] for s, t in zip(found.spans, found.spans[1:]))
    flat = window_spans(np.zeros(6), np.zeros(6), offsets)
    assert not flat.prefers_answer  # every span ties with [CLS]: the model prefers no answer
    sharper = window_spans(start, end, offsets, temperature=0.5)
    assert sharper.spans[0][0] > best


def test_spans_never_cross_a_line_break_or_a_table_cell():
    offsets = [None, None, (0, 5), (6, 11), (12, 17), None]
    start = np.array([0.0, -9, 4.0, 0.0, 0.0, -9])
    end = np.array([0.0, -9, 0.0, 4.0, 0.0, -9])
    for text in ("Hello\nworld again", "Hello|world again"):
        spans = window_spans(start, end, offsets, text=text).spans
        assert spans and all(not (s <= 5 < e) for _, s, e in spans)  # nothing spans the break at 5
        assert {(s, e) for _, s, e in spans} >= {(0, 5), (6, 11), (6, 17)}
    assert (0, 11) in {(s, e) for _, s, e in window_spans(start, end, offsets, text="Hello world again").spans}


def test_best_answers_keeps_the_best_span_where_no_answer_is_not_a_prediction():
    contexts = ["Refunds take five days.", "Gift cards never expire."]
    offsets = [[None, (0, 7), (8, 12), (13, 17), (18, 22), None], [None, (0, 4), (5, 10), (11, 16), (17, 23), None]]
    # The first window prefers its span; the second prefers [CLS], with "never expire" as its best span.
    starts = [np.array([0.0, -5, -5, 4.0, -5, -9]), np.array([6.0, -5, -5, 2.0, -5, -9])]
    ends = [np.array([0.0, -5, -5, -5, 4.0, -9]), np.array([6.0, -5, -5, -5, 2.0, -9])]
    squad2 = best_answers(contexts, [0, 1], offsets, starts, ends)
    assert squad2[0].text == "five days" and squad2[1] is None
    squad1 = best_answers(contexts, [0, 1], offsets, starts, ends, allow_no_answer=False)
    assert squad1[0].text == "five days" and squad1[1].text == "never expire"
    assert squad1[1].score < squad1[0].score


def test_saved_extractor_loads_and_returns_valid_spans_or_none(tmp_path, tiny_bert_path):
    torch.manual_seed(0)
    model = AutoModelForQuestionAnswering.from_pretrained(tiny_bert_path)
    tokenizer = AutoTokenizer.from_pretrained(tiny_bert_path)
    folder = tmp_path / "v"
    folder.mkdir()
    manifest = Manifest(plugin="shop", model="answers", task="extractive-qa", base_model=tiny_bert_path,
                        calibration={"temperature": 1.0, "abstain_threshold": 0.2}, training={"max_length": 40, "doc_stride": 10})
    AnswerExtractor(model, tokenizer, manifest, folder).save_weights(folder)
    manifest.save(folder)
    extractor = AnswerExtractor.load(folder)
    passages = [PASSAGE, "Refunds take five business days."]
    for found in (extractor, extractor.quantized()):
        spans = found.extract("which depot is open?", passages, top_k=4)
        assert len(spans) <= 4
        for span in spans:
            assert span.text == passages[span.passage_index][span.start : span.end] and span.text
            assert 0 <= span.score <= 1
        assert [s.score for s in spans] == sorted((s.score for s in spans), reverse=True)
    with torch.no_grad():
        extractor.model.qa_outputs.weight.zero_()
        extractor.model.qa_outputs.bias.zero_()
    assert extractor.extract("which depot is open?", passages) == []
    assert extractor.extract("   ", passages) == [] and extractor.extract("which?", []) == []
