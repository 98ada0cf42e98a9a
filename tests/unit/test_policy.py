"""What a compose file and a manifest may ask for; compose interpolation against nothing; YAML bounded and with lines."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from pytest_orchlab.core.errors import LabInputError
from pytest_orchlab.submission.healthcheck import dockerfile_healthcheck
from pytest_orchlab.submission.interpolate import escape, resolve, resolve_text
from pytest_orchlab.submission.policy import compose_refusals, manifest_refusals
from pytest_orchlab.submission.yamldoc import Document, load
from pytest_orchlab.swarm.stack import prepare_compose, read_compose
from tests.helpers import SAMPLE

HOSTILE = """\
services:
  web:
    image: simple-web:v1
    env_file: ../../root/.env
    privileged: true
    network_mode: host
    volumes:
      - /:/host
      - /var/run/docker.sock:/var/run/docker.sock
      - type: bind
        source: /etc
        target: /etc2
      - data:/data
    deploy:
      replicas: 50000
secrets:
  key:
    file: ../../root/.ssh/id_rsa
networks:
  outside:
    external: true
volumes:
  data: {}
"""


def doc(text: str) -> Document:
    loaded = load(text, "phase2/docker-compose.yml")
    assert isinstance(loaded, list)
    return loaded[0]


def test_every_host_reaching_key_is_refused_with_its_line() -> None:
    d = doc(HOSTILE)
    found = {(r.key, r.line) for r in compose_refusals(d.data, d, "phase2/docker-compose.yml")}
    assert found == {("services.web.env_file", 4), ("services.web.privileged", 5), ("services.web.network_mode", 6),
                     ("services.web.volumes.0", 8), ("services.web.volumes.1", 9), ("services.web.volumes.2", 10),
                     ("services.web.deploy.replicas", 15), ("secrets.key.file", 18), ("networks.outside.external", 21)}
    said = [r.render("en") for r in compose_refusals(d.data, d, "c.yml")]
    assert "c.yml:8 (services.web.volumes.0) asks for a bind mount of the host path /: the lab needs none of it, so it is not taken." in said


def test_the_course_files_and_the_variant_ask_for_nothing_refused() -> None:
    for path in (SAMPLE / "phase2" / "docker-compose.yml", SAMPLE / "variants" / "healthcheck" / "phase2" / "docker-compose.yml"):
        d = doc(path.read_text())
        assert compose_refusals(d.data, d, path.name) == []


def test_read_compose_refuses_before_anything_is_deployed(tmp_path: Path) -> None:
    path = tmp_path / "docker-compose.yml"
    path.write_text(HOSTILE)
    with pytest.raises(LabInputError) as err:
        read_compose(path)
    assert "services.web.env_file" in err.value.text.en and "and 3 more" in err.value.text.en
    assert "the lab's docker-compose.yml needs only" in (err.value.fix.en if err.value.fix else "")


def test_interpolation_resolves_against_nothing_and_escapes_what_remains() -> None:
    assert resolve_text("${ORCHLAB_SIGNING_KEY}") == "" and resolve_text("$HOME/x") == "/x"
    assert resolve_text("v${TAG:-1}") == "v1" and resolve_text("${A-b}") == "b" and resolve_text("a$$b") == "a$b"
    assert resolve_text("${X:+set}") == ""
    d = doc("services:\n  web:\n    image: simple-web:v1\n    environment:\n      KEY: ${ORCHLAB_SIGNING_KEY:?needed}\n      PRICE: $$5\n")
    data, problems = resolve(d, "c.yml")
    assert [(p.key, p.line) for p in problems] == [("services.web.environment.KEY", 5)]
    assert "needs the variable ORCHLAB_SIGNING_KEY" in problems[0].render("en")
    assert escape(data)["services"]["web"]["environment"]["PRICE"] == "$$5"


def test_a_prepared_file_holds_no_variable_no_bare_environment_name_and_has_limits() -> None:
    d = doc("version: '3.8'\nservices:\n  web:\n    image: simple-web:v1\n    environment:\n      - ORCHLAB_SIGNING_KEY\n      - A=${HOME}\n"
            "      - B=$$x\n    deploy:\n      resources:\n        limits:\n          memory: 2G\n          cpus: '0.5'\n")
    data, problems = resolve(d, "c.yml")
    out = prepare_compose(data, {}, {"orchlab.run": "r"})
    web = out["services"]["web"]
    assert problems == [] and web["environment"] == ["A=", "B=$$x"] and out["version"] == "3.9"
    assert web["deploy"]["resources"]["limits"] == {"memory": "512M", "cpus": "0.5", "pids": 512}
    text = yaml.safe_dump(out)
    assert "ORCHLAB_SIGNING_KEY" not in text and "${" not in text


def test_a_lower_limit_of_the_students_is_kept_and_version_2_is_left_as_written() -> None:
    low = prepare_compose({"services": {"web": {"deploy": {"resources": {"limits": {"memory": "100M", "pids": 50}}}}}}, {}, {})
    assert low["services"]["web"]["deploy"]["resources"]["limits"] == {"memory": "100M", "pids": 50}
    old = prepare_compose({"version": "2.4", "services": {"web": {}}}, {}, {})
    assert old["version"] == "2.4" and "pids" not in old["services"]["web"]["deploy"]["resources"]["limits"]


def test_an_alias_bomb_is_refused_in_linear_time() -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"] + [f"a{n}: &a{n} [{', '.join([f'*a{n - 1}'] * 9)}]" for n in range(1, 10)]
    began = time.monotonic()
    got = load("\n".join(lines) + "\n", "bomb.yml")
    assert time.monotonic() - began < 1
    assert not isinstance(got, list) and "expands to more than 20,000 values" in got.render("en")


def test_broken_yaml_and_odd_shapes_are_refusals_not_tracebacks(tmp_path: Path) -> None:
    bad = load("services:\n  web:\n    image: x\n    deploy\n      replicas: 3\n", "c.yml")
    assert not isinstance(bad, list) and "line 5, column" in bad.render("en")
    assert not isinstance(load("x: !!python/object:os.system {}\n", "c.yml"), list)
    for text, said in (("- a\n- b\n", "no services.web"), ("services: {web: }\n", "services.web is empty"), ("", "no services.web")):
        path = tmp_path / "docker-compose.yml"
        path.write_text(text)
        with pytest.raises(LabInputError, match=said):
            read_compose(path)
    d = doc("services: [1, 2]\nnetworks: 7\n")
    assert compose_refusals(d.data, d, "c.yml") == []


MANIFEST = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: hello-k8s}
spec:
  replicas: 1
  selector: {matchLabels: {app: hello-k8s}}
  template:
    metadata: {labels: {app: hello-k8s}}
    spec:
      containers:
        - name: web
          image: simple-web:v1
"""


