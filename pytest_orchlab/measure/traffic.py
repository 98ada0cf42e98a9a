"""HTTP traffic with every request's fate recorded: the curl/ab of the lab, measured.

A tiny asyncio HTTP/1.1 client (one connection per request, as the lab app's server closes them)
because the load must come from a generator that is not itself the bottleneck: it keeps pace with
Apache Bench on two cores (see ``orchlab bench``) while recording each request's latency, status,
error kind and which container answered, which ``ab`` cannot report.
"""

from __future__ import annotations

import asyncio
import gc
import os
import re
import resource
import socket
import statistics
import threading
import time
from collections import Counter
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any, TypeVar

T = TypeVar("T")
GREETING = re.compile(rb"(Hello|Greetings) from ([\w.\-]+)")


@dataclass(frozen=True, slots=True)
class Reply:
    """One request: when it started, how long it took, and how it ended.

    ``start`` is monotonic in a load step and wall-clock time in a Phase 2 timeline.
    """

    start: float
    seconds: float
    status: int | None = None
    error: str | None = None
    greeting: str | None = None
    answered_by: str | None = None
    address: str | None = None
    stalled: str | None = None  # a timeout's wait: "connect" (no SYN-ACK came: the network) or "answer" (connected: the app)

    @property
    def ok(self) -> bool:
        return self.status == 200

    @property
    def fate(self) -> str:
        """``ok``, ``http-503``, ``refused``, ``timeout``, ``reset`` ..."""
        if self.ok:
            return "ok"
        return self.error or f"http-{self.status}"


def _error_kind(exc: BaseException) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return "refused"
    if isinstance(exc, (asyncio.TimeoutError, TimeoutError)):
        return "timeout"
    if isinstance(exc, (ConnectionResetError, BrokenPipeError, asyncio.IncompleteReadError)):
        return "reset"
    if isinstance(exc, OSError) and exc.errno is not None:
        return f"os-error-{exc.errno}"
    return type(exc).__name__


MAX_REPLY = 64 * 1024  # a reply is judged on its status line and greeting: a body that never ends is cut here


class _Exchange(asyncio.Protocol):
    """Sends one request on connect and collects the reply until the server closes (or :data:`MAX_REPLY` bytes)."""

    __slots__ = ("request", "buffer", "done", "transport")

    def __init__(self, request: bytes, done: asyncio.Future[bytes]) -> None:
        self.request, self.buffer, self.done = request, bytearray(), done
        self.transport: asyncio.BaseTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        transport.write(self.request)  # type: ignore[attr-defined]

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if len(self.buffer) >= MAX_REPLY and not self.done.done():
            self.done.set_result(bytes(self.buffer[:MAX_REPLY]))
            if self.transport is not None:
                self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done.done():
            if exc is None:
                self.done.set_result(bytes(self.buffer))
            else:
                self.done.set_exception(exc)


def _request(host: str, port: int, path: str) -> bytes:
    # HTTP/1.0, as ab sends: the lab app closes every connection anyway.
    return f"GET {path} HTTP/1.0\r\nHost: {host}:{port}\r\n\r\n".encode()


async def fetch(host: str, port: int, path: str = "/", timeout: float = 5.0, request: bytes | None = None) -> Reply:
    """One GET; never raises for network trouble, the :class:`Reply` says what happened.

    Protocol-level rather than streams: about half the CPU per request, which matters when the
    generator shares two cores with the app it is saturating.
    """
    loop = asyncio.get_running_loop()
    start = time.monotonic()
    done: asyncio.Future[bytes] = loop.create_future()
    transport: asyncio.BaseTransport | None = None
    sock: socket.socket | None = None
    connected = False
    try:
        sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        # Connecting the socket ourselves skips a getaddrinfo round trip through a thread pool per
        # request; ``host`` is an address already resolved once by the caller.
        async with asyncio.timeout(timeout):
            await loop.sock_connect(sock, (host, port))
            connected = True
            transport, _ = await loop.create_connection(lambda: _Exchange(request or _request(host, port, path), done), sock=sock)
            data = await done
    except Exception as exc:  # noqa: BLE001 - every failure is data here
        kind = _error_kind(exc)
        return Reply(start, time.monotonic() - start, error=kind, stalled=("answer" if connected else "connect") if kind == "timeout" else None)
    finally:
        if transport is not None:
            transport.close()
        elif sock is not None:
            sock.close()
    took = time.monotonic() - start
    if not data.startswith(b"HTTP/1.") or len(data) < 12:
        return Reply(start, took, error="reset")
    m = GREETING.search(data, 0, 2048)
    return Reply(
        start,
        took,
        status=int(data[9:12]),
        greeting=m.group(1).decode() if m else None,
        answered_by=m.group(2).decode() if m else None,
    )


