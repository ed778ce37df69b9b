"""Replay scripted multi-turn conversations through a dialog engine and score every turn.

A conversations file is JSON Lines, one conversation per line::

    {"id": "track-order", "turns": [
        {"user": "where is my order?", "intent": "order_status", "contains": ["order number"]},
        {"user": "10004", "slots": {"order_number": "10004"}, "contains": "shipped"},
        {"user": "how long do I have to return a jacket?", "answer": "30 days", "source": "returns.md"},
        {"user": "this is useless, get me a person", "handoff": true}]}

Every turn needs ``user``; all expectations are optional (a missing key or ``null`` means
"not scored"):

- ``intent``: the reply's intent label.
- ``slots``: session slots that must hold these values after the turn (compared as strings).
- ``contains``: a string or list of strings that must all occur in the reply (case-insensitive).
- ``answer``: the expected answer span, scored by SQuAD exact match and F1 against the first
  evidence that carries an extracted answer (0 when the reply has none).
- ``source``: the file name the reply must cite (the source file name of the answer's evidence,
  or of the first evidence when no answer was extracted).
- ``handoff``: whether the turn hands the conversation to a human. A turn without it counts
  as ``false`` for handoff precision/recall, so a surprise handoff is a false positive.

Each conversation runs in a fresh session, so conversations never influence each other.
The runner only uses ``engine.handle`` and the engine's session store, so it works for any
plugin set. Conversations may change data (cancel an order, open a ticket), so run them on
:func:`scratch_engine`, which shares the trained models and stores but nothing else.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import tempfile
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePath
from typing import Any, Iterator

import numpy as np
from sklearn.metrics import accuracy_score, precision_score, recall_score

from assistant.config import Settings
from assistant.contract import PluginContext, Reply
from assistant.errors import DataFormatError
from assistant.training.metrics import answer_scores

TURN_KEYS = frozenset({"user", "intent", "slots", "contains", "answer", "source", "handoff"})


@dataclass
class ScriptedTurn:
    user: str
    intent: str | None = None
    slots: dict[str, str] | None = None
    contains: list[str] | None = None
    answer: str | None = None
    source: str | None = None
    handoff: bool | None = None


@dataclass
class Conversation:
    id: str
    turns: list[ScriptedTurn]
    line: int


@dataclass
class TurnFailure:
    conversation: str
    turn: int
    user: str
    reply: str
    problems: list[str]


@dataclass
class ConversationReport:
    """Metrics over every scored turn; a metric is ``None`` when no turn expects it."""

    conversations: int
    turns: int
    intent_accuracy: float | None
    answer_exact_match: float | None
    answer_f1: float | None
    source_accuracy: float | None
    handoff_precision: float | None
    handoff_recall: float | None
    slot_accuracy: float | None
    contains_pass_rate: float | None
    latency_p50_ms: float
    latency_p95_ms: float
    #: Turns scored per metric, so a reader knows what each rate is out of.
    support: dict[str, int] = field(default_factory=dict)
    failures: list[TurnFailure] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _fail(path: Path, line: int, reason: str) -> DataFormatError:
    return DataFormatError(str(path), reason, line=line)


def _parse_turn(raw: Any, path: Path, line: int, index: int) -> ScriptedTurn:
    where = f"turn {index + 1}"
    if not isinstance(raw, dict):
        raise _fail(path, line, f"{where} is {type(raw).__name__}, expected an object with a 'user' key")
    unknown = set(raw) - TURN_KEYS
    if unknown:
        raise _fail(path, line, f"{where} has unknown key(s) {', '.join(sorted(unknown))}; allowed: {', '.join(sorted(TURN_KEYS))}")
    user = raw.get("user")
    if not isinstance(user, str) or not user.strip():
        raise _fail(path, line, f"{where} needs a non-empty string 'user'")
    contains = raw.get("contains")
    if isinstance(contains, str):
        contains = [contains]
    if contains is not None and not (isinstance(contains, list) and all(isinstance(c, str) and c for c in contains)):
        raise _fail(path, line, f"{where}: 'contains' must be a string or a list of non-empty strings")
    slots = raw.get("slots")
    if slots is not None and not isinstance(slots, dict):
        raise _fail(path, line, f"{where}: 'slots' must be an object of slot name to value")
    handoff = raw.get("handoff")
    if handoff is not None and not isinstance(handoff, bool):
        raise _fail(path, line, f"{where}: 'handoff' must be true or false")
    for key in ("intent", "answer", "source"):
        if raw.get(key) is not None and not isinstance(raw[key], str):
            raise _fail(path, line, f"{where}: '{key}' must be a string")
    return ScriptedTurn(
        user=user,
        intent=raw.get("intent"),
        slots={str(k): str(v) for k, v in slots.items()} if slots is not None else None,
        contains=contains,
        answer=raw.get("answer"),
        source=raw.get("source"),
        handoff=handoff,
    )


def load_conversations(path: Path) -> list[Conversation]:
    """Parse and validate a conversations file; raises DataFormatError naming file and line."""
    path = Path(path)
    if not path.is_file():
        raise DataFormatError(str(path), "file not found; pass a JSON Lines file of scripted conversations")
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as exc:
        raise DataFormatError(str(path), f"not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    conversations: list[Conversation] = []
    seen: set[str] = set()
    for number, text in enumerate(lines, start=1):
        if not text.strip():
            continue
        try:
            raw = json.loads(text)
        except json.JSONDecodeError as exc:
            raise _fail(path, number, f"invalid JSON ({exc.msg} at column {exc.colno})") from exc
        if not isinstance(raw, dict):
            raise _fail(path, number, "each line must be a JSON object with 'id' and 'turns'")
        turns = raw.get("turns")
        if not isinstance(turns, list) or not turns:
            raise _fail(path, number, "'turns' must be a non-empty list")
        conversation_id = str(raw.get("id") or f"line-{number}")
        if conversation_id in seen:
            raise _fail(path, number, f"conversation id '{conversation_id}' is used twice")
        seen.add(conversation_id)
        parsed = [_parse_turn(turn, path, number, i) for i, turn in enumerate(turns)]
        conversations.append(Conversation(conversation_id, parsed, number))
    if not conversations:
        raise DataFormatError(str(path), "contains no conversations")
    return conversations


def _answer_evidence(reply: Reply):
    return next((item for item in reply.evidence if item.answer is not None), None)


class _Tally:
    """Per-metric observations collected while replaying."""

    def __init__(self):
        self.intent_true: list[str] = []
        self.intent_pred: list[str] = []
        self.em: list[float] = []
        self.f1: list[float] = []
        self.source: list[bool] = []
        self.handoff_true: list[bool] = []
        self.handoff_pred: list[bool] = []
        self.slots: list[bool] = []
        self.contains: list[bool] = []
        self.latency_ms: list[float] = []

    def score(self, turn: ScriptedTurn, reply: Reply, slots: dict) -> list[str]:
        problems: list[str] = []
        if turn.intent is not None:
            self.intent_true.append(turn.intent)
            self.intent_pred.append(str(reply.intent))
            if reply.intent != turn.intent:
                problems.append(f"intent: expected {turn.intent}, got {reply.intent}")
        evidence = _answer_evidence(reply)
        if turn.answer is not None:
            predicted = evidence.answer if evidence else ""
            em, f1 = answer_scores(predicted, [turn.answer])
            self.em.append(em)
            self.f1.append(f1)
            if self.em[-1] < 1:
                problems.append(f"answer: expected {turn.answer!r}, got {predicted!r} (F1 {self.f1[-1]:.2f})")
        if turn.source is not None:
            cited_evidence = evidence or (reply.evidence[0] if reply.evidence else None)
            cited = PurePath(cited_evidence.source).name if cited_evidence else None
            self.source.append(cited == turn.source)
            if not self.source[-1]:
                problems.append(f"source: expected {turn.source}, got {cited}")
        self.handoff_true.append(bool(turn.handoff))
        self.handoff_pred.append(bool(reply.handoff))
        if bool(turn.handoff) != bool(reply.handoff):
            problems.append(f"handoff: expected {bool(turn.handoff)}, got {bool(reply.handoff)}")
        for name, value in (turn.slots or {}).items():
            actual = slots.get(name)
            self.slots.append(actual is not None and str(actual) == value)
            if not self.slots[-1]:
                problems.append(f"slot {name}: expected {value!r}, got {actual!r}")
        for needle in turn.contains or []:
            self.contains.append(needle.lower() in reply.text.lower())
            if not self.contains[-1]:
                problems.append(f"reply lacks {needle!r}")
        self.latency_ms.append(reply.timings.get("total", 0.0) * 1000)
        return problems


def _mean(values: list[float]) -> float | None:
    return float(np.mean(values)) if values else None


@contextmanager
def scratch_engine(settings: Settings, plugin: str | None = None) -> Iterator["DialogEngine"]:
    """An engine on a throw-away data folder that links the real ``models`` and ``stores`` folders
    (only read) and has its own sessions and plugin state, so replaying conversations never
    changes the user's orders, tickets or chat history. ``plugin`` limits it to one plugin."""
    from assistant.discovery import load_plugin
    from assistant.engine import DialogEngine
    from assistant.models.registry import ModelRegistry

    with tempfile.TemporaryDirectory(prefix="assistant-conversations-") as folder:
        root = Path(folder)
        for shared in (settings.models_dir, settings.stores_dir):
            if shared.exists():
                (root / shared.name).symlink_to(shared.resolve(), target_is_directory=True)
        if (settings.data_dir / "config.toml").exists():
            shutil.copy(settings.data_dir / "config.toml", root / "config.toml")
        scratch = dataclasses.replace(settings, data_dir=root)
        if plugin is None:
            yield DialogEngine(scratch)
        else:
            context = PluginContext(settings=scratch, models=ModelRegistry(scratch.models_dir))
            yield DialogEngine(scratch, plugins={plugin: load_plugin(plugin, context)})


