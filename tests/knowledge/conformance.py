"""Behaviour every KnowledgeStore backend must show (knowledge.protocol states the contract).

Use it by subclassing in a test module and providing two fixtures::

    class TestMyStore(KnowledgeStoreConformance):
        @pytest.fixture
        def store(self, tmp_path):          # a new, empty store
            return MyStore(tmp_path / "store")

        @pytest.fixture
        def reopen(self, tmp_path):         # opens the same store again, as a new process would
            return lambda: MyStore(tmp_path / "store")
"""

from __future__ import annotations

import pytest

from assistant.errors import StoreError
from knowledge import Document, KnowledgeStore
from knowledge.protocol import SEARCH_MODES

PASSAGES = {
    "refunds": "Refunds are issued to the original payment method within five to seven business days.",
    "password": "To reset your password, click 'Forgot password' on the sign-in page and follow the link we email you.",
    "shipping": "We ship to forty countries. International delivery takes ten to fifteen days; duties are paid at checkout.",
    "giftcards": "Gift cards never expire and can be redeemed online or in any of our stores.",
    "loyalty": "Loyalty members earn one point for every dollar spent and get free shipping on all orders.",
    "warranty": "Electronics carry a two-year warranty covering manufacturing defects but not accidental damage.",
    "cancel": "You can cancel an order within one hour of placing it from the Orders page of your account.",
    "address": "To change the delivery address of an order that has not shipped, contact support with the new address.",
    "damaged": "If an item arrives damaged, send us a photo within 48 hours and we will send a replacement free of charge.",
    "tracking": "A tracking number is emailed when your parcel leaves our warehouse; enter it on the carrier's website.",
    "payment": "We accept Visa, Mastercard, American Express, PayPal and Apple Pay.",
    "pricematch": "If the price of an item drops within 14 days of purchase, we refund the difference on request.",
}
#: Every query shares a keyword with its passage (so BM25 can find it) but is otherwise reworded.
QUERIES = {
    "how many business days do refunds take": "refunds",
    "I forgot my password and cannot sign in": "password",
    "can I pay with PayPal": "payment",
    "where do I find the tracking number of my parcel": "tracking",
    "what is covered by the warranty on electronics": "warranty",
}
#: Two namespaces, so filters have something to tell apart.
BILLING = {"refunds", "giftcards", "payment", "pricematch", "loyalty", "warranty"}


def documents(names=None, prefix: str = "") -> list[Document]:
    """The test passages as documents; each sits at offset 10 of an imaginary source file."""
    names = names or list(PASSAGES)
    return [
        Document(
            id=f"{prefix}{name}",
            text=PASSAGES[name],
            source=f"{name}.txt",
            start=10,
            metadata={"namespace": "billing" if name in BILLING else "orders", "topic": name, "rank": len(name)},
        )
        for name in names
    ]


