"""Phase 3 pass/fail decisions on what was measured from the cluster: pure functions, no Kubernetes client."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pytest_orchlab.core.text import t
from pytest_orchlab.measure.timeline import summarize, traffic_series
from pytest_orchlab.results.verdict import Verdict

if TYPE_CHECKING:
    from pytest_orchlab.kube.deployment import Readiness
    from pytest_orchlab.kube.experiments import KubeHealing, KubeRollout, KubeScale

PULL = {"ErrImagePull", "ImagePullBackOff", "ErrImageNeverPull", "InvalidImageName"}
RERUN = t("클러스터 상태(`kubectl get nodes`)를 확인하고 다시 실행하세요.", "check the cluster (`kubectl get nodes`) and run again.")


def cluster_ready(info: dict[str, Any]) -> Verdict:
    ready = [n["name"] for n in info["nodes"] if n["ready"]]
    ev = {k: info[k] for k in ("kubeconfig", "context", "source", "server_version", "kind")} | {"nodes": info["nodes"]}
    if ready:
        return Verdict(True, t(f"API 응답 ({info['server_version']}, {info['kind']}, {info['source']}), Ready 노드 {len(ready)}개: {', '.join(ready)}",
                               f"API answers ({info['server_version']}, {info['kind']}, via {info['source']}), {len(ready)} node(s) Ready: "
                               f"{', '.join(ready)}"), ev)
    return Verdict(False, t("Ready 상태인 노드가 없습니다.", "no node is Ready."), ev,
                   t("kubectl get nodes 로 노드 상태를 확인하세요 (minikube status).", "check the nodes with kubectl get nodes (minikube status)."))


def deployment_ready(r: Readiness, answer: dict[str, Any], load_hint: str) -> Verdict:
    pods = [{"name": p.name, "phase": p.phase, "ready": p.ready, "reason": p.reason, "restarts": p.restarts, "image": p.image} for p in r.pods]
    ev = {"desired": r.desired, "available": r.available, "waited_s": round(r.seconds, 1), "pods": pods, "logs": r.logs,
          "events": r.events, "answer": answer}
    reasons = {p.reason for p in r.pods if p.reason}
    if r.ready and answer.get("ok"):
        return Verdict(True, t(f"hello-k8s {r.desired}/{r.desired} 준비 ({r.seconds:.1f}초), 파드가 '{answer['body']}' 응답",
                               f"hello-k8s {r.desired}/{r.desired} available ({r.seconds:.1f} s), the pod answered '{answer['body']}'"), ev)
    if reasons & PULL:
        return Verdict(False, t(f"파드가 이미지를 가져오지 못했습니다 ({', '.join(sorted(reasons & PULL))}, {r.pods[0].image})",
                                f"the pod cannot get its image ({', '.join(sorted(reasons & PULL))}, {r.pods[0].image})"), ev,
                       t(load_hint, load_hint))
    if "CrashLoopBackOff" in reasons or any(p.restarts for p in r.pods):
        return Verdict(False, t(f"컨테이너가 계속 죽습니다 (CrashLoopBackOff). 로그: {' / '.join(r.logs) or '-'}",
                                f"the container keeps crashing (CrashLoopBackOff). Logs: {' / '.join(r.logs) or '-'}"), ev,
                       t("kubectl logs 의 오류를 app.py 에서 고치세요.", "fix the error kubectl logs shows in app.py."))
    if r.ready:
        return Verdict(False, t(f"파드는 Ready 인데 앱 응답이 기대와 다릅니다: {answer.get('body') or answer.get('error')}",
                                f"the pod is Ready but the app answered unexpectedly: {answer.get('body') or answer.get('error')}"), ev,
                       t("app.py 는 0.0.0.0:5000 에서 'Hello from <hostname>' 을 돌려주어야 합니다.",
                         "app.py must answer 'Hello from <hostname>' on 0.0.0.0:5000."))
    waiting = ", ".join(sorted(reasons))
    events = " / ".join(r.events[-3:])
    return Verdict(False, t(f"{r.seconds:.0f}초 안에 {r.available}/{r.desired} 만 준비됨 ({waiting or '대기 중'}). 이벤트: {events}",
                            f"only {r.available}/{r.desired} available within {r.seconds:.0f} s ({waiting or 'waiting'}). Events: {events}"), ev,
                   t("kubectl describe pod 의 이벤트를 보세요 (Pending 이면 스케줄링, 자원).",
                     "read the events of kubectl describe pod (Pending: scheduling, resources)."))


def nodeport_exposed(svc: dict[str, Any]) -> Verdict:
    ev = dict(svc)
    if not svc.get("exists"):
        return Verdict(False, t("hello-k8s 서비스가 없습니다.", "there is no service hello-k8s."), ev,
                       t("kubectl expose deployment hello-k8s --type=NodePort --port=5000", "kubectl expose deployment hello-k8s --type=NodePort --port=5000"))
    problems = []
    if svc["type"] != "NodePort" or not svc["node_port"]:
        problems.append(t(f"type {svc['type']} (기대: NodePort)", f"type {svc['type']} (expected NodePort)"))
    if svc["port"] != 5000:
        problems.append(t(f"port {svc['port']} (기대: 5000)", f"port {svc['port']} (expected 5000)"))
    if not svc["ready_endpoints"]:
        problems.append(t("준비된 엔드포인트 없음 (selector 가 파드와 맞지 않음?)", "no ready endpoints (does the selector match the pods?)"))
    if problems:
        return Verdict(False, t("; ".join(p.ko for p in problems), "; ".join(p.en for p in problems)), ev,
                       t("kubectl expose deployment hello-k8s --type=NodePort --port=5000 대로 서비스를 만드세요.",
                         "make the service as kubectl expose deployment hello-k8s --type=NodePort --port=5000 does."))
    ready = len(svc["ready_endpoints"])
    return Verdict(True, t(f"NodePort {svc['port']} → targetPort {svc['target_port']}, nodePort {svc['node_port']}, 준비된 엔드포인트 {ready}개",
                           f"NodePort {svc['port']} → targetPort {svc['target_port']}, nodePort {svc['node_port']}, "
                           f"{len(svc['ready_endpoints'])} ready endpoint(s)"), ev)


def nodeport_reachable(url: str, answers: list[dict[str, Any]], pods: list[str], target_port: Any, waited_s: float = 0.0) -> Verdict:
    ok = [a for a in answers if a.get("status") == 200 and str(a.get("body", "")).startswith("Hello from ")]
    by = {a["body"].removeprefix("Hello from ").strip() for a in ok}
    ev = {"url": url, "answers": answers[:5], "pods": pods, "target_port": target_port, "first_answer_after_s": round(waited_s, 1)}
    if ok and by <= set(pods):
        return Verdict(True, t(f"{url} 이 '{ok[0]['body']}' 로 응답 (파드 이름)", f"{url} answered '{ok[0]['body']}' (a pod's name)"), ev)
    seen = answers[0].get("body") or answers[0].get("error") if answers else "-"
    hint = (t(f"서비스의 targetPort({target_port})가 앱이 듣는 5000 과 다릅니다.",
              f"the service's targetPort ({target_port}) is not the 5000 the app listens on.")
            if str(target_port) not in ("5000", "None") else t("minikube service hello-k8s --url 이 보여주는 주소로 확인하세요.",
                                                                "check the address minikube service hello-k8s --url prints."))
    return Verdict(False, t(f"{url} 에서 'Hello from <파드>' 응답이 없습니다 ({waited_s:.0f}초 기다림): {seen}",
                            f"{url} did not answer 'Hello from <pod>' (waited {waited_s:.0f} s): {seen}"), ev, hint)


def scale_out(s: KubeScale) -> Verdict:
    summary = summarize(s.samples)
    dist = summary["by_task"]
    ev = {"before": s.before, "desired": s.desired, "ready": s.readiness.ready, "converged_s": round(s.readiness.seconds, 1),
          "distribution": dist, "requests": summary["requests"]}
    if s.traffic_errors or summary["requests"] < 30:
        return Verdict.unobserved(t(f"NodePort 요청을 {summary['requests']}개만 관찰했습니다 {s.traffic_errors or ''}",
                                    f"only {summary['requests']} requests through the NodePort were observed {s.traffic_errors or ''}"), RERUN, ev)
    if s.readiness.ready and len(dist) >= 3:
        return Verdict(True, t(f"{s.before} → {s.desired}/{s.desired} 준비, {s.readiness.seconds:.1f}초; "
                               f"NodePort 요청 {summary['requests']}개가 파드 {len(dist)}개에 분산",
                               f"{s.before} → {s.desired}/{s.desired} ready in {s.readiness.seconds:.1f} s; {summary['requests']} requests through "
                               f"the NodePort reached {len(dist)} pods"), ev)
    return Verdict(False, t(f"{s.desired}개 준비 {s.readiness.ready}, 응답한 파드 {len(dist)}개: {dist}",
                            f"{s.desired} ready: {s.readiness.ready}; {len(dist)} pod(s) answered: {dist}"), ev,
                   t("kubectl get pods 로 준비되지 않은 파드를 보세요.", "look for pods that are not ready with kubectl get pods."))


def self_healing(h: KubeHealing) -> Verdict:
    summary = summarize(h.samples)
    rec = h.recovery_seconds
    ev = {"deleted": h.deleted, "replacement": h.replacement, "recovery_s": None if rec is None else round(rec, 1),
          "ready_after": h.ready_after, "desired": h.desired,
          "failed_requests": summary["failed"], "requests": summary["requests"], "failures": summary["failures"], "answer_s": summary["answer_s"],
          "timeouts_waited_on": summary["timeouts_waited_on"],
          "killed_at": round(h.deleted_at, 3), "timeline": traffic_series(h.samples, min([h.deleted_at, *(x.start for x in h.samples)]),
                                                                          max([h.deleted_at, *(x.start for x in h.samples)]))}
    broken = ([h.watch_error] if h.watch_error else []) + h.traffic_errors
    if broken:
        return Verdict.unobserved(t(f"자동 복구를 끝까지 관찰하지 못했습니다: {'; '.join(broken)}",
                                    f"the self-healing could not be observed in full: {'; '.join(broken)}"), RERUN, ev)
    if rec is not None and h.ready_after >= h.desired:
        return Verdict(True, t(f"대체 파드 {h.replacement} 가 {rec:.1f}초 만에 Ready, {h.ready_after}/{h.desired}; "
                               f"실패 요청 {summary['failed']}/{summary['requests']}",
                               f"replacement pod {h.replacement} Ready {rec:.1f} s after the delete, {h.ready_after}/{h.desired}; "
                               f"{summary['failed']} of {summary['requests']} requests failed meanwhile"), ev)
    return Verdict(False, t(f"대체 파드가 Ready 가 되지 않았습니다 ({h.ready_after}/{h.desired})",
                            f"no replacement pod became Ready ({h.ready_after}/{h.desired})"), ev,
                   t("kubectl get pods 와 kubectl describe deployment hello-k8s 를 보세요.",
                     "read kubectl get pods and kubectl describe deployment hello-k8s."))


def _rollout_evidence(roll: KubeRollout) -> dict[str, Any]:
    summary, after = summarize(roll.samples), summarize(roll.after)
    return {"completed": roll.completed, "seconds": round(roll.seconds, 1), "endpoints_settled_s": roll.settled_s,
            "images_after": sorted({p.image for p in roll.pods_after}), "answers_after": after["by_greeting"],
            "requests": summary["requests"], "failed_requests": summary["failed"], "failures": summary["failures"], "answer_s": summary["answer_s"],
            "timeouts_waited_on": summary["timeouts_waited_on"], "first_failures": summary["first_failures"],
            "strategy": roll.strategy, "readiness_probe": roll.readiness_probe,
            "timeline": traffic_series(roll.samples, roll.started, roll.ended or roll.started)}


def rolling_update(roll: KubeRollout) -> Verdict:
    ev = _rollout_evidence(roll)
    if roll.traffic_errors or not roll.after:
        return Verdict.unobserved(t("업데이트 중 트래픽을 끝까지 관찰하지 못했습니다.", "the traffic during the update could not be observed in full."),
                                  RERUN, ev)
    problems = []
    if not roll.completed:
        problems.append(t(f"{roll.seconds:.0f}초 안에 롤아웃이 끝나지 않았습니다", f"the rollout did not finish within {roll.seconds:.0f} s"))
    if ev["images_after"] != [roll.target_image] or set(ev["answers_after"]) != {"Greetings"}:
        problems.append(t(f"업데이트 후 이미지 {ev['images_after']}, 응답 {ev['answers_after']}",
                          f"after the update images {ev['images_after']}, answers {ev['answers_after']}"))
    if ev["failed_requests"]:
        why = t("" if roll.readiness_probe else " readinessProbe 가 없어 앱이 듣기 전에 파드가 Ready 가 됩니다.",
                "" if roll.readiness_probe else " Without a readinessProbe a pod is Ready before app.py listens.")
        waited = ev["timeouts_waited_on"]
        where = t(f" 시간 초과 중 연결 대기 {waited.get('connect', 0)}건, 응답 대기 {waited.get('answer', 0)}건." if waited else "",
                  f" Of the timeouts, {waited.get('connect', 0)} waited on the connection, {waited.get('answer', 0)} on the answer." if waited else "")
        problems.append(t(f"업데이트 중 {ev['requests']}건 중 {ev['failed_requests']}건 실패 {ev['failures']}.{where.ko}{why.ko}",
                          f"{ev['failed_requests']} of {ev['requests']} requests failed during the update {ev['failures']}.{where.en}{why.en}"))
    if problems:
        return Verdict(False, t("; ".join(p.ko for p in problems), "; ".join(p.en for p in problems)), ev,
                       t("컨테이너에 readinessProbe(httpGet /health, port 5000)를 추가하세요 (sample_app/variants/readiness 참고).",
                         "add a readinessProbe (httpGet /health, port 5000) to the container (see sample_app/variants/readiness)."))
    return Verdict(True, t(f"{roll.seconds:.1f}초 만에 모든 파드가 v2 'Greetings from' 응답, 실패 요청 0/{ev['requests']}",
                           f"every pod on v2 answering 'Greetings from' after {roll.seconds:.1f} s, 0 of {ev['requests']} requests failed"), ev)


def rolled_back(roll: KubeRollout) -> Verdict:
    ev = _rollout_evidence(roll)
    if roll.traffic_errors or not roll.after:
        return Verdict.unobserved(t("롤백 뒤의 응답을 관찰하지 못했습니다.", "the answers after the rollback could not be observed."), RERUN, ev)
    if roll.completed and ev["images_after"] == [roll.target_image] and set(ev["answers_after"]) == {"Hello"}:
        return Verdict(True, t(f"{roll.seconds:.1f}초 만에 모든 파드가 v1 'Hello from' 응답 (실패 요청 {ev['failed_requests']}/{ev['requests']})",
                               f"every pod back on v1 answering 'Hello from' in {roll.seconds:.1f} s "
                               f"({ev['failed_requests']} of {ev['requests']} requests failed meanwhile)"), ev)
    return Verdict(False, t(f"롤백 완료 {roll.completed}, 이미지 {ev['images_after']}, 응답 {ev['answers_after']}",
                            f"rollback completed {roll.completed}, images {ev['images_after']}, answers {ev['answers_after']}"), ev,
                   t("kubectl rollout undo deployment/hello-k8s 후 kubectl rollout status 로 확인하세요.",
                     "run kubectl rollout undo deployment/hello-k8s and check kubectl rollout status."))
