"""Signed reports: an untouched one verifies, an edited one names exactly what changed."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from pytest_orchlab.cli import main
from pytest_orchlab.results.signing import canonical, leaves, sign, verify

KEY = b"course-2026-fall"


def report() -> dict[str, Any]:
    return {"schema": "pytest-orchlab/report/1", "run_id": "20261125T101500-ab12cd", "engine": {"id": "ABCD:EFGH", "version": "20.10.24"},
            "started": "2026-11-25T10:15:00+0000", "finished": "2026-11-25T10:19:30+0000", "score": {"earned": 7, "possible": 9},
            "checkpoints": [{"id": f"p1-{n}", "outcome": "passed" if n % 3 else "failed", "points": 1, "earned": 1.0 if n % 3 else 0,
                             "evidence": {"peak_cpu": 93.5, "levels": [10, 200, 1000], "empty": []}} for n in range(12)]}


def test_canonical_form_ignores_key_order_and_spacing() -> None:
    assert canonical({"b": 1, "a": [1, 2]}) == canonical(json.loads('{ "a": [1,2],  "b": 1 }')) == b'{"a":[1,2],"b":1}'


def test_leaves_name_every_value_by_path() -> None:
    assert leaves({"a": {"b": [1, {"c": None}], "e": []}}) == {"a.b[0]": 1, "a.b[1].c": None, "a.e": []}


def test_untouched_report_verifies_also_after_a_json_round_trip() -> None:
    signed = json.loads(json.dumps(sign(report(), KEY), indent=4))
    check = verify(signed, KEY)
    assert check.signed and check.valid and check.describe().startswith("valid")


@pytest.mark.parametrize(("edit", "said"), [
    (lambda r: r["checkpoints"][9].update(outcome="passed"), "changed checkpoints[9].outcome"),
    (lambda r: r["score"].update(earned=9), "changed score.earned"),
    (lambda r: r["checkpoints"][11]["evidence"].update(extra=1), "added checkpoints[11].evidence.extra"),
    (lambda r: r["checkpoints"].pop(), "removed checkpoints[11].id"),
    (lambda r: r["engine"].update(id="OTHER"), "changed engine.id"),
])
def test_each_edit_is_named(edit: Any, said: str) -> None:
    signed = sign(report(), KEY)
    forged = copy.deepcopy(signed)
    edit(forged)
    check = verify(forged, KEY)
    assert not check.valid and said in check.describe()


def test_edited_signature_block_wrong_key_and_unsigned_are_invalid() -> None:
    signed = sign(report(), KEY)
    forged = copy.deepcopy(signed)
    forged["signature"]["signed_at"] = "2030-01-01T00:00:00Z"
    assert verify(forged, KEY).describe() == "INVALID: the signature block itself was edited"
    assert "signed with another key" in verify(signed, b"other").describe()
    assert verify(report(), KEY).describe().startswith("NOT SIGNED")


def test_orchlab_verify_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    good, bad = tmp_path / "good.json", tmp_path / "bad.json"
    good.write_text(json.dumps(sign(report(), KEY)))
    forged = sign(report(), KEY)
    forged["checkpoints"][0]["outcome"] = "passed"
    bad.write_text(json.dumps(forged))
    monkeypatch.delenv("ORCHLAB_SIGNING_KEY", raising=False)
    assert main(["verify", str(good)]) == 2 and "ORCHLAB_SIGNING_KEY is not set" in capsys.readouterr().err
    monkeypatch.setenv("ORCHLAB_SIGNING_KEY", KEY.decode())
    assert main(["verify", str(good)]) == 0 and "valid" in capsys.readouterr().out
    assert main(["verify", str(good), str(bad)]) == 1
    out = capsys.readouterr().out
    assert "bad.json: INVALID: changed checkpoints[0].outcome" in out and "good.json: valid" in out
