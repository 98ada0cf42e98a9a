"""Phase 2 pass/fail decisions on what was measured from the swarm: pure functions."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pytest_orchlab.core.text import Text, t
from pytest_orchlab.measure.clock import NS
from pytest_orchlab.measure.timeline import summarize, traffic_series
from pytest_orchlab.results.verdict import Verdict

if TYPE_CHECKING:
    from pytest_orchlab.swarm.availability import Move, Spread
    from pytest_orchlab.swarm.cluster import SwarmView
    from pytest_orchlab.swarm.mesh import MeshCheck
    from pytest_orchlab.swarm.rollout import Rollout
    from pytest_orchlab.swarm.scaling import Balance, ScaleOut
    from pytest_orchlab.swarm.selfheal import Healing

LAB_REPLICAS = 3
LAB_POLICIES = {  # the lab's docker-compose.yml, as the live spec must carry it
    ("update_config", "Parallelism"): 1,
    ("update_config", "Delay"): 10 * NS,
    ("restart_policy", "Condition"): "on-failure",
    ("restart_policy", "Delay"): 5 * NS,
    ("restart_policy", "MaxAttempts"): 3,
}
GAP_TOLERANCE_S = 0.5
SLOW_START_WINDOW_S = 2.0


RERUN = t("엔진 상태(`docker info`)를 확인하고 다시 실행하세요.", "check the engine (`docker info`) and run again.")


def _broken_sources(events_error: str | None, traffic_errors: list[str]) -> list[str]:
    """What failed among the background readers a verdict relies on (event stream, traffic probe)."""
    return ([events_error] if events_error else []) + list(traffic_errors)


def swarm_active(view: SwarmView) -> Verdict:
    me = next((n for n in view.nodes if view.node_id.startswith(n["id"])), None)
    ev = {"state": view.state, "manager": view.control_available, "nodes": view.nodes, "initialized_by_run": view.initialized_by_run,
          "initialized_by": view.initialized_by}
    if view.state == "active" and view.control_available and me and me["role"] == "manager" and me["state"] == "ready":
        if view.initialized_by_run:
            # The swarm works, but the student did not make it: orchlab ran `docker swarm init` itself.
            return Verdict(True, t(f"Swarm 활성, 이 노드는 매니저 ({me['hostname']}) — 단, 이 엔진의 Swarm 이 꺼져 있어 orchlab 이 "
                                   "직접 docker swarm init 을 실행했습니다: 학생의 작업이 아니므로 0점",
                                   f"swarm active, this node is a manager ({me['hostname']}) — but swarm mode was off on this engine and "
                                   "orchlab ran docker swarm init itself: not the student's work, so 0 points"), ev, credit=0.0)
        return Verdict(True, t(f"Swarm 활성, 이 노드는 매니저 ({me['hostname']}, {len(view.nodes)}개 노드)",
                               f"swarm active, this node is a manager ({me['hostname']}, {len(view.nodes)} node(s))"), ev)
    return Verdict(False, t(f"Swarm 상태 {view.state}, 매니저 {view.control_available}", f"swarm state {view.state}, manager {view.control_available}"),
                   ev, t("docker swarm init 후 docker node ls 로 확인하세요.", "run docker swarm init and check docker node ls."))


@dataclass(frozen=True)
class Deployment:
    """The stack right after ``docker stack deploy``, once its tasks ran (or the wait ran out)."""

    running: int
    waited_s: float
    spec: dict[str, Any]
    network_drivers: dict[str, str]
    mesh: MeshCheck
    tasks: list[dict[str, Any]] = field(default_factory=list)


def stack_deployed(d: Deployment) -> Verdict:
    ports = [(p.get("PublishedPort"), p.get("TargetPort")) for p in d.spec["ports"]]
    overlay = sorted(n for n, drv in d.network_drivers.items() if drv == "overlay")
    ev = {"running": d.running, "desired": d.spec["replicas"], "converged_s": round(d.waited_s, 1), "ports": ports,
          "networks": d.network_drivers, "routing_mesh": d.mesh.works, "routing_mesh_seen": d.mesh.seen[-3:],
          "ipvs": d.mesh.ipvs, "engine_s": round(d.waited_s, 1)}
    if d.spec.get("published_as"):
        ev["published_as"] = d.spec["published_as"]  # one of several runs on one engine: where 8080 really went
    if "compose_file" in d.spec:
        ev["compose_file"] = d.spec["compose_file"]  # which of the names docker compose accepts the student used
    problems = []
    if d.running != LAB_REPLICAS or d.spec["replicas"] != LAB_REPLICAS:
        problems.append(t(f"실행 중 {d.running}/{d.spec['replicas']} (실습: 3/3)", f"{d.running}/{d.spec['replicas']} running (the lab: 3/3)"))
    if not overlay:
        problems.append(t(f"overlay 네트워크가 아님: {d.network_drivers}", f"not on an overlay network: {d.network_drivers}"))
    if (8080, 5000) not in ports:
        problems.append(t(f"8080:5000 게시 없음: {ports}", f"8080:5000 not published: {ports}"))
    if problems:
        return Verdict(False, t("; ".join(p.ko for p in problems), "; ".join(p.en for p in problems)), ev,
                       t("docker-compose.yml 의 replicas: 3, ports \"8080:5000\", overlay 네트워크를 확인하세요.",
                         "check replicas: 3, ports \"8080:5000\" and the overlay network in docker-compose.yml."))
    mesh = d.mesh.diagnosis
    return Verdict(True, t(f"webapp_web 3/3 실행 ({d.waited_s:.1f}초), overlay {', '.join(overlay)}, 8080→5000 게시. {mesh.ko}",
                           f"webapp_web 3/3 running ({d.waited_s:.1f} s), overlay {', '.join(overlay)}, 8080→5000 published. {mesh.en}"), ev)


def policies_applied(spec: dict[str, Any]) -> Verdict:
    seen = {f"{section}.{key}": spec[section].get(key) for section, key in LAB_POLICIES}
    wrong = {f"{s}.{k}": (spec[s].get(k), want) for (s, k), want in LAB_POLICIES.items() if spec[s].get(k) != want}
    ev = {"live": seen, "expected": {f"{s}.{k}": v for (s, k), v in LAB_POLICIES.items()}}

    def show(v: Any, key: str) -> str:
        return f"{v / NS:g}s" if key.endswith("Delay") and isinstance(v, int) else str(v)

    if not wrong:
        return Verdict(True, t("parallelism 1, delay 10s, on-failure, delay 5s, max_attempts 3 이 실제 스펙에 있습니다",
                               "the live spec carries parallelism 1, delay 10s, on-failure, delay 5s, max_attempts 3"), ev)
    diff = ", ".join(f"{k} = {show(got, k)} (expected {show(want, k)})" for k, (got, want) in wrong.items())
    return Verdict(False, t(f"실제 스펙이 실습과 다릅니다: {diff}", f"the live spec differs from the lab: {diff}"), ev,
                   t("deploy.update_config 와 deploy.restart_policy 를 실습 파일대로 쓰세요.",
                     "write deploy.update_config and deploy.restart_policy as in the lab's file."))


def scale_out(s: ScaleOut) -> Verdict:
    ev = {"before": s.before, "desired": s.desired, "converged_s": round(s.seconds, 1), "tasks": s.tasks, "engine_s": round(s.seconds, 1)}
    if s.converged:
        return Verdict(True, t(f"{s.before} → {s.desired}/{s.desired} 실행, {s.seconds:.1f}초 만에 수렴",
                               f"{s.before} → {s.desired}/{s.desired} running, converged in {s.seconds:.1f} s"), ev)
    return Verdict(False, t(f"{s.seconds:.0f}초 안에 {s.desired}개가 실행되지 않았습니다 ({len(s.tasks)}개 실행)",
                            f"{s.desired} tasks were not running within {s.seconds:.0f} s ({len(s.tasks)} running)"), ev,
                   t("docker service ps webapp_web 으로 실패한 작업을 보세요.", "look for failed tasks in docker service ps webapp_web."))


GREETING_STEP = t("Phase 1 의 app.py: hello() 가 'Hello from {hostname}' 을 돌려주어야 어느 작업이 응답했는지 보입니다 (p1-container-serves).",
                  "Phase 1's app.py: hello() must return 'Hello from {hostname}' for the answering task to be seen (p1-container-serves).")


def load_balanced(b: Balance) -> Verdict:
    """Requests spread over the tasks: by the hostname each answer names, else by the task address the engine gave.

    The greeting is Phase 1's work. When the answers lack it, the spread is still judged where the task's
    address was recorded (the DNS path); through the routing mesh nothing else tells tasks apart, so the
    verdict blames the greeting, not the balancing.
    """
    summary = summarize(b.samples)
    ok = [s for s in b.samples if s.ok]
    greeted = [s for s in ok if s.answered_by]
    need = LAB_REPLICAS
    ev = {"path": b.path, "distribution": summary["by_task"], "running_tasks": b.tasks, "requests": summary["requests"],
          "failed": summary["failed"], "requested": b.requested}
    if b.traffic_errors or summary["requests"] < b.requested:
        ev["traffic_errors"] = b.traffic_errors
        return Verdict.unobserved(
            t(f"요청 {b.requested}개 중 {summary['requests']}개만 관찰했습니다 {b.traffic_errors or ''}",
              f"only {summary['requests']} of {b.requested} requests were observed {b.traffic_errors or ''}"), RERUN, ev)
    dist, unit = summary["by_task"], t("작업", "tasks")
    missing_greeting = bool(ok) and not greeted
    if missing_greeting:
        ev["greeting_missing"] = True
        by_address = dict(Counter(s.address for s in ok if s.address))
        if not by_address:
            return Verdict(False, t(f"{len(ok)}개 요청이 200 으로 응답했지만 응답에 'Hello from <호스트명>' 이 없어 "
                                    "어느 작업이 응답했는지 알 수 없습니다 (부하 분산 자체의 문제가 아닙니다).",
                                    f"{len(ok)} requests answered 200, but no answer says 'Hello from <hostname>', so which "
                                    "task answered cannot be seen (this is not a load-balancing fault)."), ev, GREETING_STEP)
        dist, unit = by_address, t("작업 주소", "task addresses")
        ev["distribution_by_address"] = by_address
    if len(dist) >= need:
        how = (t("(라우팅 메시 경유)", "(through the routing mesh)") if "routing mesh" in b.path else
               t("(라우팅 메시가 없어 엔진 DNS 가 섞어 준 tasks.webapp_web 응답의 첫 주소로 보냄: 엔진 자신의 분산)",
                 "(no routing mesh: each request went to the first address of the engine's own shuffled DNS answer for "
                 "tasks.webapp_web, so the spread is the engine's DNS round robin)"))
        note = t(" 단, 응답에 'Hello from <호스트명>' 이 없어 작업 주소로 셌습니다: Phase 1 의 app.py 를 고치세요.",
                 " The answers lack 'Hello from <hostname>', so tasks were told apart by address: fix Phase 1's app.py.") \
            if missing_greeting else t("", "")
        return Verdict(True, t(f"{summary['requests']}개 요청이 {len(dist)}개 {unit.ko}에 분산 {how.ko}: {dist}.{note.ko}",
                               f"{summary['requests']} requests spread over {len(dist)} {unit.en} {how.en}: {dist}.{note.en}"), ev)
    return Verdict(False, t(f"응답한 {unit.ko}가 {len(dist)}개뿐입니다: {dist}", f"only {len(dist)} {unit.en} answered: {dist}"), ev,
                   t("docker service ps webapp_web 으로 작업 3개가 실행 중인지 보세요.",
                     "check with docker service ps webapp_web that three tasks run."))


def self_healing(h: Healing) -> Verdict:
    summary = summarize(h.samples)
    rec = h.recovery_seconds
    ev = {"killed_container": h.killed_container, "replacement_task": h.replacement_task,
          "recovery_s": None if rec is None else round(rec, 1), "replicas_after": h.replicas_after, "desired": h.desired,
          "failed_requests": summary["failed"], "requests": summary["requests"], "failures": summary["failures"], "answer_s": summary["answer_s"],
          "timeouts_waited_on": summary["timeouts_waited_on"],
          "engine_s": None if rec is None else round(rec, 1), "killed_at": round(h.killed_at, 3),
          "timeline": traffic_series(h.samples, min([h.killed_at, *(x.start for x in h.samples)]),
                                     max([h.killed_at, *(x.start for x in h.samples)]))}
    broken = _broken_sources(h.events_error, h.traffic_errors)
    if broken:
        ev["reader_errors"] = broken
        return Verdict.unobserved(t(f"자동 복구를 끝까지 관찰하지 못했습니다: {'; '.join(broken)}",
                                    f"the self-healing could not be observed in full: {'; '.join(broken)}"), RERUN, ev)
    if rec is None and h.replacement_task is not None:
        return Verdict.unobserved(t(f"대체 작업 {h.replacement_task[:12]} 은 실행 중이지만 그 시작 이벤트를 받지 못했습니다.",
                                    f"replacement task {h.replacement_task[:12]} runs, but its start event was not received."), RERUN, ev)
    if rec is not None and h.replicas_after == h.desired:
        return Verdict(True, t(f"Swarm이 {rec:.1f}초 만에 대체 작업을 시작, {h.replicas_after}/{h.desired} 복구; "
                               f"그동안 실패한 요청 {summary['failed']}/{summary['requests']}",
                               f"Swarm started a replacement in {rec:.1f} s, back to {h.replicas_after}/{h.desired}; "
                               f"{summary['failed']} of {summary['requests']} requests failed meanwhile"), ev)
    return Verdict(False, t(f"대체 작업이 시작되지 않았습니다 ({h.replicas_after}/{h.desired})",
                            f"no replacement task started ({h.replicas_after}/{h.desired})"),
                   ev, t("restart_policy 를 확인하고 docker service ps 를 보세요.", "check restart_policy and read docker service ps."))


def _unobserved(roll: Rollout) -> Text | None:
    """Why a rollout's sequence cannot be judged: a reader broke, or not every task's replacement was seen.

    Parallelism and gaps hold vacuously over a sequence that was never recorded, so they are judged
    only when the engine completed the rollout and one replacement per task was observed.
    """
    broken = _broken_sources(roll.events_error, roll.traffic_errors)
    if broken:
        return t(f"교체 과정을 끝까지 관찰하지 못했습니다: {'; '.join(broken)}", f"the replacements could not be observed in full: {'; '.join(broken)}")
    if not roll.after:
        return t("롤아웃 뒤의 응답을 하나도 관찰하지 못했습니다.", "no answer after the rollout was observed.")
    seen = len(roll.replacements())
    if roll.state in ("completed", "rollback_completed") and seen < roll.replicas:
        return t(f"엔진은 완료라고 하지만 작업 {roll.replicas}개 중 {seen}개의 교체만 이벤트로 관찰했습니다.",
                 f"the engine says {roll.state}, but only {seen} of {roll.replicas} task replacements were observed in its events.")
    return None


def _slow_start_failures(roll: Rollout) -> int:
    """Failures that came right after a new task started: it got traffic before the app listened."""
    starts = [r["start"] for r in roll.replacements()]
    return sum(1 for s in roll.samples if not s.ok and any(0 <= s.start - st <= SLOW_START_WINDOW_S for st in starts))


def rolling_update(roll: Rollout, parallelism: int) -> Verdict:
    summary = summarize(roll.samples)
    after = summarize(roll.after)
    images = sorted({r["image"] for r in roll.tasks_after})
    gaps = roll.gaps()
    conc = roll.max_concurrent()
    ev = {"state": roll.state, "seconds": round(roll.seconds, 1), "engine_s": round(roll.engine_seconds(), 1),
          "configured_floor_s": round(roll.floor_seconds(roll.stop_grace_s), 1), "max_concurrently_updating": conc,
          "configured_parallelism": parallelism, "gaps_s": gaps, "configured_delay_s": roll.delay,
          "images_after": images, "answers_after": after["by_greeting"], "requests": summary["requests"],
          "failed_requests": summary["failed"], "failures": summary["failures"], "answer_s": summary["answer_s"],
          "timeouts_waited_on": summary["timeouts_waited_on"], "first_failures": summary["first_failures"],
          "replacements": [{k: round(v, 2) if isinstance(v, float) else v for k, v in r.items()} for r in roll.replacements()],
          "timeline": traffic_series(roll.samples, roll.started, roll.ended or roll.started)}
    unseen = _unobserved(roll)
    if unseen is not None:
        return Verdict.unobserved(unseen, RERUN, ev)
    problems = []
    if roll.state != "completed":
        problems.append(t(f"업데이트 상태 {roll.state}: {roll.message}", f"update state {roll.state}: {roll.message}"))
    if conc > max(parallelism, 1):
        problems.append(t(f"동시에 {conc}개 교체 (parallelism {parallelism})", f"{conc} tasks replaced at once (parallelism {parallelism})"))
    if any(g < roll.delay - GAP_TOLERANCE_S for g in gaps):
        problems.append(t(f"교체 간격 {gaps}초 < delay {roll.delay:g}초", f"gaps {gaps} s shorter than delay {roll.delay:g} s"))
    if images != [roll.target_image] or set(after["by_greeting"]) != {"Greetings"}:
        problems.append(t(f"업데이트 후 이미지 {images}, 응답 {after['by_greeting']}", f"after the update images {images}, answers {after['by_greeting']}"))
    if summary["failed"]:
        slow = _slow_start_failures(roll)
        cause = (t(f"그중 {slow}건은 새 작업이 시작된 직후 {SLOW_START_WINDOW_S:g}초 안: 앱이 듣기 전에 로드 밸런싱에 들어갔습니다",
                   f"{slow} of them within {SLOW_START_WINDOW_S:g} s after a new task started: it joined load balancing before app.py listened")
                 if slow else t("", ""))
        problems.append(t(f"업데이트 중 {summary['requests']}건 중 {summary['failed']}건 실패 {summary['failures']}. {cause.ko}",
                          f"{summary['failed']} of {summary['requests']} requests failed during the update {summary['failures']}. {cause.en}"))
    if problems:
        return Verdict(False, t("; ".join(p.ko for p in problems), "; ".join(p.en for p in problems)), ev,
                       t("새 작업이 응답할 때만 트래픽을 받도록 healthcheck 를 추가하세요 (sample_app/variants/healthcheck 참고).",
                         "add a healthcheck so a new task gets traffic only once it answers (see sample_app/variants/healthcheck)."))
    return Verdict(True, t(f"{len(roll.replacements())}개 작업을 한 번에 {conc}개씩, 간격 {min(gaps, default=0):.1f}초 이상으로 교체 ({roll.seconds:.0f}초); "
                           f"모두 v2 'Greetings from' 응답, 실패 요청 0/{summary['requests']}",
                           f"{len(roll.replacements())} tasks replaced {conc} at a time, ≥ {min(gaps, default=0):.1f} s apart ({roll.seconds:.0f} s); "
                           f"all answer v2 'Greetings from', 0 of {summary['requests']} requests failed"), ev)


def rolled_back(roll: Rollout) -> Verdict:
    summary = summarize(roll.samples)
    after = summarize(roll.after)
    images = sorted({r["image"] for r in roll.tasks_after})
    ev = {"state": roll.state, "seconds": round(roll.seconds, 1), "engine_s": round(roll.engine_seconds(), 1), "images_after": images,
          "answers_after": after["by_greeting"], "requests": summary["requests"], "failed_requests": summary["failed"],
          "failures": summary["failures"], "answer_s": summary["answer_s"],
          "timeouts_waited_on": summary["timeouts_waited_on"], "configured_delay_s": roll.delay,
          "replacements": [{k: round(v, 2) if isinstance(v, float) else v for k, v in r.items()} for r in roll.replacements()],
          "timeline": traffic_series(roll.samples, roll.started, roll.ended or roll.started)}
    broken = _broken_sources(None, roll.traffic_errors)
    if broken or not roll.after:
        return Verdict.unobserved(t(f"롤백 뒤의 응답을 관찰하지 못했습니다: {'; '.join(broken) or '응답 없음'}",
                                    f"the answers after the rollback could not be observed: {'; '.join(broken) or 'no answers'}"), RERUN, ev)
    if roll.state == "rollback_completed" and images == [roll.target_image] and set(after["by_greeting"]) == {"Hello"}:
        return Verdict(True, t(f"{roll.seconds:.0f}초 만에 모든 작업이 v1 으로 돌아와 'Hello from' 응답 "
                               f"(실패 요청 {summary['failed']}/{summary['requests']})",
                               f"every task back on v1 answering 'Hello from' in {roll.seconds:.0f} s "
                               f"({summary['failed']} of {summary['requests']} requests failed meanwhile)"), ev)
    return Verdict(False, t(f"롤백 상태 {roll.state}, 이미지 {images}, 응답 {after['by_greeting']}",
                            f"rollback state {roll.state}, images {images}, answers {after['by_greeting']}"), ev,
                   t("docker service rollback webapp_web 후 docker service ps 로 확인하세요.",
                     "run docker service rollback webapp_web and check docker service ps."))


# --- several nodes (`--swarm-nodes`, marker phase2x): the theory pages' drain, constraint and node failure ---

NODE_LOSS_BOUND_S = 60.0  # a lost node is declared down after a few missed 5 s heartbeats; then the restart delay


def _per_node(per_node: dict[str, int]) -> str:
    return ", ".join(f"{name} {n}" for name, n in per_node.items())


def spread_over_nodes(s: Spread) -> Verdict:
    usable = [n["hostname"] for n in s.nodes if n["availability"] == "active" and n["state"] == "ready"]
    counts = [s.per_node.get(name, 0) for name in usable]
    total = sum(s.per_node.values())
    ev = {"nodes": s.nodes, "per_node": s.per_node, "spread": "/".join(str(n) for n in sorted(counts, reverse=True))}
    if total == 0:
        return Verdict(False, t("실행 중인 작업이 없습니다", "no task runs"), ev, t("p2-stack-deployed 를 먼저 보세요.", "see p2-stack-deployed first."))
    if len(usable) < 2:
        return Verdict.unobserved(t(f"사용 가능한 노드가 {len(usable)}개뿐입니다", f"only {len(usable)} usable node(s)"),
                                  t("--swarm-nodes 3 으로 실행하세요.", "run with --swarm-nodes 3."), ev)
    if max(counts) - min(counts) > 1:
        return Verdict(False, t(f"작업 {total}개가 노드에 고르게 퍼지지 않았습니다: {_per_node(s.per_node)}",
                                f"{total} tasks are not spread over the nodes: {_per_node(s.per_node)}"), ev,
                       t("Swarm 은 복제본을 노드에 고르게 배치합니다. docker-compose.yml 의 deploy.placement 제약을 확인하세요.",
                         "Swarm spreads replicas evenly unless told otherwise: check deploy.placement in docker-compose.yml."))
    return Verdict(True, t(f"작업 {total}개가 노드 {len(usable)}개에 분산: {_per_node(s.per_node)}",
                           f"{total} tasks spread over {len(usable)} nodes: {_per_node(s.per_node)}"), ev)


def _traffic_unobserved(m: Move) -> Verdict | None:
    if m.traffic_errors or not m.samples:
        why = "; ".join(m.traffic_errors) or "no request was recorded in the window"
        return Verdict.unobserved(t(f"트래픽 측정이 불완전합니다: {why}", f"the traffic measurement is incomplete: {why}"), RERUN, m.evidence())
    return None


def drained(m: Move) -> Verdict:
    ev = m.evidence()
    failed, total = ev["traffic"]["failed"], ev["traffic"]["requests"]
    if m.before.get(m.node, 0) == 0:
        return Verdict.unobserved(t(f"{m.node} 에 작업이 없어 drain 이 옮길 것이 없었습니다", f"{m.node} ran no task, so the drain moved nothing"),
                                  t("p2x-spread 를 먼저 보세요.", "see p2x-spread first."), ev)
    if m.seconds is None:
        return Verdict(False, t(f"drain 후에도 작업이 옮겨지지 않았습니다: {_per_node(m.after)}",
                                f"after the drain the tasks did not move: {_per_node(m.after)}"), ev,
                       t("docker node ls 로 다른 노드가 Ready/Active 인지, 배치 제약이 없는지 확인하세요.",
                         "check with docker node ls that the other nodes are Ready/Active and that no placement constraint pins the tasks."))
    broken = _traffic_unobserved(m)
    if broken is not None:
        return broken
    moved = m.before.get(m.node, 0)
    if failed:
        starts = [e["t"] for e in m.events if e["action"] == "start"]
        early = sum(1 for r in m.samples if not r.ok and any(0 <= r.start - st <= SLOW_START_WINDOW_S for st in starts))
        ev["failed_right_after_a_start"] = early
        hint = (t("새 작업이 앱이 듣기 전에 트래픽을 받았습니다: healthcheck 를 추가하세요 (sample_app/variants/healthcheck 참고; 실습 6 과 같은 원인).",
                  "the new task got traffic before the app listened: add a healthcheck (see sample_app/variants/healthcheck; the same cause "
                  "as in exercise 6's rolling update).") if early == failed else
                t("drain 은 그 노드의 작업을 멈춥니다: 앱이 SIGTERM 에 깨끗이 끝나고 stop_grace_period 안에 요청을 마치는지 확인하세요.",
                  "a drain stops the node's tasks: the app must finish its requests on SIGTERM within stop_grace_period."))
        return Verdict(False, t(f"{m.node} drain 중 요청 {total}개 중 {failed}개 실패 (작업 {moved}개, {m.seconds:.1f}초; 새 작업 시작 직후 {early}개)",
                                f"{failed} of {total} requests failed while {m.node} was drained ({moved} task(s), {m.seconds:.1f} s; "
                                f"{early} right after a new task started)"), ev, hint)
    return Verdict(True, t(f"{m.node} drain: 작업 {moved}개가 {m.seconds:.1f}초 만에 다른 노드로 이동, 요청 {total}개 중 실패 0 → {_per_node(m.after)}",
                           f"{m.node} drained: {moved} task(s) moved in {m.seconds:.1f} s, 0 of {total} requests failed → {_per_node(m.after)}"), ev)


def kept_off(m: Move) -> Verdict:
    ev = m.evidence()
    if m.seconds is None:
        return Verdict(False, t(f"제약을 추가한 뒤에도 {m.node} 에 작업이 있거나 복제본이 모자랍니다: {_per_node(m.after)}",
                                f"after the constraint, tasks still run on {m.node} or replicas are missing: {_per_node(m.after)}"), ev,
                       t("docker service ps 의 ERROR 열을 보세요: 워커가 Ready/Active 이고 이미지가 있어야 합니다.",
                         "read the ERROR column of docker service ps: the workers must be Ready/Active and have the image."))
    return Verdict(True, t(f"'{m.what.removeprefix('constraint ')}' 적용 {m.seconds:.1f}초 후 {m.node} 에 작업 0개: {_per_node(m.after)}",
                           f"'{m.what.removeprefix('constraint ')}' applied: no task on {m.node} after {m.seconds:.1f} s: {_per_node(m.after)}"), ev)


def node_lost(m: Move) -> Verdict:
    ev = m.evidence()
    lost = m.before.get(m.node, 0)
    failed, total = ev["traffic"]["failed"], ev["traffic"]["requests"]
    if lost == 0:
        return Verdict.unobserved(t(f"{m.node} 에 작업이 없어 옮길 것이 없었습니다", f"{m.node} ran no task, so nothing had to move"),
                                  t("p2x-spread 를 먼저 보세요.", "see p2x-spread first."), ev)
    if m.seconds is None or m.seconds > NODE_LOSS_BOUND_S:
        took = "none" if m.seconds is None else f"{m.seconds:.0f} s"
        bound = f"{NODE_LOSS_BOUND_S:.0f}"
        return Verdict(False, t(f"{m.node} 장애 후 작업 {lost}개가 {bound}초 안에 다시 배치되지 않았습니다 ({took}): {_per_node(m.after)}",
                                f"after {m.node} was lost its {lost} task(s) were not rescheduled within {bound} s ({took}): {_per_node(m.after)}"), ev,
                       t("docker node ls 로 노드가 Down 이 되는지, docker service ps 로 새 작업의 오류를 보세요.",
                         "check that docker node ls shows the node Down, and read docker service ps for the new tasks' errors."))
    down = "?" if m.node_down_at is None else f"{m.node_down_at - m.started:.1f}"
    return Verdict(True, t(f"{m.node} 장애: {down}초 후 Down, {m.seconds:.1f}초 만에 작업 {lost}개가 다른 노드에서 실행 ({_per_node(m.after)}); "
                           f"그동안 요청 {total}개 중 {failed}개 실패",
                           f"{m.node} lost: Down after {down} s, its {lost} task(s) ran elsewhere after {m.seconds:.1f} s ({_per_node(m.after)}); "
                           f"{failed} of {total} requests failed meanwhile"), ev)
