"""Multi-turn session state in SQLite.

One row per session holds its slots and plugin-owned state as JSON; one row per
turn holds the message and the reply. Each turn's changes are written in one
transaction, so a crash mid-turn loses that turn only. Turns of the *same*
session are serialised by a per-session lock; different sessions run concurrently
and never read each other's rows.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections import defaultdict
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from assistant.contract import Reply, Session

SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    id TEXT PRIMARY KEY,
    created REAL NOT NULL,
    updated REAL NOT NULL,
    slots TEXT NOT NULL DEFAULT '{}',
    plugin_state TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE IF NOT EXISTS turns (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    session_id TEXT NOT NULL REFERENCES sessions(id),
    created REAL NOT NULL,
    user_text TEXT NOT NULL,
    plugin TEXT,
    intent TEXT,
    confidence REAL,
    reply TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS turns_by_session ON turns(session_id, id);
CREATE TABLE IF NOT EXISTS feedback (
    turn_id INTEGER PRIMARY KEY REFERENCES turns(id),
    session_id TEXT NOT NULL,
    rating INTEGER NOT NULL,
    comment TEXT,
    created REAL NOT NULL
);
"""

#: How many earlier turns a plugin sees in ``Session.history``.
HISTORY_TURNS = 20


class SessionStore:
    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._locks: dict[str, threading.Lock] = defaultdict(threading.Lock)
        self._locks_guard = threading.Lock()
        with self._connect() as db:
            db.executescript(SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA busy_timeout=30000")
            self._local.db = db
        return db

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        db = self._connect()
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    @contextmanager
    def lock(self, session_id: str) -> Iterator[None]:
        """Serialise turns of one session (a user double-clicking send, two tabs)."""
        with self._locks_guard:
            lock = self._locks[session_id]
        with lock:
            yield

    def load(self, session_id: str) -> Session:
        db = self._connect()
        row = db.execute("SELECT slots, plugin_state FROM sessions WHERE id = ?", (session_id,)).fetchone()
        slots, state = (json.loads(row[0]), json.loads(row[1])) if row else ({}, {})
        turns = db.execute(
            "SELECT user_text, reply FROM turns WHERE session_id = ? ORDER BY id DESC LIMIT ?",
            (session_id, HISTORY_TURNS),
        ).fetchall()
        history: list[dict] = []
        for user_text, reply_json in reversed(turns):
            reply = json.loads(reply_json)
            history.append({"role": "user", "text": user_text, "plugin": reply["plugin"], "intent": reply["intent"]})
            history.append({"role": "assistant", "text": reply["text"], "plugin": reply["plugin"], "intent": reply["intent"]})
        return Session(session_id, history, slots, state)

    def save_turn(self, session: Session, user_text: str, reply: Reply) -> int:
        """Persist the turn and the session's new state atomically; returns the turn id."""
        now = time.time()
        with self._transaction() as db:
            db.execute(
                "INSERT INTO sessions(id, created, updated, slots, plugin_state) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT(id) DO UPDATE SET updated=excluded.updated, slots=excluded.slots, plugin_state=excluded.plugin_state",
                (session.id, now, now, json.dumps(session.slots), json.dumps(session.plugin_states)),
            )
            cursor = db.execute(
                "INSERT INTO turns(session_id, created, user_text, plugin, intent, confidence, reply) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (session.id, now, user_text, reply.plugin, reply.intent, reply.confidence, json.dumps(reply.to_dict())),
            )
            return int(cursor.lastrowid)

    def transcript(self, session_id: str) -> list[tuple[str, Reply]]:
        rows = self._connect().execute(
            "SELECT user_text, reply FROM turns WHERE session_id = ? ORDER BY id", (session_id,)
        ).fetchall()
        return [(text, Reply.from_dict(json.loads(reply))) for text, reply in rows]

    def add_feedback(self, session_id: str, turn_id: int, rating: int, comment: str | None = None) -> None:
        """Record thumbs up (+1) or down (-1) for a turn of this session; a second vote replaces the first."""
        if rating not in (1, -1):
            raise ValueError("rating must be +1 or -1")
        with self._transaction() as db:
            owner = db.execute("SELECT session_id FROM turns WHERE id = ?", (turn_id,)).fetchone()
            if owner is None or owner[0] != session_id:
                raise KeyError(f"turn {turn_id} does not belong to session {session_id}")
            db.execute(
                "INSERT OR REPLACE INTO feedback(turn_id, session_id, rating, comment, created) VALUES (?, ?, ?, ?, ?)",
                (turn_id, session_id, rating, comment, time.time()),
            )

    def remove_feedback(self, session_id: str, turn_id: int) -> None:
        """Withdraw this session's vote on a turn (a second click on the same thumb in the UI)."""
        with self._transaction() as db:
            db.execute("DELETE FROM feedback WHERE turn_id = ? AND session_id = ?", (turn_id, session_id))

    def feedback(self) -> list[dict]:
        """All feedback joined with its turn, oldest first."""
        rows = self._connect().execute(
            "SELECT f.turn_id, f.session_id, f.rating, f.comment, t.user_text, t.plugin, t.intent, t.reply "
            "FROM feedback f JOIN turns t ON t.id = f.turn_id ORDER BY f.created"
        ).fetchall()
        keys = ("turn_id", "session_id", "rating", "comment", "text", "plugin", "intent", "reply")
        return [dict(zip(keys, row)) | {"reply": json.loads(row[7])["text"]} for row in rows]
