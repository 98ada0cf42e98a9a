"""Helpers shared by pytest-orchlab's own tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "sample_app"
CHECKPOINTS = ROOT / "checkpoints"
BASE_IMAGE = "orchlab/python-base:bookworm"

def run_lab(pytester: pytest.Pytester, lab: Path, *args: str) -> tuple[pytest.RunResult, dict[str, Any]]:
    """Run the lab suite in a subprocess, exactly as a student would, and load its JSON report."""
    report = pytester.path / "report.json"
    result = pytester.runpytest_subprocess(
        str(CHECKPOINTS), "--lab-dir", str(lab), "--base-image", BASE_IMAGE, "--lab-lang", "en",
        "--lab-report", str(report), "-p", "no:cacheprovider", *args,
    )
    data = json.loads(report.read_text()) if report.exists() else {}
    return result, data


def outcomes(report: dict[str, Any]) -> dict[str, str]:
    return {c["id"]: c["outcome"] for c in report.get("checkpoints", [])}


def by_id(report: dict[str, Any], cid: str) -> dict[str, Any]:
    return next(c for c in report["checkpoints"] if c["id"] == cid)
