"""Does a lab run a healthcheck? Read from the student's files, before anything is deployed.

A stack whose tasks run a ``HEALTHCHECK`` keeps the machine busy while it is idle: five tasks checked
every second took about a quarter of two cores here, enough to pull another run's Phase 1 sweep from
95 % to 78-87 %. ``orchlab grade --jobs`` uses this to keep such stacks and the sweeps apart.
"""

from __future__ import annotations

import re
from typing import Any

from pytest_orchlab.core.labdir import LabFolder
from pytest_orchlab.submission.refusals import Refusal
from pytest_orchlab.submission.textfile import decode
from pytest_orchlab.submission.yamldoc import load

# [ \t], not \s: with MULTILINE a \s* at a line's start runs over every blank line after it (quadratic).
_INSTRUCTION = re.compile(r"^[ \t]*HEALTHCHECK[ \t]+(\S+)", re.IGNORECASE | re.MULTILINE)


def dockerfile_healthcheck(text: str) -> bool:
    """True when the last ``HEALTHCHECK`` instruction of a Dockerfile is a check, not ``NONE``."""
    found = _INSTRUCTION.findall(text)
    return bool(found) and found[-1].upper() != "NONE"


def _disabled(check: Any) -> bool:
    if not isinstance(check, dict):
        return True
    test = check.get("test")
    return bool(check.get("disable")) or test == "NONE" or (isinstance(test, list) and test[:1] == ["NONE"])


def compose_healthcheck(doc: Any, image_has_one: bool) -> list[str]:
    """The services of a compose document whose tasks run a healthcheck (their own or the lab image's)."""
    services = doc.get("services") if isinstance(doc, dict) else None
    if not isinstance(services, dict):
        return []
    running = []
    for name, service in services.items():
        check = service.get("healthcheck") if isinstance(service, dict) else None
        if (check is not None and not _disabled(check)) or (check is None and image_has_one):
            running.append(str(name))
    return running


def declared_healthcheck(lab: LabFolder) -> str | None:
    """Where the lab's Phase 2 stack gets a healthcheck (``phase2/docker-compose.yml: web``), or None.

    Unreadable files count as none: their checkpoints report them, this only schedules. ``lab`` is the gate's
    snapshot (its files are bounded in size).
    """
    image_has_one = dockerfile_healthcheck(_text(lab.dockerfile.read_bytes() if lab.dockerfile.is_file() else b"", "Dockerfile"))
    if not lab.compose_file.is_file():
        return None
    docs = load(_text(lab.compose_file.read_bytes(), "compose"), "compose")
    if isinstance(docs, Refusal) or not docs:
        return None
    doc = docs[0].data
    services = compose_healthcheck(doc, image_has_one)
    if not services:
        return None
    own = any(isinstance(service, dict) and "healthcheck" in service for service in doc["services"].values())
    where = lab.relative(lab.compose_file) if own else f"{lab.relative(lab.dockerfile)} HEALTHCHECK"
    return f"{where}: {', '.join(services)}"


def _text(data: bytes, where: str) -> str:
    text = decode(data, where)
    return "" if isinstance(text, Refusal) else text
