"""The commands the README and the docs give parse as written, and a command's missing folder is its usage error."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from pytest_orchlab.cli import main
from tests.helpers import ROOT

PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def commands() -> list[tuple[str, str]]:
    found = []
    for page in PAGES:
        for block in re.findall(r"```bash\n(.*?)```", page.read_text(), re.S):
            for line in block.splitlines():
                line = line.split("  #")[0].strip()
                if line.startswith("orchlab "):
                    found.append((page.name, line))
    return found


@pytest.mark.parametrize(("page", "line"), commands())
def test_every_orchlab_command_of_the_docs_parses(page: str, line: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import argparse

    from pytest_orchlab import cli

    seen: dict[str, argparse.Namespace] = {}

    def capture(self: argparse.ArgumentParser, args: list[str] | None = None, namespace: object = None) -> argparse.Namespace:
        seen["args"] = original(self, args, namespace)  # type: ignore[arg-type]
        raise SystemExit(0)

    original = argparse.ArgumentParser.parse_args
    monkeypatch.setattr(argparse.ArgumentParser, "parse_args", capture)
    argv = shlex.split(line.replace("...", "KEY"))[1:]
    with pytest.raises(SystemExit) as done:
        cli.main(argv)
    assert done.value.code == 0 and "args" in seen, (page, line)


def test_the_docs_give_commands_at_all() -> None:
    names = {line.split()[1] for _, line in commands()}
    assert {"grade", "verify", "matrix", "engines", "cluster"} <= names, names


def test_a_matrix_without_its_lab_folder_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["matrix", "--docker", "20.10", "--out", str(tmp_path / "m"), "--lab-dir", str(tmp_path / "nope")]) == 2
    assert "the lab folder" in capsys.readouterr().err and not (tmp_path / "m" / "20.10").exists()
