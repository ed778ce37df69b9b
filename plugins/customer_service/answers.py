"""Answers from the help-center documents: retrieve passages, extract the answer span, quote and cite it.

Two confidences decide whether to answer at all: how similar the best passage is to the
question (dense cosine similarity; hybrid search ranks better but its fused scores are ranks,
not similarities) and the reader's calibrated span score against the extractor's abstain
threshold. When the intent model has recognised a document intent (``return_item`` ...) and
retrieval found that intent's own help page, the two corroborate each other: a weaker span from
that page is accepted, and a lower similarity suffices when that page is the most similar one.
The reply quotes the whole sentence around a span, so the reader's spans are pooled by sentence
first: a sentence scores the sum of its spans' probabilities, for the threshold and the ranking.
Competing sentences are also weighed by their passage's retrieval rank (reader score times
``RANK_WEIGHT ** rank``, as open-domain readers combine reader and retriever), so a likely-looking
span from a barely related page does not beat the answer on the best-matching one, and by how
much the answers of the reader's closest training questions agree with them (its known answers),
since users ask what was asked before in other words. A span those answers clearly agree with is
corroborated like one from the intent's own page: it needs only part of the threshold. The same
known questions re-rank retrieval first: the passages holding their answers are fused with the
store's own ranking, so the passage that answered a paraphrase is read first (not for questions
about added documents, which no known question is about).
Documents added to the store beyond the bundled help pages (uploads) belong to no intent: a
question whose closest passage is in one of them is answered from the documents whatever the
intent model says, since it was never trained on them.
A customer who reports a problem ("my kettle arrived broken") rather than asks gets the intent
page's advice on what to do, and an offer of a person, unless the reader's best sentence is on that
page already. A short follow-up ("what about express?") is asked together with the question it
follows, and only a sentence about the follow-up's own topic may answer it. With no exact answer the most relevant passage is shown, saying that it is not an exact answer
(the dialogue then offers a person), when the intent or a high similarity vouches for it;
otherwise the answer is None, and the dialogue says it is not sure instead of guessing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path, PurePath

import numpy as np

from assistant.contract import Evidence
from assistant.models.qa import AnswerSpan
from knowledge.fusion import reciprocal_rank_fusion
from plugins.customer_service.cues import is_report
from plugins.customer_service.dialogue import DocumentAnswer
from plugins.customer_service.templates import DocumentIntent, Templates

#: Dense similarity at or below which the store has nothing on the question (route confidence 0) ...
SIMILARITY_FLOOR = 0.25
#: ... and from which retrieval alone makes the plugin fully confident it should answer.
SIMILARITY_CONFIDENT = 0.55
#: Below this similarity the help pages do not cover the question: measured on the bundled pages,
#: store questions score 0.44-0.76 and unrelated ones (weather, sports, recipes) 0.12-0.27. The
#: intent model's out_of_scope class catches many unrelated questions, not all: this floor holds
#: whatever intent the model gives.
MIN_SIMILARITY = 0.35
#: When the recognised intent's own help page is also the most similar one, the two corroborate each
#: other and this lower floor holds: short questions ("do you price match?") score under 0.35 against
#: whole passages. Still above the unrelated questions' 0.27. On the 444 held-out questions with the
#: intent, end to end 44.4 -> 44.7 (docs/benchmarks.md, "a lower floor on the intent's own page").
INTENT_PAGE_SIMILARITY = 0.30
#: Without an intent, the most relevant passage is shown (as "not an exact answer") from this similarity on.
PASSAGE_SIMILARITY = 0.45
#: The reader's best spans over the passages read. Spans are pooled by sentence, so more of them help:
#: on the 444 held-out questions, 10 spans pooled gave 47.2 end to end and 30 gave 48.0.
CANDIDATE_SPANS = 30
#: How much less a span counts for each retrieval rank its passage is below the first.
RANK_WEIGHT = 0.5
#: How much likelier a span from another page must be to beat one from the intent's own page.
INTENT_PAGE_BOOST = 2.0
#: A span from the recognised intent's own page needs this fraction of the abstain threshold.
CORROBORATED_FACTOR = 0.5
#: A span's weight is multiplied by (question/sentence cosine) ** this: between spans the reader
#: finds about equally likely, the one whose sentence is about the question wins. On the reader's
#: 444 validation questions through this class, F1 36.3 -> 39.6 (39.9 at 4, which cost the scripted
#: conversations more); see docs/benchmarks.md, "the quoted sentence's relevance in the ranking".
RELEVANCE_POWER = 2
#: And by (KNOWN_FLOOR + agreement) ** KNOWN_POWER, where agreement is how much the answers of the
#: closest questions the reader was trained on agree with the span (assistant.models.known_answers):
#: about 5x for a span matching the answer of one paraphrase at cosine 0.9, nothing for unlike
#: questions. Chosen on half of the reader's 444 validation questions; on the other half its best
#: span in the question's own passage went from F1 65.8 to 68.3 (docs/benchmarks.md, "known answers").
KNOWN_FLOOR = 0.3
KNOWN_POWER = 2
#: From this agreement on (the answer of one known question at cosine 0.93, or of several a little
#: further), a span needs only CORROBORATED_FACTOR of the threshold: the reader may spread its
#: probability over a page and leave the answer to a question it was trained on below the threshold.
KNOWN_CORROBORATION = 0.5
PASSAGES = 5
#: Passages the store returns for the known questions to re-rank; the first PASSAGES of the fused
#: ranking are read. On the 444 held-out questions, the question's passage first 48.9 -> 55 %, end
#: to end 44.0 -> 45.2 (docs/benchmarks.md, "known questions re-rank retrieval").
RERANK_DEPTH = 20
MAX_QUOTE_CHARS = 320

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")
_STOPWORDS = frozenset(
    "a an the i me my you your we our it its is are was be do does did can could how what when where which who "
    "why to of in on for with and or if at by from this that there have has long much many".split()
)
_MARKUP = re.compile(r"\*\*|__|`|^#+\s*|^\s*(?:[-*]|\d+\.)\s+", re.MULTILINE)


@dataclass
class Retrieval:
    """The passages for one question, and how similar the best one is (cosine, -1..1)."""

    hits: list
    similarity: float
    #: Source of the most similar passage (dense search).
    best_source: str | None = None

    @property
    def confidence(self) -> float:
        """The similarity mapped to 0..1, for routing."""
        scaled = (self.similarity - SIMILARITY_FLOOR) / (SIMILARITY_CONFIDENT - SIMILARITY_FLOOR)
        return float(min(1.0, max(0.0, scaled)))


def sentence_bounds(text: str, start: int, end: int) -> tuple[int, int]:
    """Where the sentence (or table row / list item) of ``text`` holding ``text[start:end]`` starts and ends."""
    left = max((m.end() for m in _SENTENCE_END.finditer(text, 0, start)), default=0)
    right_match = _SENTENCE_END.search(text, end)
    return left, right_match.start() if right_match else len(text)


def quote_around(text: str, start: int, end: int) -> str:
    """The sentence (or table row / list item) of ``text`` holding ``text[start:end]``, minus markdown."""
    left, right = sentence_bounds(text, start, end)
    if right - left > MAX_QUOTE_CHARS:
        left = max(left, start - MAX_QUOTE_CHARS // 2)
        right = min(right, end + MAX_QUOTE_CHARS // 2)
    sentence = _MARKUP.sub("", text[left:right])
    if sentence.lstrip().startswith("|"):
        sentence = ", ".join(cell.strip() for cell in sentence.strip().strip("|").split("|") if cell.strip())
    # An answer spanning list items keeps them apart.
    sentence = re.sub(r"[.;]?\s*\n\s*", "; ", sentence.strip())
    return " ".join(sentence.split())


def _stems(text: str) -> set[str]:
    return {word[:4] for word in re.findall(r"[a-z0-9$]+", text.lower()) if word not in _STOPWORDS}


#: A follow-up asking "how much" is answered by a price, one asking "how long" by a duration; a few
#: places go by other names in the pages ("uk" is "United Kingdom").
_ASKS_PRICE = re.compile(r"\bhow much\b|\b(?:cost|costs|price|prices|fee|fees|charge|charged)\b", re.IGNORECASE)
_ASKS_TIME = re.compile(r"\bhow long\b|\bhow soon\b|\bwhen\b", re.IGNORECASE)
_PRICE_WORDS = r"\$|\bfree\b|\bfees?\b|\bcosts?\b|\bprices?\b"
_TIME_WORDS = r"\b(?:hours?|days?|weeks?|months?|years?)\b"
_ALIASES = {"uk": r"\buk\b|united kingdom|britain", "us": r"\bus\b|united states", "usa": r"\busa\b|united states",
            "eu": r"\beu\b|european union"}
#: Words of a follow-up that say nothing of its topic: it points back, asks, or was turned into a pattern above.
_NOT_TOPIC = _STOPWORDS | frozenset(
    "about and or but they them their those these then also for else if any get got take takes need want work works use used "
    "using still just really please able possible happen happens cost costs price prices fee fees charge charged soon "
    "item items thing things product products stuff one ones".split()
)


def topic_pattern(topic: str) -> re.Pattern | None:
    """What a sentence must mention to answer a follow-up about ``topic`` ("for canada" -> Canada;
    "how much does it cost" -> a price); None when the topic names nothing to look for."""
    parts = [_PRICE_WORDS] if _ASKS_PRICE.search(topic) else []
    if _ASKS_TIME.search(topic):
        parts.append(_TIME_WORDS)
    for word in re.findall(r"[a-z0-9]+", topic.lower()):
        # "what's" leaves an "s": words under three letters name nothing, bar a few places ("uk").
        if word not in _NOT_TOPIC and (len(word) > 2 or word in _ALIASES):
            parts.append(_ALIASES.get(word, rf"\b{re.escape(word[:4])}"))
    return re.compile("|".join(parts), re.IGNORECASE) if parts else None


def excerpt(text: str, question: str) -> str:
    """The sentences of a passage that share the most words with ``question`` (from the best one on,
    headings left out, cut at about ``MAX_QUOTE_CHARS``); the passage's start when none do."""
    body = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith(("#", "|")))
    sentences = [s for s in _SENTENCE_END.split(body) if s.strip()]
    if not sentences:
        return ""
    wanted = _stems(question)
    first = max(range(len(sentences)), key=lambda i: len(_stems(sentences[i]) & wanted))
    taken: list[str] = []
    for sentence in sentences[first:]:
        if taken and len(" ".join(taken)) + len(sentence) > MAX_QUOTE_CHARS:
            break
        taken.append(sentence)
    return " ".join(_MARKUP.sub("", " ".join(taken)).split())


