"""Hard "no answer" passages for the reader's training questions (assistant.training.qa.no_answer_passages)."""

from __future__ import annotations

from dataclasses import replace

from assistant.training.data import QAExample
from assistant.training.qa import no_answer_passages

RETURNS = "Returns are accepted within 30 days of delivery. Refunds reach your card in 5 business days."
EXCHANGES = "Exchanges for another size are accepted within 30 days of delivery, free of charge."
SHIPPING = "Standard shipping takes 3 to 5 business days. Express shipping arrives the next day."
GIFT_CARDS = "Gift cards never expire and can be used for shipping costs too."


def example(qid: str, question: str, context: str, answer: str) -> QAExample:
    return QAExample(qid, question, context, [{"text": answer, "answer_start": context.index(answer)}])


EXAMPLES = [
    example("returns", "how many days after delivery are returns accepted?", RETURNS, "30 days"),
    example("exchange", "is an exchange for another size free?", EXCHANGES, "free of charge"),
    example("express", "when does express shipping arrive?", SHIPPING, "the next day"),
    example("gift", "do gift cards expire?", GIFT_CARDS, "never expire"),
]


def test_each_question_gets_the_closest_other_passage_that_does_not_hold_its_answer():
    negatives = {n.id: n for n in no_answer_passages(EXAMPLES, 1.0, seed=0)}
    # the exchanges page matches the returns question best but also reads "30 days": labelling it
    # "no answer" would teach the reader to miss a right answer, so the next best page is taken
    assert negatives["returns-no-answer"].context == SHIPPING
    assert negatives["express-no-answer"].context == GIFT_CARDS  # shares "shipping"
    # no other page shares a word with these questions: no negative rather than a random one
    assert "gift-no-answer" not in negatives and "exchange-no-answer" not in negatives
    for negative, original in ((negatives["returns-no-answer"], EXAMPLES[0]), (negatives["express-no-answer"], EXAMPLES[2])):
        assert negative.question == original.question
        assert negative.is_impossible and negative.answers == []


def test_the_share_of_questions_is_drawn_by_seed_and_unanswerable_questions_are_skipped():
    # 10 answerable questions, each with a negative among the three pages, and one unanswerable
    examples = [replace(e, id=f"{e.id}{copy}") for copy in range(5) for e in (EXAMPLES[0], EXAMPLES[2])]
    examples.append(QAExample("closed", "do gift cards expire on sundays?", GIFT_CARDS, [], is_impossible=True))
    half = no_answer_passages(examples, 0.5, seed=1)
    assert len(half) == 5 and "closed-no-answer" not in {n.id for n in half}
    assert half == no_answer_passages(examples, 0.5, seed=1)
    assert half != no_answer_passages(examples, 0.5, seed=2)
    assert no_answer_passages(examples, 0.0, seed=1) == []
    assert no_answer_passages(examples[-1:], 1.0, seed=1) == []
