"""Kill a real ingest process (SIGKILL, no clean-up possible) and check the previous store is intact."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap

import pytest

from knowledge import ingest_path, open_store, read_source_text
from knowledge.faiss_store import CURRENT, TEMP_PREFIX, _snapshots

NEW_FILES = 70
ORIGINAL = "Refunds go back to the original payment method within five to seven business days."

#: The child ingests a folder of new documents. Depending on the crash point it either pauses
#: after the first embedded batch (so the parent kills it mid-ingest) or kills itself at the
#: instant it would switch CURRENT to the new, fully written snapshot.
CHILD = textwrap.dedent(
    """
    import os, signal, sys, time
    from pathlib import Path
    from knowledge import ingest_path, open_store

    store_path, docs, crash_point = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]

    def on_progress(done, total, source):
        print(f"progress {done}/{total}", flush=True)
        if crash_point == "mid-ingest":
            time.sleep(60)

    if crash_point == "publish":
        real_replace = os.replace
        def replace(src, dst):
            if Path(dst).name == "CURRENT":
                os.kill(os.getpid(), signal.SIGKILL)
            real_replace(src, dst)
        os.replace = replace

    ingest_path(open_store(store_path), docs, "shop", on_progress=on_progress)
    print("finished", flush=True)
    """
)


@pytest.fixture
def populated(tmp_path):
    """A store holding one ingested file, and a folder of new files for the interrupted ingest."""
    old = tmp_path / "old"
    old.mkdir()
    (old / "refunds.txt").write_text(ORIGINAL, encoding="utf-8")
    store_path = tmp_path / "store"
    ingest_path(open_store(store_path), old, "shop")
    new = tmp_path / "new"
    new.mkdir()
    for i in range(NEW_FILES):  # more passages than one embedding batch, so there is a "middle"
        (new / f"note{i:02d}.txt").write_text(f"Note {i}: parcels to region {i} ship on weekday {i % 5}.", encoding="utf-8")
    (new / "refunds.txt").write_text("Refunds are no longer possible.", encoding="utf-8")
    return store_path, old, new


def run_child(tmp_path, store_path, docs, crash_point):
    script = tmp_path / "child.py"
    script.write_text(CHILD, encoding="utf-8")
    env = dict(os.environ, HF_HUB_OFFLINE="1", PYTHONPATH=os.pathsep.join(sys.path))
    return subprocess.Popen(
        [sys.executable, str(script), str(store_path), str(docs), crash_point],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )


def assert_old_store_intact(store_path, old):
    _snapshots.clear()  # read what is on disk, as the next process would
    store = open_store(store_path)
    assert store.count() == 1 and store.ids() == ["refunds.txt#0"]
    for mode in ("dense", "bm25", "hybrid"):
        hit = store.search("how long do refunds take", k=5, mode=mode)[0]
        assert hit.text == ORIGINAL == read_source_text(old / hit.source)[hit.start : hit.end]
    return store


@pytest.mark.parametrize("crash_point", ["mid-ingest", "publish"])
def test_killed_ingest_leaves_the_previous_store_readable_and_intact(tmp_path, populated, crash_point):
    store_path, old, new = populated
    before = (store_path / CURRENT).read_text()
    child = run_child(tmp_path, store_path, new, crash_point)
    try:
        first = child.stdout.readline()
        assert first.startswith("progress "), first
        if crash_point == "mid-ingest":
            done, total = map(int, first.split()[1].split("/"))
            assert 0 < done < total  # really in the middle
            os.kill(child.pid, signal.SIGKILL)
        assert child.wait(timeout=120) == -signal.SIGKILL
    finally:
        if child.poll() is None:
            child.kill()
    assert (store_path / CURRENT).read_text() == before
    leftovers = [p.name for p in store_path.iterdir() if p.name.startswith(TEMP_PREFIX) or p.name > json.loads(before)["snapshot"]]
    assert leftovers  # the killed writer really got as far as writing files
    store = assert_old_store_intact(store_path, old)

    summary = ingest_path(store, new / "refunds.txt", "shop")  # the next writer cleans up and succeeds
    assert summary.replaced == 1 and store.count() == 1
    assert [p.name for p in store_path.iterdir() if p.name.startswith((TEMP_PREFIX, "snap-"))] == [json.loads((store_path / CURRENT).read_text())["snapshot"]]
    assert store.search("refunds", k=1, mode="bm25")[0].text == "Refunds are no longer possible."