class KnowledgeStoreConformance:
    @pytest.fixture
    def filled(self, store):
        store.upsert(documents())
        return store

    def test_satisfies_the_protocol(self, store):
        assert isinstance(store, KnowledgeStore)

    def test_empty_store_counts_zero_and_search_says_how_to_fill_it(self, store):
        assert store.count() == 0
        assert store.count({"namespace": "billing"}) == 0
        assert store.ids() == []
        with pytest.raises(StoreError, match="empty.*assistant ingest"):
            store.search("refunds")

    def test_upsert_counts_and_lists_ids(self, store):
        assert store.upsert(documents()) == len(PASSAGES)
        assert store.count() == len(PASSAGES)
        assert store.ids() == sorted(PASSAGES)
        assert store.upsert([]) == 0
        assert store.count() == len(PASSAGES)

    @pytest.mark.parametrize("mode", SEARCH_MODES)
    def test_every_mode_ranks_the_right_passage_first(self, filled, mode):
        for query, expected in QUERIES.items():
            hits = filled.search(query, k=3, mode=mode)
            assert hits and hits[0].doc_id == expected, (mode, query, [h.doc_id for h in hits])

    @pytest.mark.parametrize("mode", SEARCH_MODES)
    def test_hits_carry_score_text_source_offsets_and_metadata(self, filled, mode):
        hits = filled.search("refund of my payment", k=4, mode=mode)
        assert 1 <= len(hits) <= 4
        assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
        assert len({h.doc_id for h in hits}) == len(hits)
        for hit in hits:
            assert hit.text == PASSAGES[hit.doc_id]
            assert hit.source == f"{hit.doc_id}.txt"
            assert (hit.start, hit.end) == (10, 10 + len(hit.text))
            assert hit.metadata == {"namespace": "billing" if hit.doc_id in BILLING else "orders", "topic": hit.doc_id, "rank": len(hit.doc_id)}
            assert isinstance(hit.score, float)

    def test_k_caps_the_results_and_may_exceed_the_store(self, filled):
        assert len(filled.search("order", k=1, mode="dense")) == 1
        assert len(filled.search("order", k=100, mode="dense")) == len(PASSAGES)
        assert len(filled.search("order", k=100, mode="hybrid")) == len(PASSAGES)

    def test_bm25_returns_only_passages_sharing_a_word(self, filled):
        hits = filled.search("PayPal", k=5, mode="bm25")
        assert [h.doc_id for h in hits] == ["payment"]
        assert filled.search("zzzunknownword", k=5, mode="bm25") == []

    def test_upserting_an_existing_id_replaces_it(self, filled):
        filled.upsert([Document(id="payment", text="Payment by bank transfer or cryptocurrency only.", source="payment.txt")])
        assert filled.count() == len(PASSAGES)
        hit = filled.search("cryptocurrency", k=1, mode="bm25")[0]
        assert hit.doc_id == "payment" and "cryptocurrency" in hit.text and hit.metadata == {}
        assert filled.search("PayPal", k=5, mode="bm25") == []
        assert filled.search("pay by bank transfer", k=1, mode="dense")[0].doc_id == "payment"

    def test_duplicate_ids_in_one_upsert_are_refused_and_nothing_is_written(self, filled):
        batch = documents(["refunds"], prefix="new-") + documents(["refunds", "password"], prefix="new-")
        with pytest.raises(StoreError, match="more than once.*new-refunds"):
            filled.upsert(batch)
        assert filled.count() == len(PASSAGES)
        assert "new-password" not in filled.ids()

    @pytest.mark.parametrize(
        "bad, message",
        [
            (Document(id="x", text="   "), "no text"),
            (Document(id="", text="some text"), "non-empty string id"),
            (Document(id="x", text="some text", start=5, end=6), "end - start must equal len"),
            (Document(id="x", text="some text", metadata={"when": object()}), "JSON"),
        ],
    )
    def test_invalid_documents_are_refused_without_damage(self, filled, bad, message):
        with pytest.raises(StoreError, match=message):
            filled.upsert(documents(["refunds"], prefix="ok-") + [bad])
        assert filled.count() == len(PASSAGES)
        assert filled.search("PayPal", k=1, mode="hybrid")[0].doc_id == "payment"

    def test_delete_removes_documents_from_every_mode(self, filled):
        assert filled.delete(["payment", "refunds", "not-there"]) == 2
        assert filled.count() == len(PASSAGES) - 2
        assert "payment" not in filled.ids()
        for mode in SEARCH_MODES:
            assert "payment" not in [h.doc_id for h in filled.search("can I pay with PayPal", k=20, mode=mode)]
        assert filled.delete([]) == 0
        with pytest.raises(StoreError, match="list of document ids"):
            filled.delete("tracking")

    def test_deleting_everything_makes_search_explain_again(self, filled):
        filled.delete(list(PASSAGES))
        assert filled.count() == 0
        with pytest.raises(StoreError, match="empty"):
            filled.search("refunds")
        filled.upsert(documents(["tracking"]))
        assert filled.search("parcel tracking", k=5)[0].doc_id == "tracking"

    @pytest.mark.parametrize("mode", SEARCH_MODES)
    def test_filters_restrict_count_ids_and_search(self, filled, mode):
        billing = {"namespace": "billing"}
        assert filled.count(billing) == len(BILLING)
        assert filled.ids(billing) == sorted(BILLING)
        hits = filled.search("payment within days", k=10, mode=mode, filters=billing)
        assert hits and {h.doc_id for h in hits} <= BILLING
        hits = filled.search("payment refund", k=10, mode=mode, filters={"topic": ["refunds", "tracking"]})
        assert {h.doc_id for h in hits} <= {"refunds", "tracking"} and "refunds" in {h.doc_id for h in hits}
        both = {"namespace": "orders", "source": "tracking.txt"}
        assert filled.count(both) == 1
        assert [h.doc_id for h in filled.search("parcel", k=5, mode=mode, filters=both)] == ["tracking"]
        assert filled.search("parcel", k=5, mode=mode, filters={"namespace": "nowhere"}) == []
        assert filled.count({"rank": len("refunds")}) == sum(len(n) == len("refunds") for n in PASSAGES)

    def test_invalid_filters_are_refused(self, filled):
        with pytest.raises(StoreError, match="filter key"):
            filled.count({'bad"key': 1})
        with pytest.raises(StoreError, match="strings, numbers or booleans"):
            filled.search("x", filters={"topic": {"nested": 1}})

    def test_invalid_search_arguments_are_refused(self, filled):
        with pytest.raises(StoreError, match="search mode"):
            filled.search("refunds", mode="semantic")
        with pytest.raises(StoreError, match="positive integer"):
            filled.search("refunds", k=0)
        with pytest.raises(StoreError, match="empty"):
            filled.search("   ")

    def test_transaction_publishes_all_changes_at_once(self, filled):
        with filled.transaction() as writer:
            writer.upsert(documents(["refunds", "payment"], prefix="copy-"))
            writer.delete(["tracking"])
            assert filled.count() == len(PASSAGES)  # nothing visible before the block ends
        assert filled.count() == len(PASSAGES) + 1
        assert "tracking" not in filled.ids() and "copy-payment" in filled.ids()

    def test_failed_transaction_changes_nothing(self, filled):
        with pytest.raises(RuntimeError):
            with filled.transaction() as writer:
                writer.upsert(documents(["refunds"], prefix="copy-"))
                writer.delete(["payment"])
                raise RuntimeError("interrupted")
        assert filled.count() == len(PASSAGES)
        assert "payment" in filled.ids() and "copy-refunds" not in filled.ids()

    def test_many_small_writes_keep_vectors_and_text_in_step(self, store):
        names = list(PASSAGES)
        store.upsert(documents(names[:4]))
        store.upsert(documents(names[4:8]))
        store.delete([names[0], names[5]])
        store.upsert(documents(names[8:]) + documents([names[1]]))
        live = set(names) - {names[0], names[5]}
        assert set(store.ids()) == live
        for name in live:
            assert store.search(PASSAGES[name], k=1, mode="dense")[0].doc_id == name

    def test_precomputed_embeddings_must_fit_the_store(self, filled):
        with pytest.raises(StoreError, match="embedding"):
            filled.upsert([Document(id="v", text="vector text", embedding=[0.1, 0.2, 0.3])])
        assert filled.count() == len(PASSAGES)

    def test_contents_survive_reopening(self, filled, reopen):
        again = reopen()
        assert again.count() == len(PASSAGES)
        assert again.ids({"namespace": "orders"}) == sorted(set(PASSAGES) - BILLING)
        assert again.search("I forgot my password", k=1)[0].doc_id == "password"
