"""`assistant ingest` as a user runs it: summary table, idempotency, clear errors."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from assistant.cli import app
from assistant.cli.ingest import ingest_into_plugin
from assistant.errors import PluginNotFoundError
from knowledge import open_store

PLUGIN = "customer_service"  # registered by this project's pyproject.toml


@pytest.fixture
def docs(tmp_path):
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "refunds.md").write_text("Refunds reach your card within five business days.", encoding="utf-8")
    (folder / "shipping.txt").write_text("We ship to forty countries.", encoding="utf-8")
    (folder / "broken.txt").write_bytes(b"\xff\xfe not utf-8")
    return folder


def invoke(*args):
    return CliRunner().invoke(app, ["ingest", *map(str, args)])


def test_ingest_prints_a_summary_and_fills_the_plugin_store(settings, docs):
    result = invoke(docs, "--plugin", PLUGIN, "--data-dir", settings.data_dir)
    assert result.exit_code == 0, result.output
    header = next(line for line in result.output.splitlines() if line.startswith("┃ added"))
    assert header.split("┃")[1:-1] == [f" {name} " for name in ("added", "replaced", "unchanged", "failed", "passages", "in store", "seconds")]
    row = next(line for line in result.output.splitlines() if line.startswith("│"))
    assert [cell.strip() for cell in row.split("│")[1:-2]] == ["2", "0", "0", "1", "2", "2"]
    assert "broken.txt: the file is not UTF-8" in " ".join(result.output.split())
    store = open_store(settings.stores_dir / PLUGIN)
    assert store.count() == 2 and store.search("refund card", k=1)[0].source == "refunds.md"

    again = invoke(docs, "--plugin", PLUGIN, "--data-dir", settings.data_dir)
    assert again.exit_code == 0
    summary, total = ingest_into_plugin(settings, docs, PLUGIN)
    assert (summary.added, summary.replaced, summary.skipped, total) == (0, 0, 2, 2)


def test_index_option_converts_the_store(settings, docs):
    ingest_into_plugin(settings, docs, PLUGIN)
    result = invoke(docs, "--plugin", PLUGIN, "--index", "approximate", "--data-dir", settings.data_dir)
    assert result.exit_code == 0, result.output
    assert open_store(settings.stores_dir / PLUGIN).index_kind == "approximate"
    bad = invoke(docs, "--plugin", PLUGIN, "--index", "hnsw", "--data-dir", settings.data_dir)
    assert bad.exit_code == 1 and "Unknown index 'hnsw'" in bad.output


def test_unknown_plugin_is_refused_with_the_installed_ones(settings, docs):
    result = invoke(docs, "--plugin", "nope", "--data-dir", settings.data_dir)
    assert result.exit_code == 1 and "Unknown plugin 'nope'" in result.output and PLUGIN in result.output
    with pytest.raises(PluginNotFoundError):
        ingest_into_plugin(settings, docs, "nope")
    assert not (settings.stores_dir / "nope").exists()


def test_missing_path_and_only_bad_files_exit_with_an_error(settings, tmp_path, docs):
    missing = invoke(tmp_path / "absent", "--plugin", PLUGIN, "--data-dir", settings.data_dir)
    assert missing.exit_code == 1 and "does not exist" in " ".join(missing.output.split())
    only_bad = invoke(docs / "broken.txt", "--plugin", PLUGIN, "--data-dir", settings.data_dir)
    assert only_bad.exit_code == 1 and "not UTF-8" in " ".join(only_bad.output.split())
