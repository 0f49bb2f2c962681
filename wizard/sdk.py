"""Ask the Replicated SDK running beside the application who this installation is. No Flask."""

import contextlib
import http.client
import json
import socket
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import urlsplit

from .id_rule import InvalidId, clean_id, license_id_hint
from .licenses import Entitlement, License, expiry_of

LICENSE_INFO = "/api/v1/license/info"
APP_INFO = "/api/v1/app/info"
MOCK_HEADER = "X-Replicated-Mock-Data"

# A hung or trickling SDK must not hang a page: the whole detection, both requests and every
# byte of their answers, ends by this deadline (WIZARD_SDK_TIMEOUT).
DEFAULT_TIMEOUT_SECONDS = 5.0
MAX_RESPONSE_BYTES = 1024 * 1024

# One detection at a time per process: a slow SDK then holds one thread of a worker, never
# all of them, and pages and health checks keep answering.
_ONE_DETECTION = threading.Lock()


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
    entitlements: tuple = field(default=())

    def as_license(self):
        """The license facts in the shape the pages and the summary use."""
        return License(
            license_id=self.license_id,
            app_slug=self.app_slug,
            customer_id=self.customer_id,
            customer_name=self.customer_name,
            customer_email=None,
            license_type=self.license_type,
            channel_id=None,
            channel_name=self.channel_name,
            license_sequence=None,
            expires_at=self.expires_at,
            version="Replicated SDK",
            key="replicated-sdk",
            entitlements=self.entitlements,
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
        }

    def sealable(self):
        """A JSON-safe form that `from_sealed` turns back into a Detected."""
        return {
            **self.as_json(),
            "entitlements": [
                [e.name, e.title, e.value, e.value_type, e.hidden] for e in self.entitlements
            ],
        }

    @classmethod
    def from_sealed(cls, data):
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
        )


def _get(base_url, path, deadline, timeout):
    """GET one JSON document from the SDK, all of it before the deadline; no redirects."""
    parts = urlsplit(base_url)
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise SdkError(f"The Replicated SDK at {base_url} did not answer in time.")
    kind = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    connection = kind(parts.hostname, parts.port, timeout=remaining)
    opened = []

    def cut():
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
        target = parts.path.rstrip("/") + path
        connection.request("GET", target, headers={"Accept": "application/json"})
        response = connection.getresponse()
        body = response.read(MAX_RESPONSE_BYTES + 1)
        complete = response.length in (None, 0) and time.monotonic() < deadline
    except (OSError, http.client.HTTPException) as error:
        if time.monotonic() >= deadline - 0.05:
            raise SdkError(
                f"The Replicated SDK at {base_url} did not answer GET {path} in time (a "
                f"detection may take {timeout:g} seconds, WIZARD_SDK_TIMEOUT)."
            ) from None
        reason = getattr(error, "strerror", None) or str(error) or type(error).__name__
        raise SdkError(
            f"The Replicated SDK at {base_url} cannot be reached ({reason}). Is "
            "WIZARD_REPLICATED_SDK_URL right, and is the SDK running?"
        ) from None
    finally:
        watchdog.cancel()
        connection.close()
    if not complete and len(body) <= MAX_RESPONSE_BYTES:
        raise SdkError(
            f"The Replicated SDK at {base_url} did not answer GET {path} in time (a "
            f"detection may take {timeout:g} seconds, WIZARD_SDK_TIMEOUT)."
        )
    if 300 <= response.status < 400:
        location = response.getheader("Location", "nowhere")
        raise SdkError(
            f"The Replicated SDK at {base_url} answered GET {path} with a redirect "
            f"({response.status} to {location[:100]}); the wizard follows no redirects. Set "
            "WIZARD_REPLICATED_SDK_URL to the SDK's own address."
        )
    if response.status >= 400 or response.status < 200:
        raise SdkError(
            f"The Replicated SDK at {base_url} answered {response.status} to GET {path}. "
            "Check that the SDK is running and healthy."
        )
    if len(body) > MAX_RESPONSE_BYTES:
        raise SdkError(
            f"The Replicated SDK at {base_url} sent far more than expected for GET {path}."
        )
    mock = response.getheader(MOCK_HEADER, "").strip().lower() == "true"
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        kind = (response.getheader("Content-Type") or "").split(";")[0] or "no content type"
        raise SdkError(
            f"The Replicated SDK at {base_url} answered GET {path} with something "
            f"that is not JSON ({kind}). Is WIZARD_REPLICATED_SDK_URL the SDK's "
            "address?"
        ) from None
    if not isinstance(document, dict):
        raise SdkError(
            f"The Replicated SDK at {base_url} answered GET {path} with JSON that is not an object."
        )
    return document, mock


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


def detect(base_url, timeout=DEFAULT_TIMEOUT_SECONDS, expected_app=None):
    """Ask the SDK for the license and the instance, all within `timeout` seconds; raise
    SdkError saying what went wrong, or when the SDK serves another application than
    `expected_app` (WIZARD_EXPECTED_APP_SLUG), as a license file for it would be refused."""
    parts = urlsplit(base_url or "")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise SdkError(
            f"WIZARD_REPLICATED_SDK_URL must be an http(s) address such as "
            f"http://replicated:3000, not {base_url!r}."
        )
    if not _ONE_DETECTION.acquire(blocking=False):
        raise SdkError("Another detection is running. Try again in a few seconds.")
    try:
        deadline = time.monotonic() + timeout
        license_info, mock_license = _get(base_url, LICENSE_INFO, deadline, timeout)
        app_info, mock_app = _get(base_url, APP_INFO, deadline, timeout)
    finally:
        _ONE_DETECTION.release()
    entitlements = license_info.get("entitlements")
    found = Detected(
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
        mock=mock_license or mock_app,
        entitlements=_entitlements(entitlements),
    )
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
    return found
