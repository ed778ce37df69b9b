"""Ingest files into a real store: passages cite their sources exactly, re-ingesting is idempotent,
bad files are reported without harming anything."""

from __future__ import annotations

import json
import re

import pytest

from assistant.errors import StoreError
from knowledge import ingest_path, open_store, read_source_text
from knowledge.ingest import EMBED_BATCH, MAX_FILE_BYTES

REFUNDS = """# Refunds

Refunds go back to the original payment method within five to seven business days after the
warehouse receives your return.

## Store credit

If you prefer, we can issue store credit instead; it arrives in your account immediately.
"""
SHIPPING = "International shipping takes ten to fifteen days.\r\nCustoms duties are collected at checkout.\r\n"
FAQ = 'question,answer\n"How do I reset my password?","Click ""Forgot password"" on the sign-in page."\n"Do you sell gift cards?","Yes, from 10 to 500 dollars;\nthey never expire."\n'
NOTES = '{"title": "Loyalty", "text": "Members earn one point per dollar spent."}\n\n{"title": "Warranty", "text": "Electronics carry a two-year warranty."}\n'


@pytest.fixture
def docs(tmp_path):
    root = tmp_path / "docs"
    (root / "policies").mkdir(parents=True)
    (root / "policies" / "refunds.md").write_text(REFUNDS, encoding="utf-8")
    (root / "shipping.txt").write_bytes(SHIPPING.encode("utf-8"))
    (root / "faq.csv").write_text(FAQ, encoding="utf-8")
    (root / "notes.jsonl").write_text(NOTES, encoding="utf-8")
    (root / "image.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")  # unsupported: ignored inside folders
    (root / ".hidden.md").write_text("Secret draft about refunds.", encoding="utf-8")
    return root


@pytest.fixture
def store(tmp_path):
    return open_store(tmp_path / "store")


def assert_hits_slice_their_sources(hits, root):
    assert hits
    for hit in hits:
        assert read_source_text(root / hit.source)[hit.start : hit.end] == hit.text


def test_ingest_then_search_returns_the_right_passage_with_exact_offsets(store, docs):
    summary = ingest_path(store, docs, "shop")
    assert (summary.added, summary.replaced, summary.skipped, summary.errors) == (4, 0, 0, [])
    assert summary.chunks == store.count() and summary.chunks >= 6
    assert {doc_id.rsplit("#", 1)[0] for doc_id in store.ids()} == {"faq.csv", "notes.jsonl", "policies/refunds.md", "shipping.txt"}
    expectations = {
        "how many days until refunds reach my card": "policies/refunds.md",
        "customs duties for international orders": "shipping.txt",
        "I forgot my password": "faq.csv",
        "do gift cards expire": "faq.csv",
        "how many loyalty points per dollar": "notes.jsonl",
    }
    for mode in ("dense", "bm25", "hybrid"):
        for query, source in expectations.items():
            hits = store.search(query, k=3, mode=mode)
            assert hits[0].source == source, (mode, query, hits[0])
            assert_hits_slice_their_sources(hits, docs)


def test_passages_keep_plugin_source_and_chunk_metadata(store, docs):
    ingest_path(store, docs, "shop")
    csv_hit = store.search("gift cards", k=1, mode="bm25", filters={"source": "faq.csv"})[0]
    assert csv_hit.text == '"Do you sell gift cards?","Yes, from 10 to 500 dollars;\nthey never expire."'
    assert csv_hit.metadata["fields"] == {"question": "Do you sell gift cards?", "answer": "Yes, from 10 to 500 dollars;\nthey never expire."}
    expected = {"plugin": "shop", "source": "faq.csv", "chunk": 1, "row": 2, "line": 3, "chunking": "800/120"}
    assert {key: csv_hit.metadata[key] for key in expected} == expected
    assert csv_hit.metadata["path"] == str((docs / "faq.csv").resolve())
    assert len(csv_hit.metadata["content_hash"]) == 64 and csv_hit.doc_id == "faq.csv#1"
    line_hit = store.search("warranty", k=1, mode="bm25", filters={"source": "notes.jsonl"})[0]
    assert line_hit.metadata["line"] == 3 and line_hit.metadata["fields"]["title"] == "Warranty"
    assert json.loads(line_hit.text)["text"] == "Electronics carry a two-year warranty."
    assert store.count({"plugin": "shop"}) == store.count()


def test_long_documents_are_split_into_overlapping_chunks(store, tmp_path):
    paragraphs = [f"Paragraph {i} explains topic number {i} of the handbook in a few plain words." for i in range(60)]
    paragraphs[41] = "The emergency hotline for lost luggage is open around the clock every day of the year."
    (tmp_path / "handbook.txt").write_text("\n\n".join(paragraphs), encoding="utf-8")
    summary = ingest_path(store, tmp_path / "handbook.txt", "shop", chunk_size=300, overlap=60)
    assert summary.chunks == store.count() > 10
    hits = store.search("who do I call when my luggage is lost", k=3)
    assert "emergency hotline" in hits[0].text and hits[0].source == "handbook.txt"
    assert_hits_slice_their_sources(hits, tmp_path)
    chunks = sorted(store.search("paragraph topic handbook", k=100, mode="dense"), key=lambda h: h.start)
    assert all(len(h.text) <= 300 for h in chunks)
    assert all(b.start < a.end for a, b in zip(chunks, chunks[1:]))  # neighbours overlap


