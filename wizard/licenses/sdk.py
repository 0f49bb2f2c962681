"""Ask the Replicated SDK running beside the application who this installation is. No Flask."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from ..ids import InvalidId, clean_id, license_id_hint
from ..outbound import Answer, NoAnswer, exchange
from .times import expiry_of
from .verdicts import Entitlement, License

LICENSE_INFO = "/api/v1/license/info"
APP_INFO = "/api/v1/app/info"
MOCK_HEADER = "X-Replicated-Mock-Data"

# A hung or trickling SDK must not hang a page: the whole detection, both requests and every
# byte of their answers, ends by this deadline (WIZARD_SDK_TIMEOUT).
DEFAULT_TIMEOUT_SECONDS = 5.0
MAX_RESPONSE_BYTES = 4 * 1024 * 1024  # a license with a large entitlement (a CA bundle)

# One detection at a time per process: a slow SDK then holds one thread of a worker, never
# all of them, and pages and health checks keep answering.
_ONE_DETECTION = threading.Lock()


# What the SDK's answers and a license file have in common.
_AS_IN_A_LICENSE = (
    "license_id",
    "app_slug",
    "customer_id",
    "customer_name",
    "license_type",
    "channel_id",
    "channel_name",
    "license_sequence",
    "expires_at",
    "entitlements",
    "endpoint",
)


class SdkError(Exception):
    """The SDK could not say who this installation is; the message says why, in plain words."""


@dataclass(frozen=True)
class Detected:
    """What the SDK reported."""

    license_id: str
    instance_id: str
    customer_id: str | None
    app_slug: str | None
    app_name: str | None
    customer_name: str | None
    license_type: str | None
    channel_name: str | None
    expires_at: datetime | None
    mock: bool
    entitlements: tuple[Entitlement, ...] = field(default=())
    channel_id: str | None = None
    license_sequence: int | None = None
    endpoint: str | None = None

    def as_license(self) -> License:
        """The license facts in the shape the pages and the summary use."""
        shared = {name: getattr(self, name) for name in _AS_IN_A_LICENSE}
        return License(
            **shared,
            customer_email=None,
            version="Replicated SDK",
            key="replicated-sdk",
        )

    def as_json(self, show_license_id=True):
        """What `setup-wizard detect --json` prints (the license id, a credential, as its last
        four characters unless asked)."""
        return {
            "license_id": self.license_id if show_license_id else license_id_hint(self.license_id),
            "instance_id": self.instance_id,
            "customer_id": self.customer_id,
            "app_slug": self.app_slug,
            "app_name": self.app_name,
            "customer_name": self.customer_name,
            "license_type": self.license_type,
            "channel_name": self.channel_name,
            "expires_at": self.expires_at.isoformat() if self.expires_at else None,
            "integration_mode": self.mock,
            "channel_id": self.channel_id,
            "license_sequence": self.license_sequence,
            "endpoint": self.endpoint,
        }

    def draft_json(self):
        """What the wizard's draft keeps of it: plain JSON that `from_draft_json` reads back."""
        return {
            **self.as_json(),
            "entitlements": [
                [e.name, e.title, e.value, e.value_type, e.hidden] for e in self.entitlements
            ],
        }

    @classmethod
    def from_draft_json(cls, data):
        expires = data.get("expires_at")
        return cls(
            license_id=data["license_id"],
            instance_id=data["instance_id"],
            customer_id=data.get("customer_id"),
            app_slug=data.get("app_slug"),
            app_name=data.get("app_name"),
            customer_name=data.get("customer_name"),
            license_type=data.get("license_type"),
            channel_name=data.get("channel_name"),
            expires_at=datetime.fromisoformat(expires) if expires else None,
            mock=bool(data.get("integration_mode")),
            entitlements=tuple(Entitlement(*item) for item in data.get("entitlements", [])),
            channel_id=data.get("channel_id"),
            license_sequence=data.get("license_sequence"),
            endpoint=data.get("endpoint"),
        )


def _late(base_url: str, path: str, timeout: float) -> SdkError:
    return SdkError(
        f"The Replicated SDK at {base_url} did not answer GET {path} in time (a "
        f"detection may take {timeout:g} seconds, WIZARD_SDK_TIMEOUT)."
    )


