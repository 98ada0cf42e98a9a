"""Reports that cannot be forged by editing: HMAC-SHA256 over a canonical form, and a keyed digest per value.

The whole-report MAC says whether anything changed; the per-value digests say exactly what: a value
edited, added or removed is named by its path (``checkpoints[3].outcome``). Both are keyed, so a
student who edits the file cannot recompute them. Pure functions: no Docker, no pytest.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import time
from dataclasses import dataclass, field
from typing import Any

ALGORITHM = "HMAC-SHA256"
KEY_ENV = "ORCHLAB_SIGNING_KEY"
FIELD = "signature"
DIGEST_CHARS = 16  # 64 bits of a keyed MAC per value: enough to detect an edit, small enough to ship


def canonical(value: Any) -> bytes:
    """One byte form per JSON value: sorted keys, no spaces, UTF-8 (what is signed and what is checked)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


def leaves(value: Any, path: str = "") -> dict[str, Any]:
    """Every scalar in a JSON document by its path; an empty list or object counts as a value of its own."""
    if isinstance(value, dict) and value:
        out: dict[str, Any] = {}
        for key, item in value.items():
            out.update(leaves(item, f"{path}.{key}" if path else str(key)))
        return out
    if isinstance(value, list) and value:
        out = {}
        for n, item in enumerate(value):
            out.update(leaves(item, f"{path}[{n}]"))
        return out
    return {path: value}


def _mac(key: bytes, data: bytes) -> str:
    return hmac.new(key, data, hashlib.sha256).hexdigest()


def _digests(key: bytes, body: dict[str, Any]) -> dict[str, str]:
    return {path: _mac(key, path.encode() + b"\0" + canonical(v))[:DIGEST_CHARS] for path, v in leaves(body).items()}


def key_id(key: bytes) -> str:
    """Which key signed (a fingerprint, not the key): lets a teacher tell two courses' keys apart."""
    return hashlib.sha256(b"orchlab-key-id\0" + key).hexdigest()[:12]


def sign(report: dict[str, Any], key: bytes, now: float | None = None) -> dict[str, Any]:
    """The report with a ``signature`` block added (any earlier one is replaced)."""
    body = {k: v for k, v in report.items() if k != FIELD}
    block: dict[str, Any] = {"algorithm": ALGORITHM, "key_id": key_id(key),
                             "signed_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)),
                             "digests": _digests(key, body)}
    block["mac"] = _mac(key, canonical({"body": body, "signature": {k: v for k, v in block.items() if k != "mac"}}))
    return {**body, FIELD: block}


@dataclass
class Check:
    """What verification found: valid, or exactly what differs from what was signed."""

    signed: bool
    valid: bool
    changed: list[str] = field(default_factory=list)
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    problem: str = ""

    def describe(self) -> str:
        if not self.signed:
            return "NOT SIGNED: the report carries no signature (was ORCHLAB_SIGNING_KEY set when it was written?)"
        if self.valid:
            return "valid: the report is exactly as it was signed"
        parts = [self.problem] if self.problem else []
        parts += [f"changed {p}" for p in self.changed] + [f"added {p}" for p in self.added] + [f"removed {p}" for p in self.removed]
        return "INVALID: " + "; ".join(parts or ["the signature block itself was edited"])


def verify(report: dict[str, Any], key: bytes) -> Check:
    """Check a signed report with the course's key and name every value that was edited, added or removed."""
    block = report.get(FIELD)
    if not isinstance(block, dict):
        return Check(signed=False, valid=False)
    if block.get("algorithm") != ALGORITHM:
        return Check(True, False, problem=f"unknown algorithm {block.get('algorithm')!r}")
    if block.get("key_id") != key_id(key):
        return Check(True, False, problem=f"signed with another key (key id {block.get('key_id')}, this key is {key_id(key)})")
    body = {k: v for k, v in report.items() if k != FIELD}
    expected = _mac(key, canonical({"body": body, "signature": {k: v for k, v in block.items() if k != "mac"}}))
    if hmac.compare_digest(expected, str(block.get("mac", ""))):
        return Check(True, True)
    given = block.get("digests")
    signed: dict[str, Any] = given if isinstance(given, dict) else {}
    now = _digests(key, body)
    return Check(True, False,
                 changed=sorted((p for p in now if p in signed and not hmac.compare_digest(now[p], str(signed[p]))), key=_natural),
                 added=sorted((p for p in now if p not in signed), key=_natural),
                 removed=sorted((p for p in signed if p not in now), key=_natural))


def _natural(path: str) -> list[Any]:
    """Sort ``checkpoints[10]`` after ``checkpoints[9]``."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", path)]