def run_conversations(engine, path: Path) -> ConversationReport:
    """Replay every conversation in ``path`` through ``engine.handle``, each in a fresh session."""
    conversations = load_conversations(path)
    tally = _Tally()
    failures: list[TurnFailure] = []
    for conversation in conversations:
        session_id = f"eval-{conversation.id}-{time.time_ns()}"
        for index, turn in enumerate(conversation.turns):
            reply = engine.handle(turn.user, session_id=session_id)
            slots = engine.sessions.load(session_id).slots
            problems = tally.score(turn, reply, slots)
            if problems:
                failures.append(TurnFailure(conversation.id, index + 1, turn.user, reply.text, problems))
    any_handoff = any(tally.handoff_true) or any(tally.handoff_pred)
    return ConversationReport(
        conversations=len(conversations),
        turns=len(tally.latency_ms),
        intent_accuracy=float(accuracy_score(tally.intent_true, tally.intent_pred)) if tally.intent_true else None,
        answer_exact_match=_mean(tally.em),
        answer_f1=_mean(tally.f1),
        source_accuracy=_mean(tally.source),
        handoff_precision=float(precision_score(tally.handoff_true, tally.handoff_pred, zero_division=0)) if any_handoff else None,
        handoff_recall=float(recall_score(tally.handoff_true, tally.handoff_pred, zero_division=0)) if any_handoff else None,
        slot_accuracy=_mean(tally.slots),
        contains_pass_rate=_mean(tally.contains),
        latency_p50_ms=float(np.percentile(tally.latency_ms, 50)),
        latency_p95_ms=float(np.percentile(tally.latency_ms, 95)),
        support={
            "intent": len(tally.intent_true),
            "answer": len(tally.em),
            "source": len(tally.source),
            "handoff": sum(tally.handoff_true),
            "slots": len(tally.slots),
            "contains": len(tally.contains),
        },
        failures=failures,
    )