def _runner() -> asyncio.Runner:
    """An event loop, uvloop's where installed: it halves the generator's own CPU use."""
    try:
        import uvloop
    except ImportError:
        return asyncio.Runner()
    return asyncio.Runner(loop_factory=uvloop.new_event_loop)


def run(coro: Coroutine[Any, Any, T]) -> T:
    with _runner() as runner:
        return runner.run(coro)


def probe(host: str, port: int, path: str = "/", timeout: float = 2.0) -> Reply:
    """A single request from synchronous code."""
    return run(fetch(host, port, path, timeout))


def percentile(values: list[float], q: float) -> float:
    """The ``q``-quantile (0..1) of ``values``; 0.0 for no values."""
    if not values:
        return 0.0
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[max(0, min(98, round(q * 100) - 1))]


@dataclass
class LoadStep:
    """All replies of ``concurrency`` clients hammering one target for ``seconds``."""

    concurrency: int
    seconds: float
    replies: list[Reply] = field(default_factory=list)
    window_end: float = float("inf")

    @property
    def succeeded(self) -> int:
        return sum(1 for r in self.replies if r.ok)

    @property
    def failed(self) -> int:
        return len(self.replies) - self.succeeded

    @property
    def failures(self) -> dict[str, int]:
        return dict(Counter(r.fate for r in self.replies if not r.ok))

    @property
    def rps(self) -> float:
        """Successes completed inside the load window, per second of the window."""
        inside = sum(1 for r in self.replies if r.ok and r.start + r.seconds <= self.window_end)
        return inside / self.seconds if self.seconds else 0.0

    def latency(self, q: float) -> float:
        return percentile([r.seconds for r in self.replies if r.ok], q)

    def summary(self) -> dict[str, object]:
        return {
            "concurrency": self.concurrency,
            "seconds": round(self.seconds, 2),
            "requests": len(self.replies),
            "succeeded": self.succeeded,
            "failed": self.failed,
            "failures": self.failures,
            "rps": round(self.rps, 1),
            "p50_ms": round(self.latency(0.5) * 1000, 1),
            "p90_ms": round(self.latency(0.9) * 1000, 1),
        }


def _raise_fd_limit(needed: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(needed, soft)), hard))


async def _load(host: str, port: int, concurrency: int, seconds: float, timeout: float, path: str) -> LoadStep:
    step = LoadStep(concurrency, seconds)
    request = _request(host, port, path)
    deadline = time.monotonic() + seconds

    async def client() -> None:
        while time.monotonic() < deadline:
            step.replies.append(await fetch(host, port, path, timeout, request))

    # Requests in flight at the deadline still finish (bounded by ``timeout``): a request that
    # times out is a failure the student should see, not one that vanishes with the window.
    await asyncio.gather(*(client() for _ in range(concurrency)))
    step.window_end = deadline
    return step


GENERATOR_NICE = 10  # the load generator yields a shared core to the app it measures


def _yielding(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` on a thread of its own at a lower priority (Linux nice is per thread), so that on a
    machine of few cores the scheduler gives the app under test the core they would otherwise share; the
    thread ends with the load, so nothing else of the run is slowed."""
    result: list[T] = []
    failure: list[BaseException] = []

    def body() -> None:
        try:
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), GENERATOR_NICE)
            cpus = sorted(os.sched_getaffinity(0))
            if len(cpus) >= 2:
                os.sched_setaffinity(0, cpus[-1:])  # this thread only: the scheduler moves the app to another core
        except (OSError, AttributeError):
            pass  # not Linux, or not allowed: the same load at the usual priority and on any core
        try:
            result.append(run(coro))
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            failure.append(exc)

    worker = threading.Thread(target=body, name="orchlab-load", daemon=True)
    worker.start()
    worker.join()
    if failure:
        raise failure[0]
    return result[0]


def load(host: str, port: int, concurrency: int, seconds: float, timeout: float = 5.0, path: str = "/") -> LoadStep:
    """``concurrency`` closed-loop clients for ``seconds``: Apache Bench's ``-c`` with ``-t``."""
    _raise_fd_limit(concurrency * 2 + 64)
    # The cyclic collector would scan every pending future thousands of times a second; nothing
    # here makes cycles that outlive a request, so pausing it saves CPU the app under test needs.
    gc.disable()
    try:
        return _yielding(_load(host, port, concurrency, seconds, timeout, path))
    finally:
        gc.enable()
