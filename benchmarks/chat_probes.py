"""Chat probes: replay short conversations through the whole engine and write what the assistant said.

Scripted conversations (``assistant eval``) check what is known to work; probes are how faults are
found and how a change is judged before it becomes a scripted conversation. A probe file has one
conversation per line, its messages separated by `` || ``; each line is a fresh session. The
transcript (Markdown: message, reply, plugin, intent, confidence, the cited source) goes to ``--out``
and to the terminal, so two runs (before and after a change) can be compared with ``diff``.
Replies are judged by reading them; docs/benchmarks.md says how each probe set was scored.

Usage::

    python benchmarks/chat_probes.py benchmarks/data/probes/follow_ups.txt --data-dir ~/.assistant --out /tmp/follow_ups.md
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from assistant.config import load_settings  # noqa: E402
from assistant.errors import DataFormatError  # noqa: E402

SEPARATOR = " || "


def read_probes(path: Path) -> list[list[str]]:
    """The conversations of a probe file: one per non-empty line, messages split on `` || ``."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise DataFormatError(str(path), f"cannot read the probe file ({exc})") from exc
    conversations = [[message.strip() for message in line.split(SEPARATOR)] for line in lines if line.strip()]
    for number, messages in enumerate(conversations, 1):
        if not all(messages):
            raise DataFormatError(str(path), f"conversation {number} has an empty message (two separators in a row?)")
    if not conversations:
        raise DataFormatError(str(path), "holds no conversations")
    return conversations


def describe(reply) -> str:
    """One Markdown block for a reply: its text, then who answered how sure, and the cited source."""
    meta = [reply.plugin, reply.intent or "no intent", f"confidence {reply.confidence:.2f}"]
    cited = next((item for item in reply.evidence if item.answer is not None), reply.evidence[0] if reply.evidence else None)
    if cited is not None:
        meta.append(f"source {cited.source}")
    if reply.handoff:
        meta.append("handoff")
    text = "\n".join(f"> {line}" for line in reply.text.splitlines() or [""])
    return f"{text}\n\n({' · '.join(meta)})"


def run(probe_file: Path, data_dir: Path, out: Path | None) -> str:
    """Replay every conversation of ``probe_file`` through all plugins, on ``data_dir``'s models and
    stores but a throw-away orders database and sessions (as ``assistant eval`` does)."""
    from assistant.conversations import scratch_engine

    conversations = read_probes(probe_file)
    with scratch_engine(load_settings(data_dir)) as engine:
        engine.warm_up()
        blocks = [f"# Chat probes: {probe_file.name}\n\nData folder: `{data_dir}`, {len(conversations)} conversations.\n"]
        for number, messages in enumerate(conversations, 1):
            session = engine.new_session_id()
            blocks.append(f"## {number}\n")
            for message in messages:
                blocks.append(f"**user:** {message}\n\n{describe(engine.handle(message, session_id=session))}\n")
    transcript = "\n".join(blocks)
    if out is not None:
        out.write_text(transcript, encoding="utf-8")
    return transcript


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("probes", type=Path, help="probe file: one conversation per line, messages separated by ' || '")
    parser.add_argument("--data-dir", type=Path, required=True, help="a data folder where `assistant finetune` ran")
    parser.add_argument("--out", type=Path, default=None, help="also write the transcript here (Markdown)")
    args = parser.parse_args(argv)
    try:
        print(run(args.probes, args.data_dir, args.out))
    except DataFormatError as exc:
        sys.exit(str(exc))


if __name__ == "__main__":
    main()
