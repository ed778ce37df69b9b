"""Handoff tickets: the conversation so far, masked, as one JSON file per ticket.

Tickets are written to a temporary file and renamed, so a crash never leaves a
half-written ticket for the support team's tooling to choke on.
"""

from __future__ import annotations

import json
import os
import tempfile
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from plugins.customer_service.masking import mask_pii


def masked_transcript(history: list[dict], current_text: str) -> list[dict[str, str]]:
    """Earlier turns plus the current user message, each text masked."""
    lines = [{"role": turn["role"], "text": mask_pii(turn["text"])} for turn in history]
    lines.append({"role": "user", "text": mask_pii(current_text)})
    return lines


def create_ticket(folder: Path, *, session_id: str, reason: str, transcript: list[dict[str, str]], details: dict[str, Any]) -> dict[str, Any]:
    """Write ``folder/<id>.json`` atomically and return the ticket."""
    now = datetime.now(timezone.utc)
    ticket = {
        "id": f"CS-{now:%Y%m%d}-{uuid.uuid4().hex[:6].upper()}",
        "created": now.isoformat(timespec="seconds"),
        "session_id": session_id,
        "reason": reason,
        "status": "open",
        **details,
        "transcript": transcript,
    }
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".ticket-", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(ticket, handle, indent=2)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, folder / f"{ticket['id']}.json")
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return ticket
