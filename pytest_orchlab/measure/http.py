"""One bounded HTTP GET (the lab's ``curl``): at most :data:`MAX_BODY` bytes and ``timeout`` seconds in all.

A student's app may answer with a body that never ends or trickles a byte at a time; either would hold a
checkpoint (and a class run) for as long as it likes if only each read had a timeout.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import requests

MAX_BODY = 64 * 1024


@dataclass(frozen=True)
class Answer:
    """What came back: a status and the start of the body, or the kind of failure (``ConnectionError`` ...)."""

    status: int | None
    body: str = ""
    error: str | None = None
    truncated: bool = False


def get(url: str, timeout: float = 5.0, limit: int = MAX_BODY) -> Answer:
    """``GET url``, never raising for network trouble."""
    deadline = time.monotonic() + timeout
    try:
        with requests.get(url, timeout=(timeout, timeout), stream=True) as resp:
            chunks, size, truncated = [], 0, False
            for chunk in resp.iter_content(chunk_size=4096):
                chunks.append(chunk)
                size += len(chunk)
                if size >= limit or time.monotonic() > deadline:
                    truncated = True
                    break
            body = b"".join(chunks)[:limit].decode(resp.encoding or "utf-8", errors="replace")
            return Answer(resp.status_code, body, None, truncated)
    except requests.RequestException as exc:
        return Answer(None, "", type(exc).__name__)