def format_conversation_report(report: ConversationReport) -> str:
    """A plain-text summary followed by every failing turn."""

    def pct(value: float | None, key: str) -> str:
        return "n/a" if value is None else f"{value * 100:.1f}% (n={report.support.get(key, 0)})"

    lines = [
        f"Conversations: {report.conversations}, turns: {report.turns}",
        f"Intent accuracy:    {pct(report.intent_accuracy, 'intent')}",
        f"Answer EM / F1:     {pct(report.answer_exact_match, 'answer')} / {pct(report.answer_f1, 'answer')}",
        f"Cited source:       {pct(report.source_accuracy, 'source')}",
        f"Handoff P / R:      {pct(report.handoff_precision, 'handoff')} / {pct(report.handoff_recall, 'handoff')}",
        f"Slot accuracy:      {pct(report.slot_accuracy, 'slots')}",
        f"Reply contains:     {pct(report.contains_pass_rate, 'contains')}",
        f"Turn latency:       p50 {report.latency_p50_ms:.0f} ms, p95 {report.latency_p95_ms:.0f} ms",
    ]
    if report.failures:
        lines.append(f"\nFailing turns ({len(report.failures)}):")
        for failure in report.failures:
            lines.append(f"- {failure.conversation} turn {failure.turn}: {failure.user!r}")
            lines.extend(f"    {problem}" for problem in failure.problems)
            lines.append(f"    reply: {failure.reply[:200]!r}")
    return "\n".join(lines)