def _refusal(base_url: str, path: str, answer: Answer) -> SdkError | None:
    """Why an answer of the SDK cannot be used, or None when it can."""
    if 300 <= answer.status < 400:
        location = answer.header("Location", "nowhere")
        return SdkError(
            f"The Replicated SDK at {base_url} answered GET {path} with a redirect "
            f"({answer.status} to {location[:100]}); the wizard follows no redirects. Set "
            "WIZARD_REPLICATED_SDK_URL to the SDK's own address."
        )
    if answer.status >= 400 or answer.status < 200:
        return SdkError(
            f"The Replicated SDK at {base_url} answered {answer.status} to GET {path}. "
            "Check that the SDK is running and healthy."
        )
    if answer.too_large:
        return SdkError(
            f"The Replicated SDK at {base_url} sent far more than expected for GET {path}."
        )
    return None


def _get(base_url: str, path: str, deadline: float, timeout: float) -> tuple[dict[str, Any], bool]:
    """GET one JSON document from the SDK, all of it before the deadline; no redirects."""
    try:
        answer = exchange(
            "GET",
            base_url.rstrip("/") + path,
            deadline,
            headers={"Accept": "application/json"},
            max_bytes=MAX_RESPONSE_BYTES,
        )
    except NoAnswer as problem:
        if problem.timed_out:
            raise _late(base_url, path, timeout) from None
        raise SdkError(
            f"The Replicated SDK at {base_url} cannot be reached ({problem.reason}). Is "
            "WIZARD_REPLICATED_SDK_URL right, and is the SDK running?"
        ) from None
    refusal = _refusal(base_url, path, answer)
    if refusal is not None:
        raise refusal
    mock = answer.header(MOCK_HEADER).strip().lower() == "true"
    return _json_object(base_url, path, answer), mock


class _NotJsonNumber(ValueError):
    """NaN, Infinity or -Infinity: Python's json reads them, JSON (and Go) do not."""


def _no_constant(name: str) -> float:
    raise _NotJsonNumber(name)


def _json_object(base_url: str, path: str, answer: Answer) -> dict[str, Any]:
    """The answer's body as a JSON object; SdkError for anything else (NaN and Infinity, which
    JSON does not know, and nesting deeper than any SDK answer has, included)."""
    try:
        document = json.loads(answer.body, parse_constant=_no_constant)
    except RecursionError:
        raise SdkError(
            f"The Replicated SDK at {base_url} answered GET {path} with JSON nested far deeper "
            "than any answer of the SDK."
        ) from None
    except _NotJsonNumber as constant:
        raise SdkError(
            f"The Replicated SDK at {base_url} answered GET {path} with {constant}, which is not "
            "a number JSON can hold: the answer is refused."
        ) from None
    except (ValueError, UnicodeDecodeError):
        kind = (answer.header("Content-Type")).split(";")[0] or "no content type"
        raise SdkError(
            f"The Replicated SDK at {base_url} answered GET {path} with something "
            f"that is not JSON ({kind}). Is WIZARD_REPLICATED_SDK_URL the SDK's "
            "address?"
        ) from None
    if not isinstance(document, dict):
        raise SdkError(
            f"The Replicated SDK at {base_url} answered GET {path} with JSON that is not an object."
        )
    return document


def _text(document, key, what, path, required=False):
    value = document.get(key)
    if value in (None, ""):
        if required:
            raise SdkError(f"The Replicated SDK did not report {what} ({key} in GET {path}).")
        return None
    if not isinstance(value, str):
        raise SdkError(
            f"The Replicated SDK reported {what} ({key} in GET {path}) that is not "
            f"text: {json.dumps(value)[:40]}."
        )
    return value


def _checked_id(value, what, key):
    if value is None:
        return None
    try:
        return clean_id(value)
    except InvalidId as error:
        raise SdkError(f"The Replicated SDK reported {what} ({key}) that {error}.") from None


def _expiry(entitlements):
    try:
        return expiry_of(entitlements)
    except ValueError:
        return None  # the SDK checked its own license; a date it cannot give is just unknown


