"""Secrets never reach the terminal: every message the bot prints about the forge or the remote
goes through `redact`, which removes the token and any credentials written into a URL."""

from __future__ import annotations

import re
from typing import Iterable

MASK = "***"
_URL_CREDENTIALS = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://)[^@/\s]+@", re.IGNORECASE)


def redact(text: str, secrets: Iterable[str | None] = ()) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, MASK)
    return _URL_CREDENTIALS.sub(lambda m: f"{m.group('scheme')}{MASK}@", text)


def one_line(text: str) -> str:
    """Messages are one line: short tool output joined, longer output cut to its last line
    (where git and HTTP libraries put the reason)."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return " ".join(lines) if len(lines) <= 2 else lines[-1]