def known_answer_weight(agreement):
    """How much a span's weight is multiplied by for its agreement with the reader's known answers."""
    return (KNOWN_FLOOR + agreement) ** KNOWN_POWER


def is_intent_page(spec: DocumentIntent | None, source: str | None) -> bool:
    """Whether ``source`` (a store source or path) is the recognised document intent's own help page."""
    return spec is not None and source is not None and PurePath(source).name in spec.pages()


@lru_cache(maxsize=256)
def source_text(path: str) -> str | None:
    """The text of an ingested file, or None when it cannot be read as UTF-8 any more."""
    try:
        return Path(path).read_bytes().decode("utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def in_document(hit, start: int, end: int) -> tuple[str, int, int]:
    """``hit.text[start:end]`` placed in its whole file, so a quote of it is never cut at the passage's
    edge ("in 6-10 business days." instead of "Alaska and Hawaii: ... in 6-10 business days."); the
    passage itself when the file is gone or changed since it was ingested."""
    path = hit.metadata.get("path")
    document = source_text(path) if path else None
    if document is not None and document[hit.start : hit.start + len(hit.text)] == hit.text:
        return document, hit.start + start, hit.start + end
    return hit.text, start, end


@lru_cache(maxsize=256)
def document_title(path: str, fallback: str) -> str:
    """A help page's title: its first markdown heading, else its file name."""
    try:
        for line in Path(path).read_text(encoding="utf-8").splitlines():
            if line.startswith("# "):
                return line[2:].strip()
    except OSError:
        pass
    return fallback


class DocumentAnswerer:
    """Retrieval plus the fine-tuned reader, phrased with the plugin's templates."""

    def __init__(self, store, reader, templates: Templates, bundled_files: frozenset[str] = frozenset(), embedder=None):
        self.store = store
        #: Embeds questions and quoted sentences (``knowledge.embedding.Embedder``) to weigh spans by
        #: how much their sentence is about the question; without one, spans rank on the reader alone.
        self.embedder = embedder
        #: An ``ActiveModel`` of AnswerExtractor, so a newly activated version is used next turn.
        self.reader = reader
        self.templates = templates
        #: File names of the bundled help pages; any other source in the store was added (uploaded).
        self.bundled_files = bundled_files
        #: Weigh spans by the reader's known answers, when it has them (benchmarks switch it off to compare).
        self.use_known_answers = True

    def retrieve(self, question: str) -> Retrieval:
        best = self.store.search(question, k=1, mode="dense")
        retrieval = Retrieval(hits=[], similarity=best[0].score if best else -1.0, best_source=best[0].source if best else None)
        known = self._known_answers(self.reader.get())
        # The known questions are about the bundled pages: for a question about an added document
        # they would vote its passages down.
        if known is None or self.about_added_document(retrieval):
            retrieval.hits = self.store.search(question, k=PASSAGES, mode="hybrid")
        else:
            retrieval.hits = self._reranked(question, self.store.search(question, k=RERANK_DEPTH, mode="hybrid"), known)
        return retrieval

    def _known_answers(self, reader):
        """The reader's known answers, when they are used here (else None)."""
        return reader.known_answers if self.use_known_answers and self.embedder is not None else None

    def _reranked(self, question: str, hits: list, known) -> list:
        """The first PASSAGES of ``hits`` fused (reciprocal rank) with the ranking of those the known
        questions vote for; each hit's score becomes its fused one."""
        votes = known.votes(question, [hit.text for hit in hits], self.embedder)
        voted = [int(i) for i in np.argsort(-votes, kind="stable") if votes[i] > 0]
        fused = reciprocal_rank_fusion([list(range(len(hits))), voted])[:PASSAGES]
        return [replace(hits[i], score=score) for i, score in fused]

    def about_added_document(self, retrieval: Retrieval) -> bool:
        """Whether the question's closest passage is in an added (not bundled) document, close enough to answer from."""
        return (
            retrieval.best_source is not None
            and PurePath(retrieval.best_source).name not in self.bundled_files
            and retrieval.similarity >= MIN_SIMILARITY
        )

    def answer(
        self, question: str, intent: str | None, retrieval: Retrieval | None = None, about: str | None = None
    ) -> DocumentAnswer | None:
        """The reply to ``question``, or None when the pages do not answer it confidently. With ``about``
        (the topic of a follow-up, asked together with the question it follows), only an exact answer
        whose quoted sentence is about that topic counts: the earlier question must not answer itself again."""
        pattern = topic_pattern(about) if about is not None else None
        if about is not None and pattern is None:
            return None
        retrieval = retrieval or self.retrieve(question)
        spec = self.templates.documents.get(intent) if intent else None
        floor = INTENT_PAGE_SIMILARITY if is_intent_page(spec, retrieval.best_source) else MIN_SIMILARITY
        if retrieval.similarity < floor or not retrieval.hits:
            return None  # the help pages do not cover it, whatever the intent model says
        reader = self.reader.get()
        threshold = reader.abstain_threshold
        hits = retrieval.hits
        spans = reader.extract(question, [hit.text for hit in hits], top_k=CANDIDATE_SPANS)

        def on_intent_page(span) -> bool:
            return is_intent_page(spec, hits[span.passage_index].source)

        # A sentence from the recognised intent's own page, or one the known answers agree with, needs
        # only part of the threshold (two sources corroborate it); the page's sentence also outranks a
        # somewhat likelier one from another page.
        # A follow-up's own topic in the sentence corroborates it too: only such sentences may answer it.
        candidates = self._by_sentence(question, reader, hits, spans)
        if pattern is not None:
            candidates = [candidate for candidate in candidates if pattern.search(self._quote(hits, candidate[0]))]
        accepted = [
            (span, agreed)
            for span, agreed, corroborating in candidates
            if span.score >= threshold * (
                CORROBORATED_FACTOR if pattern is not None or on_intent_page(span) or corroborating >= KNOWN_CORROBORATION else 1.0
            )
        ]
        if pattern is not None and not accepted:
            return None

        def weight(span, relevance: float, agreed: float) -> float:
            boost = INTENT_PAGE_BOOST if on_intent_page(span) else 1.0
            return span.score * boost * RANK_WEIGHT**span.passage_index * relevance * known_answer_weight(agreed)

        relevance = self._relevance(question, hits, [span for span, _ in accepted])
        weights = [weight(span, r, agreed) for (span, agreed), r in zip(accepted, relevance)]
        if accepted:
            best = accepted[weights.index(max(weights))][0]
            if pattern is None and not on_intent_page(best) and (reported := self._reported(question, spec, hits)):
                return reported
            return self._quoted(hits, best, spec)
        if reported := self._reported(question, spec, hits):
            return reported
        if spec is not None or retrieval.similarity >= PASSAGE_SIMILARITY:
            return self._passage(hits[0], question)
        return None

    def _by_sentence(self, question: str, reader, hits: list, spans: list) -> list[tuple]:
        """One candidate per sentence the spans fall in, as (span, agreement, corroborating agreement).

        The reply quotes the whole sentence, and the reader often spreads its probability over several
        spans of the answering sentence ("within 30 days", "30 days of delivery"), so a sentence's score
        is the sum of its spans' probabilities. Its span is the likeliest one once weighed by the known
        answers, with that span's agreement; the best agreement of any of its spans corroborates it."""
        agreement = self._agreement(question, reader, spans)
        sentences: dict[tuple[int, int, int], list] = {}
        for span, agreed in zip(spans, agreement):
            key = (span.passage_index, *sentence_bounds(hits[span.passage_index].text, span.start, span.end))
            sentences.setdefault(key, []).append((span, agreed))
        candidates = []
        for members in sentences.values():
            best, agreed = max(members, key=lambda member: member[0].score * known_answer_weight(member[1]))
            pooled = min(1.0, sum(span.score for span, _ in members))
            candidates.append((replace(best, score=pooled), agreed, max(other for _, other in members)))
        return candidates

    def _relevance(self, question: str, hits: list, spans: list) -> list[float]:
        """Per span, its quoted sentence's similarity to the question to the RELEVANCE_POWER."""
        if self.embedder is None or len(spans) < 2:
            return [1.0] * len(spans)
        quotes = [self._quote(hits, span) for span in spans]
        unique = list(dict.fromkeys(quotes))
        vectors = self.embedder.embed([question, *unique])
        cosine = dict(zip(unique, (vectors[1:] @ vectors[0]).tolist()))
        return [max(cosine[quote], 1e-3) ** RELEVANCE_POWER for quote in quotes]

    @staticmethod
    def _quote(hits: list, span) -> str:
        """The sentence a reply would quote for ``span``."""
        return quote_around(*in_document(hits[span.passage_index], span.start, span.end))

    def _agreement(self, question: str, reader, spans: list) -> list[float]:
        """Per span, how much the reader's known answers agree with it (0 without them)."""
        known = self._known_answers(reader)
        if known is None or not spans:
            return [0.0] * len(spans)
        return known.agreement(question, [span.text for span in spans], self.embedder).tolist()

    def _title(self, hit) -> str:
        return document_title(hit.metadata.get("path", ""), PurePath(hit.source).name)

    def _quoted(self, hits: list, span, spec: DocumentIntent | None) -> DocumentAnswer:
        hit = hits[span.passage_index]
        evidence = Evidence(
            doc_id=hit.doc_id,
            source=hit.source,
            text=hit.text,
            score=span.score,
            source_start=hit.start,
            source_end=hit.end,
            answer_start=span.start,
            answer_end=span.end,
        )
        others = [
            Evidence(doc_id=h.doc_id, source=h.source, text=h.text, score=h.score, source_start=h.start, source_end=h.end)
            for h in hits
            if h.doc_id != hit.doc_id
        ][:2]
        # The intent's lead names its page, so a quote from another page gets the neutral one.
        lead = spec.lead if is_intent_page(spec, hit.source) else self.templates.message("default_lead")
        if spec is not None and spec.sympathy:
            lead = f"{spec.sympathy} {lead}"
        text = self.templates.message(
            "document_answer",
            lead=lead,
            quote=self._quote(hits, span),
            title=self._title(hit),
            file=PurePath(hit.source).name,
        )
        return DocumentAnswer(text=text, evidence=[evidence, *others], confidence=span.score)

    def _reported(self, question: str, spec: DocumentIntent | None, hits: list) -> DocumentAnswer | None:
        """The intent page's advice on what to do, for a customer who reports a problem instead of asking.

        The reader answers questions; given "my kettle arrived broken" it finds some sentence about
        kettles (the warranty's), so a report whose best sentence is off the intent's page gets the
        page's own advice instead, and an offer of a person, since reporting is what they came to do.
        Only where retrieval found one of the intent's pages too (otherwise the intent itself is in
        doubt); of several pages with advice, the one retrieval ranks first. A request the page explains
        ("i want to return my headphones") gets the page's how-to sentence without the offer."""
        if spec is None or not is_report(question):
            return None
        pages = spec.pages()
        retrieved = [name for hit in hits if (name := PurePath(hit.source).name) in pages]
        advice = [name for name in [*retrieved, *pages] if pages[name]]
        if not retrieved or not advice:
            return None
        page, words = advice[0], pages[advice[0]]
        for hit in self.store.search(words, k=3, mode="bm25"):
            if PurePath(hit.source).name == page and words in hit.text:
                start = hit.text.index(words)
                answer = self._quoted([hit], AnswerSpan(0, start, start + len(words), words, 1.0), spec)
                if spec.report_offers_human:
                    answer.text = f"{answer.text} {self.templates.message('report_offer')}"
                    answer.offers_human = True
                return answer
        return None

    def _passage(self, hit, question: str) -> DocumentAnswer:
        """No exact answer: show the most relevant passage, say so, and let the dialogue offer a person."""
        evidence = Evidence(doc_id=hit.doc_id, source=hit.source, text=hit.text, score=hit.score, source_start=hit.start, source_end=hit.end)
        text = self.templates.message(
            "document_passage", passage=excerpt(hit.text, question), title=self._title(hit), file=PurePath(hit.source).name
        )
        return DocumentAnswer(text=text, evidence=[evidence], confidence=0.0, exact=False)
