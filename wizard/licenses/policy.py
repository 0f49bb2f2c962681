"""What this installation accepts (trusted keys, the expected application, the largest file),
and the one way to pick a license from a file that may hold several."""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar, cast

from .documents import MAX_LICENSE_BYTES, document_label, license_documents
from .keys import TrustedKeys, load_trusted_keys
from .verdicts import Reason, Verdict
from .verify import verify_document

T = TypeVar("T")


@dataclass(frozen=True)
class Choice:
    """One license of a file, as offered to the admin: its number (from 1), label and verdict."""

    number: int
    label: str
    verdict: Verdict


class NeedsChoice(Exception):
    """A file of several licenses and no choice, or a number it does not have: every license
    with its verdict, for the admin to choose from."""

    def __init__(self, choices: list[Choice], number: int | None = None) -> None:
        self.choices = choices
        self.number = number
        super().__init__(self.message("a license number"))

    def message(self, how: str) -> str:
        """What to tell the admin; `how` names the way to choose (`--license N`, say)."""
        count = len(self.choices)
        if self.number is not None:
            return f"License number {self.number}: this file holds {count} license(s)."
        return f"This file holds {count} licenses: say which one to save with {how} (1 to {count})."


def pick_license(
    data: bytes | str,
    keys: TrustedKeys,
    expected_app: str | None = None,
    *,
    number: int | None = None,
    now: datetime | None = None,
    max_bytes: int = MAX_LICENSE_BYTES,
) -> Verdict:
    """The verdict on the license to use: the only one of the file, or license `number` (from
    1). Raises LicenseError for a file that holds no license, NeedsChoice for a file of
    several without a number, or a number the file does not have."""
    documents = license_documents(data, max_bytes)
    if number is None and len(documents) == 1:
        number = 1
    if number is None or not 1 <= number <= len(documents):
        raise NeedsChoice(
            [
                Choice(
                    index,
                    document_label(document),
                    verify_document(document, keys, expected_app, now),
                )
                for index, document in enumerate(documents, start=1)
            ],
            number,
        )
    return verify_document(documents[number - 1], keys, expected_app, now)


def off_the_event_loop(work: Callable[[], T]) -> T:
    """Run CPU-bound work (a file of a hundred licenses, a license carrying a CA bundle) where
    a gevent worker's other connections are still served: in the hub's pool of real threads,
    between which the interpreter switches every few milliseconds, so /healthz answers while a
    large file is verified. Here, when gevent has not patched this process."""
    monkey: Any = sys.modules.get("gevent.monkey")
    if monkey is None or not monkey.is_module_patched("threading"):
        return work()
    import gevent

    def caught() -> tuple[bool, Any]:
        try:
            return True, work()
        except Exception as error:  # a refusal or a choice: raised here, not logged there
            return False, error

    done, value = gevent.get_hub().threadpool.apply(caught)
    if not done:
        raise value
    return cast(T, value)


def verify_license(
    data: bytes | str,
    keys: TrustedKeys,
    expected_app: str | None = None,
    now: datetime | None = None,
    number: int = 1,
    max_bytes: int = MAX_LICENSE_BYTES,
) -> Verdict:
    """The verdict on license `number` (the first, as Replicated reads a file); never raises."""
    from .verdicts import LicenseError

    try:
        return pick_license(data, keys, expected_app, number=number, now=now, max_bytes=max_bytes)
    except LicenseError as error:
        return Verdict(error.reason, error.message)
    except NeedsChoice as choice:
        return Verdict(Reason.NOT_A_LICENSE, str(choice))


@dataclass(frozen=True)
class LicensePolicy:
    """What this installation accepts: trusted keys, the expected app, the largest file."""

    keys: TrustedKeys
    expected_app: str | None = None
    max_bytes: int = MAX_LICENSE_BYTES

    @classmethod
    def for_app(cls, app: Any) -> LicensePolicy:
        """The policy of a Flask app, built from its settings once, on first use (it loads
        keys). Raises ValueError naming WIZARD_LICENSE_KEYS when a key cannot be loaded."""
        policy = app.extensions.get("license_policy")
        if policy is None:
            policy = app.extensions["license_policy"] = cls.from_settings(app.config)
        return cast(LicensePolicy, policy)

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> LicensePolicy:
        """Build the policy from the WIZARD_* settings (a plain mapping)."""
        return cls(
            keys=load_trusted_keys(settings.get("WIZARD_LICENSE_KEYS") or "production"),
            expected_app=settings.get("WIZARD_EXPECTED_APP_SLUG") or None,
            max_bytes=settings.get("MAX_CONTENT_LENGTH") or MAX_LICENSE_BYTES,
        )

    def pick(
        self, data: bytes | str, number: int | None = None, now: datetime | None = None
    ) -> Verdict:
        """pick_license under this policy, off a gevent worker's event loop."""
        return off_the_event_loop(
            lambda: pick_license(
                data, self.keys, self.expected_app, number=number, now=now, max_bytes=self.max_bytes
            )
        )

    def verify_document(self, document: dict[str, Any], now: datetime | None = None) -> Verdict:
        """Verify one license document of a file under this policy."""
        return verify_document(document, self.keys, self.expected_app, now)
