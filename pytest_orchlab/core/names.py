"""What the lab's commands name, for one run: the container, the stack, and whether ports are the lab's.

A student's run uses the lab's own names (``web-app`` on 8080, stack ``webapp``). When a teacher grades
several students at once on one engine (``orchlab grade --jobs N``), each run is an *instance*: its
names carry a suffix and its published ports are chosen free, so runs never meet. Verdicts judge what
the student wrote (``8080:5000`` in the compose file), not the port an instance published it on.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

LAB_CONTAINER = "web-app"
LAB_PORT = 8080
LAB_STACK = "webapp"
SERVICE_KEY = "web"
INSTANCE = re.compile(r"^[a-z0-9][a-z0-9-]{0,19}$")


@dataclass(frozen=True)
class LabNames:
    instance: str | None = None

    @property
    def container(self) -> str:
        return f"{LAB_CONTAINER}-{self.instance}" if self.instance else LAB_CONTAINER

    @property
    def host_port(self) -> int | None:
        """The Phase 1 host port: the lab's 8080, or None (the engine picks a free one) for an instance."""
        return None if self.instance else LAB_PORT

    @property
    def stack(self) -> str:
        return f"{LAB_STACK}-{self.instance}" if self.instance else LAB_STACK

    @property
    def service(self) -> str:
        return f"{self.stack}_{SERVICE_KEY}"


def valid_instance(value: str) -> bool:
    return bool(INSTANCE.match(value))
