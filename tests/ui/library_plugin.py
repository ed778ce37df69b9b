"""A plugin with no fine-tuned model that answers from its own knowledge store.

It quotes the sentence of the best passage that shares the most words with the question,
so an end-to-end test can upload a document in the UI and see it cited with a highlighted
span, whatever the quality of briefly trained models.
"""

from __future__ import annotations

import re

from assistant.contract import Evidence, Plugin, Reply, RoutingScore

_WORD = re.compile(r"\w+")
_SENTENCE = re.compile(r"[^.!?\n]+[.!?]?")


def best_sentence(text: str, question: str) -> tuple[int, int]:
    """Offsets of the sentence in ``text`` sharing the most words with ``question``."""
    asked = {w.lower() for w in _WORD.findall(question)}
    sentences = [m for m in _SENTENCE.finditer(text) if m.group().strip()]
    best = max(sentences, key=lambda m: len(asked & {w.lower() for w in _WORD.findall(m.group())}))
    start = best.start() + len(best.group()) - len(best.group().lstrip())
    return start, best.end()


class LibraryPlugin(Plugin):
    name = "library"
    description = "answers from documents uploaded in the Knowledge tab"

    def route(self, turn, session):
        return RoutingScore(confidence=0.0)

    def respond(self, turn, session):
        hits = self.context.store(self.name).search(turn.text, k=1, mode="dense")
        if not hits:
            return Reply(text="My library is empty; upload documents in the Knowledge tab.", plugin=self.name, intent="lookup")
        hit = hits[0]
        start, end = best_sentence(hit.text, turn.text)
        evidence = Evidence(
            doc_id=hit.doc_id, source=hit.source, text=hit.text, score=hit.score,
            source_start=hit.start, source_end=hit.end, answer_start=start, answer_end=end,
        )
        return Reply(text=hit.text[start:end], plugin=self.name, intent="lookup", confidence=hit.score, evidence=[evidence])