def manifest(extra: dict[str, Any] | None = None, selector: Any = None) -> list[tuple[str, Document]]:
    data = yaml.safe_load(MANIFEST)
    pod = data["spec"]["template"]["spec"]
    pod.update(extra or {})
    if selector is not None:
        data["spec"]["selector"] = selector
    d = doc(yaml.safe_dump(data))
    return [("phase3/hello-k8s.yaml", d)]


@pytest.mark.parametrize(("extra", "said"), [
    ({"hostNetwork": True}, "hostNetwork"),
    ({"hostPID": True}, "hostPID"),
    ({"volumes": [{"name": "root", "hostPath": {"path": "/"}}]}, "a volume of kind hostPath"),
    ({"containers": [{"name": "web", "image": "simple-web:v1", "securityContext": {"privileged": True}}]}, "a privileged container"),
    ({"containers": [{"name": "web", "image": "simple-web:v1", "securityContext": {"capabilities": {"add": ["SYS_ADMIN"]}}}]}, "added capabilities"),
    ({"initContainers": [{"name": "x", "image": "docker:dind"}]}, "runs the image docker:dind, not the lab's"),
    ({"serviceAccountName": "admin"}, "serviceAccountName"),
])
def test_a_pod_spec_reaching_the_node_is_refused(extra: dict[str, Any], said: str) -> None:
    found = manifest_refusals(manifest(extra), {"simple-web"})
    assert len(found) == 1 and said in found[0].render("en"), [r.render("en") for r in found]


def test_only_plain_matchlabels_selectors_of_the_template_and_the_lab_kinds() -> None:
    exists = {"matchExpressions": [{"key": "app", "operator": "Exists"}]}
    assert "not plain matchLabels" in manifest_refusals(manifest(selector=exists), {"simple-web"})[0].render("en")
    assert "not plain matchLabels" in manifest_refusals(manifest(selector={"matchLabels": {"app": "other"}}), {"simple-web"})[0].render("en")
    assert manifest_refusals(manifest(), {"simple-web"}) == []
    other = doc("apiVersion: v1\nkind: Pod\nmetadata: {name: x}\n")
    assert "only Deployment and Service" in manifest_refusals([("p.yaml", other)], set())[0].render("en")
    svc = doc("apiVersion: v1\nkind: Service\nmetadata: {name: x}\nspec: {type: LoadBalancer, externalIPs: [1.2.3.4]}\n")
    assert len(manifest_refusals([("s.yaml", svc)], set())) == 2


def test_healthcheck_parsing_is_linear() -> None:
    text = "FROM python:3.9-slim\n" + "\n" * 16000 + "HEALTHCHECK CMD true\n"
    began = time.monotonic()
    assert dockerfile_healthcheck(text)
    assert time.monotonic() - began < 0.2
