"""The plugin contract: the only thing the engine, CLI and UI know about a plugin.

A plugin is a class registered under the ``assistant.plugins`` entry-point group::

    [project.entry-points."assistant.plugins"]
    my_plugin = "my_package:MyPlugin"

Life cycle (Haystack-style):

1. ``MyPlugin(context)`` must be cheap: store the context, load nothing.
2. ``warm_up()`` loads models and stores once, before the first turn. It raises
   :class:`~assistant.errors.ModelNotFoundError` when a model is not trained yet.
3. For every user turn the engine calls ``route(turn, session)`` on every enabled
   plugin, picks the most confident one and calls its ``respond(turn, session)``.

A plugin declares what ``assistant finetune --plugin NAME`` trains through
``model_specs()``, and which documents go into its knowledge store through
``knowledge_sources()``.
"""

from __future__ import annotations

import abc
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

if TYPE_CHECKING:
    from assistant.config import Settings
    from assistant.models.registry import ModelRegistry

Task = Literal["sequence-classification", "pair-classification", "extractive-qa"]
TASKS: tuple[str, ...] = ("sequence-classification", "pair-classification", "extractive-qa")


@dataclass
class Turn:
    """One user message."""

    text: str
    session_id: str
    #: Set when the user picked a plugin explicitly (UI selector, ``--plugin``); skips routing.
    plugin: str | None = None
    #: Scratch space shared between ``route()`` and ``respond()`` of the same turn, so a plugin
    #: runs its intent model once per turn.
    annotations: dict[str, Any] = field(default_factory=dict)


@dataclass
class Evidence:
    """Where an answer came from: a retrieved passage and, if extracted, the answer span in it."""

    doc_id: str
    source: str
    text: str
    score: float
    #: Character offsets of the passage inside the source document.
    source_start: int | None = None
    source_end: int | None = None
    #: Character offsets of the extracted answer inside ``text``.
    answer_start: int | None = None
    answer_end: int | None = None

    @property
    def answer(self) -> str | None:
        if self.answer_start is None or self.answer_end is None:
            return None
        return self.text[self.answer_start : self.answer_end]


@dataclass
class RichPart:
    """Structured content a UI renders next to the text (a table, a chart, cards, a ticket).

    ``kind`` is one of ``"table"`` (data: {"columns": [...], "rows": [[...]]}),
    ``"chart"`` (data: {"x": [...], "series": {name: [...]}}), ``"cards"``
    (data: {"cards": [{"title", "text", ...}]}), ``"ticket"`` (data: any fields) or
    ``"markdown"`` (data: {"text": ...}). Front ends that do not know a kind show its JSON.
    """

    kind: str
    title: str
    data: dict[str, Any]


@dataclass
class Reply:
    text: str
    plugin: str
    intent: str | None = None
    confidence: float = 0.0
    evidence: list[Evidence] = field(default_factory=list)
    parts: list[RichPart] = field(default_factory=list)
    #: Seconds spent per stage ("route", "respond", ... and "total").
    timings: dict[str, float] = field(default_factory=dict)
    #: True when the conversation was handed to a human.
    handoff: bool = False
    #: Filled by the engine: the stored turn this reply answers (feedback refers to it).
    turn_id: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Reply":
        data = dict(data)
        data["evidence"] = [Evidence(**e) for e in data.get("evidence", [])]
        data["parts"] = [RichPart(**p) for p in data.get("parts", [])]
        return cls(**data)


@dataclass
class RoutingScore:
    """How confident a plugin is that it should answer a turn."""

    confidence: float
    intent: str | None = None


@dataclass
class ModelSpec:
    """A model a plugin trains with ``assistant finetune``."""

    name: str
    task: Task
    #: Bundled training data used when the user passes no ``--data``.
    data: Path
    description: str = ""
    #: Metric that decides whether a new version beats the active one (higher is better).
    primary_metric: str = "accuracy"
    #: Training defaults the plugin knows work for its data; CLI flags override them.
    defaults: dict[str, Any] = field(default_factory=dict)


@dataclass
class PluginContext:
    """What the engine hands a plugin: settings and shared services, all lazy."""

    settings: "Settings"
    models: "ModelRegistry"

    def data_dir(self, plugin: str) -> Path:
        path = self.settings.plugin_dir(plugin)
        path.mkdir(parents=True, exist_ok=True)
        return path

    def store(self, plugin: str):
        """The plugin's knowledge store (opened, not created, until something is written)."""
        from knowledge import open_store

        return open_store(self.settings.stores_dir / plugin)


class Session:
    """A conversation's state as a plugin sees it during one turn.

    ``history`` holds earlier turns (oldest first) as dicts with ``role``, ``text``,
    ``plugin`` and ``intent``. ``slots`` is shared across plugins; ``state(name)`` is a
    dict owned by one plugin. Changes are saved by the engine when the turn ends.
    """

    def __init__(self, session_id: str, history: list[dict], slots: dict, plugin_state: dict[str, dict]):
        self.id = session_id
        self.history = history
        self.slots = slots
        self._plugin_state = plugin_state

    def state(self, plugin: str) -> dict[str, Any]:
        return self._plugin_state.setdefault(plugin, {})

    @property
    def plugin_states(self) -> dict[str, dict]:
        return self._plugin_state


class Plugin(abc.ABC):
    """Base class of every plugin. See the module docstring for the life cycle."""

    #: Unique name; must equal the entry-point name it is registered under.
    name: ClassVar[str]
    #: One sentence shown in ``assistant plugins`` and in clarifying replies.
    description: ClassVar[str]
    #: Intents this plugin owns (informational; routing uses ``route()``).
    intents: ClassVar[tuple[str, ...]] = ()
    #: Seconds ``assistant finetune --plugin NAME`` may take on the bundled data, all models and the
    #: ingestion together (None: no limit); each model trains within what is left (training.finetune).
    finetune_time_limit_s: ClassVar[float | None] = None

    def __init__(self, context: PluginContext):
        self.context = context

    def model_specs(self) -> list[ModelSpec]:
        """Models ``assistant finetune --plugin NAME`` trains. Default: none."""
        return []

    def knowledge_sources(self) -> list[Path]:
        """Files or folders ingested into the plugin's store after fine-tuning. Default: none."""
        return []

    def conversations(self) -> Path | None:
        """Scripted multi-turn conversations (JSONL) that `assistant eval --plugin NAME` replays. Default: none."""
        return None

    def warm_up(self) -> None:
        """Load models and stores. Called once before the first turn; must be idempotent."""

    @abc.abstractmethod
    def route(self, turn: Turn, session: Session) -> RoutingScore:
        """Return how confident this plugin is that it should answer ``turn`` (0..1)."""

    @abc.abstractmethod
    def respond(self, turn: Turn, session: Session) -> Reply:
        """Answer ``turn``; update ``session.state(self.name)`` / ``session.slots`` as needed."""
