"""Collectors: the metrics an application reports to Replicated, each a function registered by
name that returns one value (text, a whole number, a number, true or false).

A collector that raises, takes longer than its deadline (WIZARD_COLLECTOR_TIMEOUT) or returns
anything else is skipped for that round, its name and the reason recorded; the others report.
"""

from __future__ import annotations

import concurrent.futures
import importlib
import math
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar, overload

Scalar = str | int | float | bool
CollectorFunction = Callable[[], Any]
F = TypeVar("F", bound=CollectorFunction)

# The wizard's own metrics, added to every round; an application's collector may not take
# their names.
BUILTIN_NAMES = frozenset({"wizard_version", "license_expires_in_days"})
MAX_TEXT = 4096
_POOL_THREADS = 32


@dataclass(frozen=True)
class Skipped:
    """A collector left out of a round, and why, in words."""

    name: str
    reason: str

    def as_json(self) -> dict[str, str]:
        return {"name": self.name, "reason": self.reason}


def check_value(value: object) -> str | None:
    """Why a collector's value cannot be reported, or None when it can."""
    if isinstance(value, bool | int | str):
        if isinstance(value, str) and len(value) > MAX_TEXT:
            return f"returned {len(value):,} characters of text; at most {MAX_TEXT:,} are sent"
        return None
    if isinstance(value, float):
        return None if math.isfinite(value) else f"returned {value}, which JSON cannot hold"
    if value is None:
        return "returned no value (None)"
    kind = type(value).__name__
    return f"returned a {kind}, not text, a number, or true or false"


class Collectors:
    """The collectors of one application, by name; each run in threads of its own, within a
    deadline, so that one that hangs delays nothing and costs only its own thread."""

    def __init__(self) -> None:
        self._functions: dict[str, CollectorFunction] = {}
        self._running: dict[str, concurrent.futures.Future[Any]] = {}
        self._lock = threading.Lock()
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None
        self._pool_pid = 0

    @overload
    def register(self, name: str) -> Callable[[F], F]: ...

    @overload
    def register(self, name: str, function: F) -> F: ...

    def register(self, name: str, function: F | None = None) -> F | Callable[[F], F]:
        """Register `function` as the collector of the metric `name` (replacing one of the same
        name); without a function, a decorator that does so."""
        if not isinstance(name, str) or not name.strip():
            raise ValueError("a collector needs a name: the metric it reports")
        if name in BUILTIN_NAMES:
            raise ValueError(f"{name} is a metric the wizard reports itself; choose another name")

        def add(fn: F) -> F:
            if not callable(fn):
                raise TypeError(f"the collector of {name} must be a function")
            with self._lock:
                self._functions[name] = fn
            return fn

        return add(function) if function is not None else add

    def unregister(self, name: str) -> None:
        with self._lock:
            self._functions.pop(name, None)

    def names(self) -> list[str]:
        with self._lock:
            return sorted(self._functions)

    def _executor(self) -> concurrent.futures.ThreadPoolExecutor:
        # Threads do not survive a fork (gunicorn's workers): a new process makes its own pool.
        if self._pool is None or self._pool_pid != os.getpid():
            self._pool = concurrent.futures.ThreadPoolExecutor(
                max_workers=_POOL_THREADS, thread_name_prefix="wizard-collector"
            )
            self._pool_pid = os.getpid()
            self._running = {}
        return self._pool

    def collect(self, timeout: float) -> tuple[dict[str, Scalar], list[Skipped]]:
        """Run every collector at once; return the values, and the collectors skipped."""
        with self._lock:
            functions = dict(self._functions)
            pool = self._executor()
            started: dict[str, concurrent.futures.Future[Any]] = {}
            skipped: list[Skipped] = []
            for name, function in sorted(functions.items()):
                still = self._running.get(name)
                if still is not None and not still.done():
                    skipped.append(Skipped(name, "is still running since an earlier round"))
                    continue
                started[name] = self._running[name] = pool.submit(function)
        concurrent.futures.wait(started.values(), timeout=timeout)
        data: dict[str, Scalar] = {}
        for name, future in started.items():
            problem = _problem(future, timeout)
            if problem is None:
                data[name] = future.result()
            else:
                skipped.append(Skipped(name, problem))
        return data, sorted(skipped, key=lambda item: item.name)


def _problem(future: concurrent.futures.Future[Any], timeout: float) -> str | None:
    if not future.done():
        return f"did not answer within {timeout:g} s (WIZARD_COLLECTOR_TIMEOUT)"
    error = future.exception()
    if error is not None:
        words = str(error).strip().splitlines()
        detail = f": {words[0][:200]}" if words else ""
        return f"raised {type(error).__name__}{detail}"
    return check_value(future.result())


REGISTRY = Collectors()


def collector(name: str) -> Callable[[F], F]:
    """Decorator: register a function as the collector of the metric `name`.

    @collector("seats_used")
    def seats_used() -> int:
        return User.query.count()
    """
    return REGISTRY.register(name)


def register(name: str, function: CollectorFunction) -> CollectorFunction:
    """Register `function` as the collector of the metric `name`."""
    return REGISTRY.register(name, function)


def unregister(name: str) -> None:
    """Stop reporting the metric `name`."""
    REGISTRY.unregister(name)


def load_from_setting(setting: str | None, into: Collectors = REGISTRY) -> list[str]:
    """Register the collectors WIZARD_REPORT_COLLECTORS names: `module:function` (the metric
    is named after the function) or `name=module:function`, comma separated. ValueError,
    naming the variable and the entry, when one cannot be imported."""
    names = []
    for entry in (part.strip() for part in (setting or "").split(",")):
        if not entry:
            continue
        name, _, target = entry.rpartition("=") if "=" in entry else ("", "", entry)
        module_name, _, attribute = target.partition(":")
        if not module_name or not attribute:
            raise ValueError(
                f"WIZARD_REPORT_COLLECTORS: {entry!r} is not module:function "
                "(or name=module:function)"
            )
        try:
            function = getattr(importlib.import_module(module_name), attribute)
        except (ImportError, AttributeError) as error:
            raise ValueError(f"WIZARD_REPORT_COLLECTORS: cannot load {target}: {error}") from None
        name = name.strip() or attribute
        into.register(name, function)
        names.append(name)
    return names
