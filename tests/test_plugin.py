"""The plugin as pytest sees it: options, markers, usage errors, no-daemon results (pytester runs)."""

from __future__ import annotations

import pytest

from tests.helpers import CHECKPOINTS


def test_markers_are_registered_with_their_signature(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest_subprocess("--markers")
    result.stdout.fnmatch_lines([
        "@pytest.mark.phase1: lab Phase 1 (single container) checkpoints",
        "@pytest.mark.checkpoint(id, *, points=1, requires=()):*",
    ])


def test_options_are_documented_with_their_sources(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest_subprocess("--help")
    result.stdout.fnmatch_lines(["*pytest-orchlab*Precedence*", "*--lab-dir=LAB_DIR*", "*--base-image=BASE_IMAGE*"])


def test_bad_language_is_a_usage_error(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest_subprocess(str(CHECKPOINTS), "--lab-lang", "fr")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--lab-lang must be one of ko, en, not 'fr'*"])


def test_bad_language_from_environment_names_its_source(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORCHLAB_LANG", "de")
    result = pytester.runpytest_subprocess(str(CHECKPOINTS))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*(from environment ORCHLAB_LANG)*"])


def test_no_daemon_is_not_gradable_without_traceback(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{pytester.path}/no-such.sock")
    report = pytester.path / "r.json"
    result = pytester.runpytest_subprocess(
        str(CHECKPOINTS / "test_phase1.py"), "--lab-lang", "en", "--lab-report", str(report), "-p", "no:cacheprovider"
    )
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines([
        "*No Docker engine answers at unix://*: the socket file does not exist (dockerd not running?)",
        "*Fix: run `orchlab engine`*",
        "*blocked: p1-image-builds did not pass (not gradable)",
        "*1 not gradable, 7 blocked*",
    ])
    assert "Traceback" not in result.stdout.str()
    import json

    data = json.loads(report.read_text())
    first = data["checkpoints"][0]
    assert (first["id"], first["outcome"]) == ("p1-image-builds", "not-gradable")
    assert {c["outcome"] for c in data["checkpoints"][1:]} == {"blocked"}


def test_korean_is_the_default_language(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{pytester.path}/no-such.sock")
    monkeypatch.delenv("ORCHLAB_LANG", raising=False)
    result = pytester.runpytest_subprocess(str(CHECKPOINTS / "test_phase1.py"), "-p", "no:cacheprovider")
    result.stdout.fnmatch_lines(["*실습 체크리스트*", "*채점 불가*Docker 엔진*응답하지 않습니다*"])
