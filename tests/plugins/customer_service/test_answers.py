"""Answering from documents: when to quote a span, when to show a passage, when to say "not sure".

The store and the reader are replaced by fixed results here, so each rule is tested on its
own; the slow end-to-end test runs the real ones.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from assistant.models.qa import AnswerSpan
from knowledge.documents import Hit
from plugins.customer_service.answers import DocumentAnswerer, Retrieval, excerpt, quote_around, topic_pattern
from plugins.customer_service.plugin import DATA
from plugins.customer_service.templates import Templates

RETURNS = "## Return window\n\nYou can return most items within **30 days** of delivery. Final Sale items can't be returned."
RATES = "| Option | Time | Cost |\n| --- | --- | --- |\n| Express | 1–2 business days | $14.99 |"


def hit(text, source, score=0.03):
    return Hit(doc_id=f"{source}#0", text=text, score=score, source=source, start=100, end=100 + len(text), metadata={})


class FixedStore:
    def __init__(self, hits, similarity):
        self.hits, self.similarity = hits, similarity

    def search(self, query, k=5, mode="hybrid", filters=None):
        if mode == "dense":
            best = self.hits[0].source if self.hits else "x"
            return [Hit("x", "x", self.similarity, best, 0, 1)]
        return self.hits[:k]


@dataclass
class FixedReader:
    spans: list
    abstain_threshold: float = 0.5
    known_answers: object = None

    def extract(self, question, passages, top_k=3):
        return self.spans[:top_k]


class Active:
    def __init__(self, model):
        self.model = model

    def get(self):
        return self.model


BUNDLED = frozenset({"shipping-rates.md", "returns-policy.md"})


class KeywordEmbedder:
    """Unit vectors over a few keywords, so which sentence is "about" a question is known exactly."""

    KEYWORDS = ("sale", "refund")

    def embed(self, texts):
        vectors = np.array([[float(word in text.lower()) for word in self.KEYWORDS] + [0.1] for text in texts])
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def answerer(hits, similarity, spans, embedder=None):
    return DocumentAnswerer(
        FixedStore(hits, similarity), Active(FixedReader(spans)), Templates.load(DATA / "templates.json"), BUNDLED, embedder
    )


def span_of(text, needle, passage, score):
    start = text.index(needle)
    return AnswerSpan(passage, start, start + len(needle), needle, score)


def test_confident_span_is_quoted_with_offsets_and_cited():
    hits = [hit(RATES, "shipping-rates.md"), hit(RETURNS, "returns-policy.md")]
    found = answerer(hits, 0.6, [span_of(RETURNS, "30 days", 1, 0.8)]).answer("how long to return?", None)
    assert found.exact and found.confidence == 0.8
    evidence = found.evidence[0]
    assert evidence.source == "returns-policy.md" and evidence.answer == "30 days"
    assert (evidence.source_start, evidence.source_end) == (100, 100 + len(RETURNS))
    assert [e.source for e in found.evidence[1:]] == ["shipping-rates.md"] and found.evidence[1].answer is None
    assert '"You can return most items within 30 days of delivery."' in found.text
    assert "returns-policy.md" in found.text and found.text.startswith("According to our help pages:")


def test_intent_lead_and_table_rows_read_as_text():
    hits = [hit(RATES, "shipping-rates.md")]
    found = answerer(hits, 0.6, [span_of(RATES, "$14.99", 0, 0.9)]).answer("express cost?", "shipping_info")
    assert found.text.startswith('About shipping: "Express, 1–2 business days, $14.99"')


def test_a_quote_from_another_page_than_the_intents_gets_the_neutral_lead_and_keeps_the_sympathy():
    hits = [hit(RETURNS, "returns-policy.md")]
    spans = [span_of(RETURNS, "30 days", 0, 0.9)]
    assert answerer(hits, 0.6, spans).answer("how long?", "shipping_info").text.startswith('According to our help pages: "You can')
    damaged = answerer(hits, 0.6, spans).answer("how long?", "damaged_item").text
    assert damaged.startswith("I'm sorry your item arrived damaged. According to our help pages:")
    own_page = answerer([hit(RETURNS, "damaged-items.md")], 0.6, spans).answer("how long?", "damaged_item").text
    assert own_page.startswith("I'm sorry your item arrived damaged. Our policy says:")


def test_unrelated_question_gets_no_answer_even_with_a_confident_intent():
    hits = [hit(RETURNS, "returns-policy.md")]
    assert answerer(hits, 0.2, [span_of(RETURNS, "30 days", 0, 0.9)]).answer("capital of France?", "shipping_info") is None


@pytest.mark.parametrize(
    ("best_page", "intent", "similarity", "answered"),
    [
        ("returns-policy.md", "return_item", 0.32, True),  # the intent's own page is the most similar: 0.30 suffices
        ("returns-policy.md", None, 0.32, False),  # no intent: 0.35 as before
        ("returns-policy.md", "shipping_info", 0.32, False),  # most similar page is not the intent's
        ("returns-policy.md", "return_item", 0.28, False),  # under the lower floor too
    ],
)
def test_a_short_question_on_its_intents_own_page_needs_a_lower_similarity(best_page, intent, similarity, answered):
    found = answerer([hit(RETURNS, best_page)], similarity, [span_of(RETURNS, "30 days", 0, 0.9)]).answer("returns?", intent)
    assert (found is not None) is answered


def test_the_intents_own_page_wins_over_a_somewhat_likelier_span_elsewhere():
    hits = [hit(RATES, "shipping-rates.md"), hit(RETURNS, "returns-policy.md")]
    spans = [span_of(RATES, "$14.99", 0, 0.55), span_of(RETURNS, "30 days", 1, 0.6)]  # 0.6 * 2 (page) * 0.5 (rank) > 0.55
    assert answerer(hits, 0.6, spans).answer("how long to return?", "return_item").evidence[0].answer == "30 days"
    assert answerer(hits, 0.6, spans).answer("how long to return?", None).evidence[0].answer == "$14.99"


def test_a_span_on_a_lower_ranked_passage_needs_a_clearly_higher_score():
    hits = [hit(RETURNS, "returns-policy.md"), hit(RATES, "shipping-rates.md"), hit(RATES, "b.md"), hit(RATES, "c.md")]
    close = [span_of(RETURNS, "30 days", 0, 0.6), span_of(RATES, "$14.99", 1, 0.8)]
    assert answerer(hits, 0.6, close).answer("how long to return?", None).evidence[0].answer == "30 days"  # 0.8 * 0.5 < 0.6
    far = [span_of(RETURNS, "30 days", 0, 0.55), span_of(RATES, "$14.99", 3, 0.95)]
    assert answerer(hits, 0.6, far).answer("how long to return?", None).evidence[0].answer == "30 days"
    clear = [span_of(RETURNS, "30 days", 0, 0.4), span_of(RATES, "$14.99", 1, 0.99)]
    assert answerer(hits, 0.6, clear).answer("express cost?", None).evidence[0].answer == "$14.99"


def test_between_likely_spans_the_one_whose_sentence_is_about_the_question_wins():
    hits = [hit(RETURNS, "returns-policy.md")]
    spans = [span_of(RETURNS, "30 days", 0, 0.8), span_of(RETURNS, "can't be returned", 0, 0.7)]
    question = "can sale items be returned?"
    assert answerer(hits, 0.6, spans).answer(question, None).evidence[0].answer == "30 days"  # the reader alone
    chosen = answerer(hits, 0.6, spans, KeywordEmbedder()).answer(question, None)
    assert chosen.evidence[0].answer == "can't be returned" and chosen.confidence == 0.7  # the reader's own score


def test_sentence_relevance_never_lets_in_a_span_below_the_threshold():
    hits = [hit(RETURNS, "returns-policy.md")]
    spans = [span_of(RETURNS, "30 days", 0, 0.8), span_of(RETURNS, "can't be returned", 0, 0.3)]  # threshold 0.5
    found = answerer(hits, 0.6, spans, KeywordEmbedder()).answer("can sale items be returned?", None)
    assert found.evidence[0].answer == "30 days"


class QuestionEmbedder(KeywordEmbedder):
    """KeywordEmbedder with the query interface the known answers use."""

    name = "keywords"

    def embed_query(self, text):
        return self.embed([text])


def known_answers(question, answer):
    from assistant.models.known_answers import KnownAnswers

    return KnownAnswers([question], [[answer]], QuestionEmbedder().embed([question]), "keywords")


def answerer_knowing(spans, question, answer):
    reader = FixedReader(spans)
    reader.known_answers = known_answers(question, answer)
    hits = [hit(RETURNS, "returns-policy.md")]
    return DocumentAnswerer(FixedStore(hits, 0.6), Active(reader), Templates.load(DATA / "templates.json"), BUNDLED, QuestionEmbedder())


def test_a_span_agreeing_with_the_answer_to_a_known_paraphrase_wins():
    # both spans in one sentence, so the sentence's relevance cannot tell them apart
    spans = [span_of(RETURNS, "30 days", 0, 0.5), span_of(RETURNS, "most items", 0, 0.4)]
    found = answerer_knowing(spans, "what can I get a refund for?", "most items")
    chosen = found.answer("refund for what?", None)
    assert chosen.evidence[0].answer == "most items" and chosen.confidence == pytest.approx(0.9)  # the sentence's score
    found.use_known_answers = False
    assert found.answer("refund for what?", None).evidence[0].answer == "30 days"


def test_a_sentence_the_known_answers_agree_with_needs_only_half_the_threshold():
    spans = [span_of(RETURNS, "can't be returned", 0, 0.3)]  # threshold 0.5
    corroborated = answerer_knowing(spans, "what can't be returned?", "can't be returned").answer("returns?", None)
    assert corroborated.exact and corroborated.evidence[0].answer == "can't be returned" and corroborated.confidence == 0.3
    # a question about something else (cosine ~0) corroborates nothing: no exact answer
    assert not answerer_knowing(spans, "is a sale item final?", "can't be returned").answer("returns?", None).exact
    switched_off = answerer_knowing(spans, "what can't be returned?", "can't be returned")
    switched_off.use_known_answers = False
    assert not switched_off.answer("returns?", None).exact


def test_known_answers_never_let_in_a_sentence_below_half_the_threshold():
    spans = [span_of(RETURNS, "can't be returned", 0, 0.2)]  # threshold 0.5
    assert not answerer_knowing(spans, "what can't be returned?", "can't be returned").answer("returns?", None).exact


def test_the_readers_probability_spread_over_one_sentence_adds_up():
    hits = [hit(RETURNS, "returns-policy.md")]
    # each span alone is under the threshold (0.5); the first sentence holds 0.6 of the probability
    spans = [span_of(RETURNS, "30 days", 0, 0.3), span_of(RETURNS, "most items", 0, 0.3), span_of(RETURNS, "can't be returned", 0, 0.45)]
    found = answerer(hits, 0.6, spans).answer("how long do I have to return something?", None)
    assert found.exact and found.evidence[0].answer == "30 days" and found.confidence == pytest.approx(0.6)
    assert '"You can return most items within 30 days of delivery."' in found.text


@pytest.mark.parametrize(
    ("best_page", "similarity", "added"),
    [("assembly.md", 0.5, True), ("uploads/assembly.md", 0.36, True), ("assembly.md", 0.3, False), ("returns-policy.md", 0.8, False)],
)
def test_a_question_is_about_an_added_document_when_its_closest_passage_is_in_one(best_page, similarity, added):
    retrieval = answerer([hit(RETURNS, best_page)], similarity, []).retrieve("how much is assembly?")
    assert retrieval.best_source == best_page
    assert answerer([], similarity, []).about_added_document(retrieval) is added


def test_weak_span_counts_only_from_the_intents_own_page():
    hits = [hit(RATES, "shipping-rates.md"), hit(RETURNS, "returns-policy.md")]
    weak = [span_of(RATES, "$14.99", 0, 0.3), span_of(RETURNS, "30 days", 1, 0.3)]
    found = answerer(hits, 0.6, weak).answer("how long to return?", "return_item")
    assert found.exact and found.evidence[0].answer == "30 days"
    # the same weak spans without a recognised intent are not enough
    assert not answerer(hits, 0.6, weak).answer("how long to return?", None).exact


@pytest.mark.parametrize(("intent", "similarity", "shows_passage"), [("return_item", 0.4, True), (None, 0.5, True), (None, 0.4, False)])
def test_without_a_span_a_relevant_passage_is_shown_but_not_as_an_answer(intent, similarity, shows_passage):
    hits = [hit(RETURNS, "returns-policy.md")]
    found = answerer(hits, similarity, []).answer("returns?", intent)
    if not shows_passage:
        assert found is None
        return
    assert not found.exact and found.evidence[0].answer is None
    assert "couldn't find an exact answer" in found.text and "You can return most items" in found.text


def test_an_answer_across_list_items_keeps_them_apart():
    text = "We accept:\n\n- **Visa** cards\n- PayPal\n\nThat's all."
    start, end = text.index("Visa"), text.index("PayPal") + len("PayPal")
    assert quote_around(text, start, end) == "Visa cards; PayPal"
    reasons = "Why?\n\n- The code has expired.\n- It was used. Once only.\n\nMore."
    start, end = reasons.index("The code"), reasons.index("only.") + len("only.")
    assert quote_around(reasons, start, end) == "The code has expired; It was used. Once only."


def test_quotes_are_sentences_without_markdown():
    start = RETURNS.index("30 days")
    assert quote_around(RETURNS, start, start + 7) == "You can return most items within 30 days of delivery."
    assert excerpt(RETURNS, "what about final sale items?") == "Final Sale items can't be returned."
    assert excerpt(RETURNS, "hello") == "You can return most items within 30 days of delivery. Final Sale items can't be returned."


def test_retrieval_confidence_maps_similarity_to_routing_scale():
    assert Retrieval([], 0.1).confidence == 0.0
    assert Retrieval([], 0.9).confidence == 1.0
    assert 0 < Retrieval([], 0.4).confidence < 1


def test_known_questions_move_the_passage_holding_their_answer_to_the_front():
    hits = [hit(RATES, "shipping-rates.md"), hit("Gift cards never expire.", "gift-cards.md"), hit(RETURNS, "returns-policy.md")]
    reader = FixedReader([])
    reader.known_answers = known_answers("what can I get a refund for?", "most items")
    found = DocumentAnswerer(FixedStore(hits, 0.6), Active(reader), Templates.load(DATA / "templates.json"), BUNDLED, QuestionEmbedder())
    reranked = found.retrieve("refund for what?")
    assert [h.source for h in reranked.hits] == ["returns-policy.md", "shipping-rates.md", "gift-cards.md"]
    assert reranked.hits[0].score > reranked.hits[1].score > reranked.hits[2].score  # scores are the fused ones
    # switching the known answers off leaves the store's order, as do known answers found in no passage
    found.use_known_answers = False
    assert [h.source for h in found.retrieve("refund for what?").hits] == ["shipping-rates.md", "gift-cards.md", "returns-policy.md"]
    reader.known_answers = known_answers("what can I get a refund for?", "a full refund within a year")
    found.use_known_answers = True
    assert [h.source for h in found.retrieve("refund for what?").hits] == ["shipping-rates.md", "gift-cards.md", "returns-policy.md"]


def test_known_questions_leave_the_order_alone_for_a_question_about_an_added_document():
    hits = [hit("Assembly costs $49.", "assembly.md"), hit(RATES, "shipping-rates.md"), hit(RETURNS, "returns-policy.md")]
    reader = FixedReader([])
    reader.known_answers = known_answers("what can I get a refund for?", "most items")
    found = DocumentAnswerer(FixedStore(hits, 0.6), Active(reader), Templates.load(DATA / "templates.json"), BUNDLED, QuestionEmbedder())
    assert [h.source for h in found.retrieve("refund for what?").hits] == ["assembly.md", "shipping-rates.md", "returns-policy.md"]


def test_a_quote_is_the_whole_sentence_even_where_the_passage_cuts_it(tmp_path):
    page = tmp_path / "shipping-restrictions.md"
    page.write_text("# Restrictions\n\n- **Alaska and Hawaii:** standard shipping only, with delivery in 6–10 business days.\n", encoding="utf-8")
    text = page.read_text(encoding="utf-8")
    start = text.index("in 6–10")
    passage = Hit("s#1", text[start:], 0.03, "shipping-restrictions.md", start, len(text), {"path": str(page)})
    spans = [span_of(passage.text, "6–10 business days", 0, 0.9)]
    quoted = answerer([passage], 0.6, spans).answer("how long to Hawaii?", None)
    assert '"Alaska and Hawaii: standard shipping only, with delivery in 6–10 business days."' in quoted.text
    assert quoted.evidence[0].answer == "6–10 business days"
    # a file changed since it was ingested is not trusted: the quote stays within the passage
    page.write_text(text.replace("Alaska", "Alaska (AK)"), encoding="utf-8")
    from plugins.customer_service.answers import source_text

    source_text.cache_clear()
    assert '"in 6–10 business days."' in answerer([passage], 0.6, spans).answer("how long to Hawaii?", None).text


DAMAGED = ("## Report it within 7 days\n\nContact us within 7 days of delivery through chat, email or the **Report a problem** "
           "button next to the order in **Account > Orders**. Please include photos.\n\n## Damaged packaging only\n\n"
           "If the box is damaged but the item inside is fine, you don't need to do anything.")
WARRANTY = "The warranty covers manufacturing defects: a kettle that stops heating or a handle that loosens."


@pytest.mark.parametrize(
    ("message", "best", "quoted"),
    [
        ("my kettle arrived broken", "a kettle that stops heating", "Contact us within 7 days of delivery"),  # report, off-page
        ("does the warranty cover my kettle?", "a kettle that stops heating", "The warranty covers"),  # a question
        ("the box was crushed", "you don't need to do anything", "If the box is damaged"),  # report, on the page already
    ],
)
def test_a_reported_problem_gets_its_pages_advice_when_the_reader_looks_elsewhere(message, best, quoted):
    hits = [hit(WARRANTY, "warranty.md"), hit(DAMAGED, "damaged-items.md")]
    text, passage = (WARRANTY, 0) if best in WARRANTY else (DAMAGED, 1)
    found = answerer(hits, 0.6, [span_of(text, best, passage, 0.9)]).answer(message, "damaged_item")
    assert f'"{quoted}' in found.text
    reported = quoted.startswith("Contact us")
    assert found.offers_human is reported and ("just reply yes" in found.text) is reported
    if reported:
        assert found.text.startswith("I'm sorry your item arrived damaged. Our policy says:")
        assert found.evidence[0].source == "damaged-items.md" and found.evidence[0].answer.startswith("Contact us")


def test_a_report_without_a_confident_span_gets_the_advice_instead_of_a_passage():
    hits = [hit(DAMAGED, "damaged-items.md")]
    found = answerer(hits, 0.6, [span_of(DAMAGED, "photos", 0, 0.1)]).answer("my lamp arrived smashed", "damaged_item")
    assert found.exact and found.offers_human and '"Contact us within 7 days' in found.text
    assert not answerer(hits, 0.6, [span_of(DAMAGED, "photos", 0, 0.1)]).answer("what now?", "damaged_item").exact


LOST = "# Lost or Stolen Packages\n\nPackages occasionally go missing. If yours has, we'll make it right with a replacement or a full refund."
MISSING = "If your package is missing something or contains the wrong item, let us know within 7 days of delivery and we'll fix it fast."
CANCEL = "If you cancel before shipping, you're never charged."


def test_an_intent_with_two_pages_reports_from_the_one_retrieval_ranks_first():
    spans = [span_of(CANCEL, "never charged", 0, 0.9)]
    lost_first = [hit(CANCEL, "order-cancellation.md"), hit(LOST, "lost-or-stolen-packages.md"), hit(MISSING, "wrong-or-missing-items.md")]
    found = answerer(lost_first, 0.6, spans).answer("the package never arrived", "missing_item")
    assert '"If yours has, we\'ll make it right' in found.text and found.evidence[0].source == "lost-or-stolen-packages.md"
    missing_first = [lost_first[0], lost_first[2], lost_first[1]]
    found = answerer(missing_first, 0.6, spans).answer("a candle is missing from my box", "missing_item")
    assert '"If your package is missing something' in found.text
    on_second_page = answerer(lost_first, 0.6, [span_of(LOST, "replacement", 1, 0.3)]).answer("lost package", "missing_item")
    assert on_second_page.text.startswith("I'm sorry something is missing. Our help page says:")  # the intent's lead, not the default


SPEEDS = "Standard shipping takes 3–5 business days. Express shipping takes 1–2 business days for $14.99."
ABROAD = "We ship to the United Kingdom in 5–8 business days."


@pytest.mark.parametrize(
    ("topic", "matches", "misses"),
    [("express", "Express, 1–2 business days", "Standard, 3–5 business days"),
     ("how much does it cost", "a flat $15.99", "arrive in 6–10 business days"),
     ("how long does it take", "arrive in 6–10 business days", "a flat fee"),
     ("to the uk", "to the United Kingdom", "to the United States"),
     ("do they expire", "gift cards never expire", "gift cards can't be reloaded"),
     ("can i use them online", "shop online or in store", "gift cards can't be used to buy other gift cards"),
     ("for unopened items", "Unopened electronics can be returned", "never on an item that is defective"),
     ("what's your favourite colour", "our favourite colours", "the same as the rest of the year")],
)
def test_a_follow_ups_topic_is_what_its_answer_must_mention(topic, matches, misses):
    pattern = topic_pattern(topic)
    assert pattern.search(matches) and not pattern.search(misses)


def test_a_follow_up_with_no_topic_of_its_own_is_not_answered_from_the_last_question():
    assert topic_pattern("how do i do that") is None
    hits = [hit(SPEEDS, "shipping-rates.md")]
    spans = [span_of(SPEEDS, "3–5 business days", 0, 0.9)]
    assert answerer(hits, 0.6, spans).answer("how long does shipping take? how do i do that?", "shipping_info", about="how do i do that") is None


def test_a_follow_up_is_answered_only_from_a_sentence_about_its_topic():
    hits = [hit(SPEEDS, "shipping-rates.md"), hit(ABROAD, "international-shipping.md")]
    # The question it follows pulls the reader back to its own answer; the follow-up's topic decides.
    spans = [span_of(SPEEDS, "3–5 business days", 0, 0.9), span_of(SPEEDS, "1–2 business days", 0, 0.6)]
    found = answerer(hits, 0.6, spans).answer("how long does standard shipping take? what about express?", "shipping_info", about="express")
    assert found.exact and found.evidence[0].answer == "1–2 business days"
    assert answerer(hits, 0.6, spans).answer("how long does standard shipping take?", "shipping_info").evidence[0].answer == "3–5 business days"
    # The topic corroborates a sentence like the intent's own page does: half the threshold is enough.
    weak = [span_of(SPEEDS, "3–5 business days", 0, 0.9), span_of(ABROAD, "5–8 business days", 1, 0.3)]
    abroad = answerer(hits, 0.6, weak).answer("how long does standard shipping take? and to the uk?", "shipping_info", about="to the uk")
    assert abroad.evidence[0].answer == "5–8 business days"
    assert answerer(hits, 0.6, weak[1:]).answer("how long does shipping to the uk take?", "shipping_info").exact is False
    # Nothing about the topic: no answer at all, not a passage or the earlier answer.
    assert answerer(hits, 0.6, spans).answer("how long does standard shipping take? and to alaska?", "shipping_info", about="to alaska") is None


HEADPHONES = "Headphones won't pair: hold the power button for 5 seconds to enter pairing mode."
START = "1. Sign in and go to **Account > Orders**, then choose **Start a return** next to the order. Guests use the portal."


def test_a_request_the_intents_page_explains_gets_its_how_to_without_the_offer_of_a_person():
    hits = [hit(HEADPHONES, "small-electronics-support.md"), hit(RETURNS, "returns-policy.md"), hit(START, "starting-a-return.md")]
    found = answerer(hits, 0.6, [span_of(HEADPHONES, "hold the power button", 0, 0.9)]).answer("i want to return my headphones", "return_item")
    assert '"Sign in and go to Account > Orders, then choose Start a return next to the order."' in found.text
    assert found.evidence[0].source == "starting-a-return.md" and not found.offers_human and "reply yes" not in found.text