def test_reingesting_unchanged_files_adds_nothing_and_writes_nothing(store, docs):
    first = ingest_path(store, docs, "shop")
    generation = store.manifest["generation"]
    again = ingest_path(store, docs, "shop")
    assert (again.added, again.replaced, again.skipped, again.chunks) == (0, 0, 4, 0)
    assert store.count() == first.chunks and store.manifest["generation"] == generation


def test_a_changed_file_replaces_all_its_old_passages(store, docs):
    ingest_path(store, docs, "shop")
    before = store.count()
    old_refund_ids = store.ids({"source": "policies/refunds.md"})
    assert len(old_refund_ids) >= 1
    (docs / "policies" / "refunds.md").write_text("Refunds now take three days.", encoding="utf-8")
    summary = ingest_path(store, docs, "shop")
    assert (summary.added, summary.replaced, summary.skipped, summary.chunks) == (0, 1, 3, 1)
    assert store.ids({"source": "policies/refunds.md"}) == ["policies/refunds.md#0"]
    assert store.count() == before - len(old_refund_ids) + 1
    hit = store.search("store credit", k=1, mode="bm25")
    assert not hit or hit[0].source != "policies/refunds.md"
    assert store.search("refunds days", k=1, mode="bm25")[0].text == "Refunds now take three days."


def test_new_chunking_settings_replace_the_passages(store, docs):
    ingest_path(store, docs / "policies", "shop")
    summary = ingest_path(store, docs / "policies", "shop", chunk_size=100, overlap=20)
    assert summary.replaced == 1 and store.count() == summary.chunks > 1


def test_a_single_file_is_named_by_its_file_name(store, docs):
    ingest_path(store, docs / "policies" / "refunds.md", "shop")
    assert {h.source for h in store.search("refunds", k=10)} == {"refunds.md"}


@pytest.mark.parametrize(
    "name, content, reason",
    [
        ("empty.txt", b"", "empty"),
        ("blank.md", b"  \n\t\n", "only whitespace"),
        ("binary.txt", b"abc\x00\x01\x02def", "binary"),
        ("latin1.txt", "caf\u00e9 au lait".encode("latin-1"), "not UTF-8.*0xe9 at offset 3"),
        ("broken.jsonl", b'{"ok": 1}\n{not json}\n', "line 2 is not valid JSON"),
        ("broken.csv", b'a,b\n"x"y,1\n', "malformed CSV.*line 2"),
        ("header-only.csv", b"question,answer\n", "no passages"),
    ],
)
def test_bad_files_are_reported_and_everything_else_is_ingested(store, docs, name, content, reason):
    ingest_path(store, docs / "shipping.txt", "shop")
    kept = store.search("customs duties", k=1)[0]
    (docs / name).write_bytes(content)
    summary = ingest_path(store, docs, "shop")
    assert len(summary.errors) == 1 and summary.errors[0].startswith(f"{name}: ")
    assert re.search(reason, summary.errors[0]), summary.errors[0]
    assert (summary.added, summary.skipped) == (3, 1)
    assert store.ids({"source": name}) == []
    assert store.search("customs duties", k=1)[0] == kept


def test_a_50_mb_file_is_refused_before_it_is_read(store, tmp_path):
    big = tmp_path / "dump.txt"
    with open(big, "wb") as handle:
        handle.truncate(50 * 1024 * 1024)
    (tmp_path / "ok.txt").write_text("Small useful note about refunds.", encoding="utf-8")
    summary = ingest_path(store, tmp_path, "shop")
    assert summary.added == 1 and len(summary.errors) == 1
    assert f"52.4 MB; the limit is {MAX_FILE_BYTES / 1e6:g} MB" in summary.errors[0] and "Split it" in summary.errors[0]


def test_a_single_unsupported_file_is_reported(store, tmp_path):
    (tmp_path / "slides.pdf").write_bytes(b"%PDF-1.4")
    summary = ingest_path(store, tmp_path / "slides.pdf", "shop")
    assert summary.added == 0 and "unsupported file type '.pdf'" in summary.errors[0]
    assert store.count() == 0


def test_missing_path_and_bad_chunking_raise_clear_errors(store, tmp_path):
    with pytest.raises(StoreError, match="does not exist"):
        ingest_path(store, tmp_path / "nope", "shop")
    with pytest.raises(StoreError, match="Invalid chunking"):
        ingest_path(store, tmp_path, "shop", chunk_size=100, overlap=80)


def test_an_empty_folder_is_reported(store, tmp_path):
    (tmp_path / "empty").mkdir()
    summary = ingest_path(store, tmp_path / "empty", "shop")
    assert summary.added == 0 and "no .txt, .md, .csv, .jsonl files found" in summary.errors[0]


def test_progress_is_reported_per_batch_up_to_the_total(store, docs, capsys):
    for i in range(100):
        (docs / f"extra{i:03d}.txt").write_text(f"Extra note number {i}.", encoding="utf-8")
    calls = []
    summary = ingest_path(store, docs, "shop", on_progress=lambda done, total, name: calls.append((done, total, name)))
    assert len(calls) == 2 and calls[0][:2] == (EMBED_BATCH, summary.chunks) and calls[1][:2] == (summary.chunks, summary.chunks)
    assert {name for _, _, name in calls} <= {f"extra{i:03d}.txt" for i in range(100)} | {"faq.csv", "notes.jsonl", "policies/refunds.md", "shipping.txt"}
    (docs / "shipping.txt").write_text("Shipping is free over 50 dollars.", encoding="utf-8")
    ingest_path(store, docs, "shop", show_progress=True)
    assert "shipping.txt" in capsys.readouterr().out
