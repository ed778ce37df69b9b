"""Uploads go through knowledge.ingest_path into the plugin's store; bad files are refused clearly."""

from __future__ import annotations

import pytest

from assistant.errors import UnsupportedUploadError, UploadTooLargeError
from knowledge import open_store
from ui.knowledge_tab import check_upload, ingest_uploads, report_markdown, upload_dir

RETURNS = "# Returns\n\nItems can be returned within 30 days of delivery for a full refund.\n"


@pytest.fixture
def uploads(tmp_path):
    """A browser's upload folder: what Gradio hands the handler."""
    folder = tmp_path / "browser"
    folder.mkdir()
    return folder


def test_unsupported_type_is_refused_with_the_supported_list(uploads):
    pdf = uploads / "manual.pdf"
    pdf.write_bytes(b"%PDF-1.7")
    with pytest.raises(UnsupportedUploadError, match=r"manual.pdf.*\.txt, \.md, \.csv, \.jsonl"):
        check_upload(pdf, max_mb=20)


def test_oversized_file_is_refused_with_the_limit_and_the_fix(uploads):
    big = uploads / "big.txt"
    big.write_text("x" * 1_500_000)
    with pytest.raises(UploadTooLargeError, match=r"big.txt is 1.5 MB; the limit is 1 MB.*--max-upload-mb"):
        check_upload(big, max_mb=1)


def test_uploads_are_ingested_searchable_and_kept_by_name(settings, uploads):
    (uploads / "returns.md").write_text(RETURNS, encoding="utf-8")
    (uploads / "notes.pdf").write_bytes(b"%PDF")
    (uploads / "huge.txt").write_text("y" * 1_200_000)
    calls = []
    report = ingest_uploads(
        settings, "shop", sorted(uploads.iterdir()), max_mb=1, on_progress=lambda done, total, label: calls.append((done, total))
    )
    assert report.summary.added == 1 and report.summary.chunks >= 1 and report.summary.errors == []
    assert set(report.rejected) == {"notes.pdf", "huge.txt"}
    assert calls[-1] == (1, 1)
    [hit] = open_store(settings.stores_dir / "shop").search("how many days to return an item", k=1)
    assert hit.source == "returns.md" and "30 days" in hit.text
    assert (upload_dir(settings, "shop") / "returns.md").read_text(encoding="utf-8") == RETURNS
    summary = report_markdown(report)
    assert "Ingested 1 file(s)" in summary and "Refused 2 file(s)" in summary and "notes.pdf" in summary

    again = ingest_uploads(settings, "shop", [uploads / "returns.md"], max_mb=1)
    assert again.summary.skipped == 1 and again.summary.added == 0


def test_a_broken_new_version_leaves_store_and_kept_copy_intact(settings, uploads):
    good = uploads / "returns.md"
    good.write_text(RETURNS, encoding="utf-8")
    ingest_uploads(settings, "shop", [good])
    store = open_store(settings.stores_dir / "shop")
    before = store.ids()
    broken_dir = uploads / "later"
    broken_dir.mkdir()
    broken = broken_dir / "returns.md"
    broken.write_bytes(b"\xff\xfe not utf-8 \x00\x01")
    report = ingest_uploads(settings, "shop", [broken])
    assert len(report.summary.errors) == 1 and "returns.md" in report.summary.errors[0]
    assert store.ids() == before
    assert (upload_dir(settings, "shop") / "returns.md").read_text(encoding="utf-8") == RETURNS
    assert [p.name for p in upload_dir(settings, "shop").iterdir()] == ["returns.md"]