def _entitlements(entitlements):
    if not isinstance(entitlements, dict):
        return ()
    return tuple(
        Entitlement(
            name=str(name),
            title=entry.get("title"),
            value=entry.get("value"),
            value_type=entry.get("valueType"),
            hidden=bool(entry.get("isHidden")),
        )
        for name, entry in sorted(entitlements.items())
        if isinstance(entry, dict)
    )


def _detected(license_info: dict[str, Any], app_info: dict[str, Any], mock: bool) -> Detected:
    """What the two answers say, each value checked."""
    entitlements = license_info.get("entitlements")
    return Detected(
        license_id=_checked_id(
            _text(license_info, "licenseID", "a license ID", LICENSE_INFO, required=True),
            "a license ID",
            "licenseID",
        ),
        instance_id=_checked_id(
            _text(app_info, "instanceID", "an instance ID", APP_INFO, required=True),
            "an instance ID",
            "instanceID",
        ),
        customer_id=_checked_id(
            _text(license_info, "customerID", "a customer ID", LICENSE_INFO),
            "a customer ID",
            "customerID",
        ),
        app_slug=_text(license_info, "appSlug", "an app", LICENSE_INFO)
        or _text(app_info, "appSlug", "an app", APP_INFO),
        app_name=_text(app_info, "appName", "an app name", APP_INFO),
        customer_name=_text(license_info, "customerName", "a customer name", LICENSE_INFO),
        license_type=_text(license_info, "licenseType", "a license type", LICENSE_INFO),
        channel_name=_text(license_info, "channelName", "a channel", LICENSE_INFO),
        expires_at=_expiry(entitlements),
        mock=mock,
        entitlements=_entitlements(entitlements),
        channel_id=_text(license_info, "channelID", "a channel ID", LICENSE_INFO),
        license_sequence=_sequence(license_info),
        endpoint=_text(license_info, "endpoint", "an endpoint", LICENSE_INFO),
    )


def _sequence(license_info: dict[str, Any]) -> int | None:
    """licenseSequence: a whole number (Go's int64), or None when the SDK gave none."""
    value = license_info.get("licenseSequence")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not -(2**63) <= value < 2**63:
        raise SdkError(
            f"The Replicated SDK reported a license sequence (licenseSequence in GET "
            f"{LICENSE_INFO}) that is not a whole number: {json.dumps(value)[:40]}."
        )
    return value


def _refuse_another_app(found: Detected, base_url: str, expected_app: str | None) -> None:
    if expected_app and not found.app_slug:
        raise SdkError(
            f"The Replicated SDK at {base_url} did not say which application it serves, and "
            f"this wizard is for {expected_app} only (WIZARD_EXPECTED_APP_SLUG)."
        )
    if expected_app and found.app_slug != expected_app:
        raise SdkError(
            f"The Replicated SDK at {base_url} serves the application {found.app_slug}, but "
            f"this wizard is for {expected_app} (WIZARD_EXPECTED_APP_SLUG). Check that "
            "WIZARD_REPLICATED_SDK_URL is the SDK installed with this application."
        )


def check_sdk_url(base_url: str | None) -> str:
    """The SDK's address, or SdkError saying what one looks like."""
    parts = urlsplit(base_url or "")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise SdkError(
            f"WIZARD_REPLICATED_SDK_URL must be an http(s) address such as "
            f"http://replicated:3000, not {base_url!r}."
        )
    return str(base_url)


def detect(
    base_url: str, timeout: float = DEFAULT_TIMEOUT_SECONDS, expected_app: str | None = None
) -> Detected:
    """Ask the SDK for the license and the instance, all within `timeout` seconds; raise
    SdkError saying what went wrong, or when the SDK serves another application than
    `expected_app` (WIZARD_EXPECTED_APP_SLUG), as a license file for it would be refused."""
    check_sdk_url(base_url)
    if not _ONE_DETECTION.acquire(blocking=False):
        raise SdkError("Another detection is running. Try again in a few seconds.")
    try:
        deadline = time.monotonic() + timeout
        license_info, mock_license = _get(base_url, LICENSE_INFO, deadline, timeout)
        app_info, mock_app = _get(base_url, APP_INFO, deadline, timeout)
    finally:
        _ONE_DETECTION.release()
    found = _detected(license_info, app_info, mock_license or mock_app)
    _refuse_another_app(found, base_url, expected_app)
    return found
