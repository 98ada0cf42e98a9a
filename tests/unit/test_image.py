from __future__ import annotations

from pathlib import Path

from pytest_orchlab.docker.image import context_digest, from_images, rewrite_from

LAB = "FROM python:3.9-slim\nWORKDIR /app\nCOPY app.py .\nRUN pip install flask\n"


def test_rewrite_swaps_the_external_base_only() -> None:
    text, swaps = rewrite_from(LAB, "orchlab/python-base:bookworm")
    assert text.startswith("FROM orchlab/python-base:bookworm\n")
    assert swaps == [("python:3.9-slim", "orchlab/python-base:bookworm")]


def test_rewrite_keeps_stage_references_and_flags() -> None:
    multi = "FROM --platform=linux/amd64 python:3.9 AS build\nRUN true\nFROM build\nFROM alpine:3 as final\n"
    text, swaps = rewrite_from(multi, "base:1")
    assert from_images(text) == ["base:1", "build", "base:1"]
    assert "--platform=linux/amd64" in text
    assert [old for old, _ in swaps] == ["python:3.9", "alpine:3"]


def test_no_base_image_means_no_change() -> None:
    assert rewrite_from(LAB, None) == (LAB, [])


def test_digest_follows_content_not_timestamps(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text("print(1)\n")
    first = context_digest(tmp_path, "base-a")
    (tmp_path / "app.py").touch()
    assert context_digest(tmp_path, "base-a") == first
    assert context_digest(tmp_path, "base-b") != first
    (tmp_path / "app.py").write_text("print(2)\n")
    assert context_digest(tmp_path, "base-a") != first


def test_an_engine_that_cannot_run_a_build_step_is_told_apart_from_a_bad_dockerfile() -> None:
    from pytest_orchlab.docker.image import ENGINE_FAULT

    seen_on_docker_28 = ("failed to set up container networking: failed to add interface veth5cfe9c4 to sandbox: error setting "
                         "interface \"veth5cfe9c4\" IPv6 to <nil>: failed to configure ipv6: failed to disable IPv6 on container's interface eth0")
    assert ENGINE_FAULT.search(seen_on_docker_28)
    assert not ENGINE_FAULT.search("The command '/bin/sh -c pip install flask && exit 3' returned a non-zero code: 3")
