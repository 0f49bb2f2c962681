"""The one way the wizard talks to another server (the Replicated SDK, Replicated's endpoint):
one HTTP exchange, all of it (connecting, sending, every byte of the answer) within a deadline,
no redirects followed, the answer's size capped. No Flask here."""

from __future__ import annotations

import contextlib
import http.client
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

MAX_ANSWER_BYTES = 1024 * 1024


class NoAnswer(Exception):
    """The exchange did not complete: `timed_out`, or could not connect (`reason` says why)."""

    def __init__(self, reason: str, timed_out: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.timed_out = timed_out


@dataclass(frozen=True)
class Answer:
    """What the server answered: status, headers (names in lower case) and the whole body."""

    status: int
    headers: dict[str, str]
    body: bytes
    too_large: bool = False

    def header(self, name: str, default: str = "") -> str:
        return self.headers.get(name.lower(), default)


def _connection(
    scheme: str, host: str, port: int | None, timeout: float
) -> http.client.HTTPConnection:
    if scheme == "https":
        context = ssl.create_default_context()
        return http.client.HTTPSConnection(host, port, timeout=timeout, context=context)
    return http.client.HTTPConnection(host, port, timeout=timeout)


def exchange(
    method: str,
    url: str,
    deadline: float,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    max_bytes: int = MAX_ANSWER_BYTES,
) -> Answer:
    """Send one request and read the whole answer before `deadline` (time.monotonic()).

    Raises NoAnswer when it cannot connect, or the deadline passes first. A redirect is an
    Answer like any other: the caller refuses it."""
    parts = urlsplit(url)
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise NoAnswer("no time was left", timed_out=True)
    connection = _connection(parts.scheme, parts.hostname or "", parts.port, remaining)
    opened: list[socket.socket] = []

    def cut() -> None:
        # Shut the socket down: whatever read is waiting on it fails at once. (The response
        # reads the socket even after the connection object has let go of it.)
        for sock in opened:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    # A socket timeout bounds each read; this bounds the whole exchange, however it trickles.
    watchdog = threading.Timer(remaining, cut)
    watchdog.daemon = True
    watchdog.start()
    try:
        connection.connect()
        opened.append(connection.sock)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        connection.request(method, target, body=body, headers=headers or {})
        response = connection.getresponse()
        data = response.read(max_bytes + 1)
        complete = response.length in (None, 0) and time.monotonic() < deadline
    except (OSError, http.client.HTTPException) as error:
        if time.monotonic() >= deadline - 0.05:
            raise NoAnswer("it did not answer in time", timed_out=True) from None
        reason = getattr(error, "strerror", None) or str(error) or type(error).__name__
        raise NoAnswer(reason) from None
    finally:
        watchdog.cancel()
        connection.close()
    if not complete and len(data) <= max_bytes:
        raise NoAnswer("it did not answer in time", timed_out=True)
    return Answer(
        status=response.status,
        headers={name.lower(): value for name, value in response.getheaders()},
        body=data[:max_bytes],
        too_large=len(data) > max_bytes,
    )
