"""`assistant feedback export`: turn thumbs up/down from the chat window into training data.

Up-voted turns become ``text,label`` rows (label = the intent the reply was given), the
format `assistant finetune --data FILE` reads. Down-voted turns go to a separate review
file: the predicted intent was judged wrong, so a person fills in ``label`` before those
rows are used for training.
"""

from __future__ import annotations

import csv
import os
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import typer

from assistant.cli.common import DataDirOption, console, user_errors
from assistant.config import load_settings
from assistant.engine import ENGINE
from assistant.sessions import SessionStore

TRAINING_COLUMNS = ["text", "label"]
REVIEW_COLUMNS = ["text", "predicted_intent", "label", "plugin", "reply", "comment", "session_id", "turn_id"]


@dataclass
class ExportSummary:
    #: Distinct (text, label) rows written for training; repeated votes on the same text count once.
    liked: int = 0
    disliked: int = 0
    #: Votes left out: replies by the engine itself (clarify, invalid message) or without an intent.
    skipped: int = 0
    liked_by_plugin: Counter = field(default_factory=Counter)


def review_path_for(out: Path) -> Path:
    """Default review file: next to ``out``, e.g. ``votes.csv`` → ``votes.review.csv``."""
    return out.with_name(f"{out.stem}.review{out.suffix or '.csv'}")


def _write_csv(path: Path, columns: list[str], rows: list[dict]) -> None:
    """Write the whole file under a temporary name, then rename, so a failure never leaves half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=columns)
            writer.writeheader()
            writer.writerows(rows)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def export_feedback(sessions: SessionStore, out: Path, review_out: Path, plugin: str | None = None) -> ExportSummary:
    """Write up-voted turns as ``text,label`` to ``out`` and down-voted turns to ``review_out``."""
    summary = ExportSummary()
    training: dict[tuple[str, str], dict] = {}
    review: list[dict] = []
    for vote in sessions.feedback():
        if plugin is not None and vote["plugin"] != plugin:
            continue
        if vote["plugin"] == ENGINE or not vote["intent"]:
            summary.skipped += 1
            continue
        if vote["rating"] > 0:
            training.setdefault((vote["text"], vote["intent"]), {"text": vote["text"], "label": vote["intent"]})
            summary.liked_by_plugin[vote["plugin"]] += 1
        else:
            review.append(
                {
                    "text": vote["text"],
                    "predicted_intent": vote["intent"],
                    "label": "",
                    "plugin": vote["plugin"],
                    "reply": vote["reply"],
                    "comment": vote["comment"] or "",
                    "session_id": vote["session_id"],
                    "turn_id": vote["turn_id"],
                }
            )
            summary.disliked += 1
    summary.liked = len(training)
    _write_csv(out, TRAINING_COLUMNS, list(training.values()))
    _write_csv(review_out, REVIEW_COLUMNS, review)
    return summary


def export(
    out: Path = typer.Option(..., "--out", help="CSV file for up-voted turns (columns text,label); pass it to `assistant finetune --data`."),
    review_out: Optional[Path] = typer.Option(
        None,
        "--review-out",
        help="CSV file for down-voted turns, to review: fill in the correct intent in the empty 'label' column "
        "before training on them. Default: OUT with '.review' before the extension.",
    ),
    plugin: Optional[str] = typer.Option(None, "--plugin", "-p", help="Only turns answered by this plugin (its intents are one label set)."),
    data_dir: Optional[Path] = DataDirOption,
) -> None:
    """Export thumbs up/down from the chat window as labelled data.

    Up-voted turns are written to OUT as `text,label` rows, where label is the intent the reply was given; `assistant finetune --plugin NAME --data OUT` accepts the file.

    Down-voted turns are written separately (see --review-out), because their predicted intent was judged wrong.
    """
    with user_errors():
        settings = load_settings(data_dir)
        out = Path(out).expanduser()
        review = Path(review_out).expanduser() if review_out else review_path_for(out)
        summary = export_feedback(SessionStore(settings.sessions_db), out, review, plugin)
        console.print(f"Wrote {summary.liked} up-voted turn(s) to {out} (text,label).")
        console.print(f"Wrote {summary.disliked} down-voted turn(s) to {review} for review.")
        if summary.skipped:
            console.print(f"[dim]Skipped {summary.skipped} vote(s) on replies without an intent (clarifications, refused messages).[/dim]")
        if len(summary.liked_by_plugin) > 1:
            counts = ", ".join(f"{name}: {n}" for name, n in sorted(summary.liked_by_plugin.items()))
            console.print(f"[yellow]The file mixes several plugins' intents ({counts}); use --plugin NAME to export one plugin's.[/yellow]")


def register(app: typer.Typer) -> None:
    group = typer.Typer(help="Work with thumbs up/down given in the chat window.", no_args_is_help=True)
    group.command("export")(export)
    app.add_typer(group, name="feedback")
