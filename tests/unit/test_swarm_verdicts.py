from __future__ import annotations

from typing import Any

import pytest

from pytest_orchlab.measure.clock import NS, rfc3339
from pytest_orchlab.measure.traffic import Reply
from pytest_orchlab.swarm import verdicts as judge
from pytest_orchlab.swarm.rollout import Rollout

V1, V2 = "orchlab/simple-web:v1-a", "orchlab/simple-web:v2-b"


def events(slots: int, start: float = 0.0, per_slot: float = 24.0, overlap: bool = False) -> list[dict[str, Any]]:
    out = []
    for i in range(slots):
        base = start + per_slot * (i // 2 if overlap else i)
        out += [{"t": base, "action": "create", "task": f"webapp_web.{i + 1}.new", "image": V2, "container": f"n{i}"},
                {"t": base + 3, "action": "kill", "task": f"webapp_web.{i + 1}.old", "image": V1, "container": f"o{i}"},
                {"t": base + 13, "action": "die", "task": f"webapp_web.{i + 1}.old", "image": V1, "container": f"o{i}"},
                {"t": base + 13.8, "action": "start", "task": f"webapp_web.{i + 1}.new", "image": V2, "container": f"n{i}"}]
    return out


def rollout(evs: list[dict[str, Any]], failures: list[float] = (), greeting: str = "Greetings") -> Rollout:  # type: ignore[assignment]
    roll = Rollout("update", V2, 0.0, ended=130.0, state="completed", replicas=5, configured={"Parallelism": 1, "Delay": 10 * NS})
    roll.events = evs
    roll.samples = [Reply(t, 0.01, status=200) for t in range(130)] + [Reply(t, 0.001, error="refused") for t in failures]
    roll.after = [Reply(131.0, 0.01, status=200, greeting=greeting, answered_by="x") for _ in range(20)]
    roll.tasks_after = [{"image": V2}] * 5
    roll.status = {"StartedAt": "2026-11-23T10:00:00.000000001Z", "CompletedAt": "2026-11-23T10:02:10.5Z"}
    return roll


def test_one_at_a_time_with_delay_and_no_failures_passes() -> None:
    roll = rollout(events(5))
    assert roll.max_concurrent() == 1 and roll.gaps() == [10.2] * 4
    assert roll.engine_seconds() == 130.5
    verdict = judge.rolling_update(roll, parallelism=1)
    assert verdict.passed, verdict.seen.en


def test_failures_right_after_a_start_are_blamed_on_the_missing_healthcheck() -> None:
    verdict = judge.rolling_update(rollout(events(5), failures=[14.2, 38.5]), parallelism=1)
    assert not verdict.passed
    assert "2 of them within 2 s after a new task started" in verdict.seen.en and "healthcheck" in str(verdict.hint)


def test_two_at_once_fails_against_parallelism_one() -> None:
    roll = rollout(events(5, overlap=True))
    assert roll.max_concurrent() == 2
    assert "2 tasks replaced at once (parallelism 1)" in judge.rolling_update(roll, parallelism=1).seen.en


def test_old_answers_after_update_fail() -> None:
    assert not judge.rolling_update(rollout(events(5), greeting="Hello"), parallelism=1).passed


def test_policies_diff_names_each_setting() -> None:
    spec = {"update_config": {"Parallelism": 2, "Delay": 10 * NS},
            "restart_policy": {"Condition": "any", "Delay": 5 * NS, "MaxAttempts": 3}}
    verdict = judge.policies_applied(spec)
    assert not verdict.passed
    assert "update_config.Parallelism = 2 (expected 1)" in verdict.seen.en
    assert "restart_policy.Condition = any (expected on-failure)" in verdict.seen.en
    spec["update_config"]["Parallelism"], spec["restart_policy"]["Condition"] = 1, "on-failure"
    assert judge.policies_applied(spec).passed


def test_engine_timestamps_with_nanoseconds() -> None:
    assert rfc3339("2026-11-23T10:02:10.123456789Z") - rfc3339("2026-11-23T10:02:10Z") == pytest.approx(0.123456)  # type: ignore[operator]
    assert rfc3339("") is None


def test_swarm_and_kubernetes_side_by_side() -> None:
    from pytest_orchlab.results.report import Report, Result

    report = Report("r", "en", "/lab")
    report.results["p2-rolling-update"] = Result("p2-rolling-update", 2, "failed", "", {"seconds": 139.0, "failed_requests": 12})
    report.results["p3-rolling-update"] = Result("p3-rolling-update", 3, "passed", "", {"seconds": 5.4, "failed_requests": 0})
    report.results["p2-scale-out"] = Result("p2-scale-out", 2, "passed", "", {"converged_s": 2.9})
    rows = {r["measure"]: (r["swarm"], r["kubernetes"]) for r in report.comparison()}
    assert rows == {"rolling update to v2 (s)": (139.0, 5.4), "failed requests in the update": (12, 0)}
    assert "  rolling update to v2 (s): 139.0 ↔ 5.4" in report.checklist()
    assert report.to_json()["swarm_vs_kubernetes"][0]["measure"] == "rolling update to v2 (s)"


def _balance(replies: list[Reply]) -> Any:
    from pytest_orchlab.swarm.scaling import Balance

    return Balance("probe on the overlay network (tasks.webapp_web DNS)", replies, ["a", "b", "c"])


def test_balance_is_judged_by_hostname_when_the_greeting_names_it() -> None:
    replies = [Reply(i, 0.01, status=200, greeting="Hello", answered_by="abc"[i % 3], address=f"10.0.1.{i % 3}") for i in range(30)]
    verdict = judge.load_balanced(_balance(replies))
    assert verdict.passed and verdict.evidence["distribution"] == {"a": 10, "b": 10, "c": 10}
    assert "greeting_missing" not in verdict.evidence


def test_balance_without_greeting_is_judged_by_task_address_and_names_phase1() -> None:
    # Every task answered 200 but says "Hi there": the spread is still the engine's, the greeting is Phase 1's fault.
    replies = [Reply(i, 0.01, status=200, address=f"10.0.1.{i % 3}") for i in range(30)]
    verdict = judge.load_balanced(_balance(replies))
    assert verdict.passed and verdict.evidence["distribution_by_address"] == {"10.0.1.0": 10, "10.0.1.1": 10, "10.0.1.2": 10}
    assert "Phase 1" in verdict.seen.en and "no task answered" not in verdict.seen.en


def test_balance_without_greeting_or_address_blames_the_greeting_not_the_balancing() -> None:
    replies = [Reply(i, 0.01, status=200) for i in range(30)]
    verdict = judge.load_balanced(_balance(replies))
    assert not verdict.passed and "not a load-balancing fault" in verdict.seen.en
    assert verdict.hint is not None and "p1-container-serves" in verdict.hint.en
