"""End to end in a real headless browser: Debian's chromium driven by Playwright.

The app runs in this process (so the test can read the session store it writes) over a
data dir whose customer_service models were fine-tuned for the session (with its own copy of
the knowledge stores, since a test uploads into them). The screenshots land in test-artifacts/
for a person to look at.
"""

from __future__ import annotations

import socket
import sqlite3
import time
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"]
#: First answers load nothing (launch warmed up), but two CPU cores are slow: be generous.
ANSWER_TIMEOUT_MS = 120_000

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium: apt-get install -y chromium"),
]

QUESTION = "How long does a refund take?"
NEW_QUESTION = "How much does assembly cost?"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(condition, seconds: float = 10.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    return condition()


@pytest.fixture(scope="module")
def running_app(trained_customer_service, tmp_path_factory):
    from assistant.engine import DialogEngine
    from tests.conftest import with_own_stores
    from ui import launch

    engine = DialogEngine(with_own_stores(trained_customer_service, tmp_path_factory.mktemp("browser") / "data"))
    port = free_port()
    demo = launch(engine, host="127.0.0.1", port=port, block=False)
    yield engine, f"http://127.0.0.1:{port}/"
    demo.close()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield instance
        instance.close()


@pytest.fixture
def artifacts(project_root) -> Path:
    folder = project_root / "test-artifacts"
    folder.mkdir(exist_ok=True)
    return folder


def ask(page, text: str):
    """Send ``text`` and return the locator of the bot message that answers it."""
    answers = page.locator("#chatbot [data-testid='bot']")
    before = answers.count()
    page.locator("#message textarea").fill(text)
    page.keyboard.press("Enter")
    answers.nth(before).wait_for(timeout=ANSWER_TIMEOUT_MS)
    return answers.nth(before)


def session_ids(engine) -> set[str]:
    with sqlite3.connect(engine.settings.sessions_db) as db:
        return {row[0] for row in db.execute("SELECT DISTINCT session_id FROM turns")}


def test_chat_shows_evidence_and_stores_a_thumbs_up(running_app, browser, artifacts):
    engine, url = running_app
    earlier = session_ids(engine)
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    page.goto(url)
    answer = ask(page, QUESTION)
    page.get_by_role("button", name="Like").last.click()

    [vote] = wait_for(engine.sessions.feedback)
    assert vote["rating"] == 1 and vote["text"] == QUESTION
    [(_, reply)] = engine.sessions.transcript(vote["session_id"])
    assert reply.plugin == "customer_service" and reply.evidence, reply.text
    shown = answer.inner_text()
    assert "customer_service" in shown and reply.text.split("\n")[0][:40] in shown

    panel = answer.locator("details.evidence")
    panel.locator("summary").click()
    assert panel.get_attribute("open") is not None
    first_source = panel.locator(".evidence-source").first
    assert first_source.is_visible() and reply.evidence[0].source in first_source.inner_text()
    if reply.evidence[0].answer is not None:
        assert panel.locator("mark").first.inner_text() == reply.evidence[0].answer.strip()
    page.screenshot(path=str(artifacts / "ui-chat.png"), full_page=True)

    other = browser.new_page()
    other.goto(url)
    assert other.locator("#chatbot [data-testid='bot']").count() == 0
    ask(other, "I want to talk to a person")
    new_sessions = wait_for(lambda: session_ids(engine) - earlier - {vote["session_id"]})
    assert len(new_sessions) == 1, "a second tab must get its own session"
    other.close()
    page.close()


def choose(page, dropdown_id: str, option: str) -> None:
    page.locator(f"#{dropdown_id} input").click()
    page.get_by_role("option", name=option, exact=True).click()


def test_uploaded_document_is_ingested_then_answers_with_a_citation(running_app, browser, artifacts, tmp_path):
    from tests.conftest import ASSEMBLY_PAGE

    engine, url = running_app
    document = tmp_path / "assembly-service.md"
    document.write_text(ASSEMBLY_PAGE, encoding="utf-8")
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    page.goto(url)
    page.get_by_role("tab", name="Knowledge").click()
    choose(page, "knowledge-plugin", "customer_service")
    page.locator("#knowledge-files input[type='file']").set_input_files(str(document))
    page.locator("#ingest").click()
    summary = page.locator("#ingest-summary")
    summary.get_by_text("Ingested 1 file(s)").wait_for(timeout=ANSWER_TIMEOUT_MS)
    assert "1 new" in summary.inner_text()
    page.screenshot(path=str(artifacts / "ui-knowledge.png"), full_page=True)

    page.get_by_role("tab", name="Chat").click()  # automatic routing: no plugin chosen
    answer = ask(page, NEW_QUESTION)
    assert "$49 per item" in answer.inner_text() and "customer_service" in answer.inner_text()
    panel = answer.locator("details.evidence")
    panel.locator("summary").click()
    assert "assembly-service.md" in panel.locator(".evidence-source").first.inner_text()
    assert "$49" in panel.locator("mark").first.inner_text()
    page.screenshot(path=str(artifacts / "ui-uploaded-answer.png"), full_page=True)
    page.close()
