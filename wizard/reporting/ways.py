"""The three ways a report leaves (or does not leave) this installation, each as Replicated's
own code does it (replicated-sdk pkg/report and pkg/handlers):

- through the Replicated SDK in the cluster: POST /api/v1/app/custom-metrics (the set replaces
  the application's metrics) and, when the instance has a name, POST /api/v1/app/instance-tags;
  the SDK adds the identity itself;
- direct, to the license's endpoint, as the SDK itself sends upstream: the instance check-in
  POST {endpoint}/kots_metrics/license_instance/info and POST /application/custom-metrics, with
  HTTP Basic licenseID:licenseID and the X-Replicated-* instance headers. The license id goes
  only there, over HTTPS unless the endpoint is this machine;
- offline: nothing leaves; the round is kept for the air-gapped usage file.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol
from urllib.parse import urlsplit

from ..outbound import Answer, NoAnswer, exchange

CACHE_HEADER = "X-Replicated-Served-From-Cache"


class SendFailed(Exception):
    """A report did not get through; `reason` says why, in words an admin reads."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Report:
    """What one round carries: the identity saved when it was collected, and the metrics."""

    customer_id: str | None
    instance_id: str
    license_id: str | None
    data: dict[str, Any]
    collected_at: datetime


@dataclass(frozen=True)
class Request:
    """One HTTP request a way sends."""

    method: str
    url: str
    headers: dict[str, str]
    body: dict[str, Any]

    def encoded(self) -> bytes:
        return json.dumps(self.body, separators=(",", ":"), sort_keys=True).encode()

    def shown(self) -> dict[str, Any]:
        """The request as the admin may see it: the license id (a credential) left out."""
        headers = dict(self.headers)
        if "Authorization" in headers:
            headers["Authorization"] = "Basic (the license id, as user and password)"
        return {"method": self.method, "url": self.url, "headers": headers, "body": self.body}


@dataclass(frozen=True)
class Delivered:
    """A report that got through; the SDK may have answered from its cache."""

    served_from_cache: bool = False


class Way(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def where(self) -> str: ...

    def requests(self, report: Report) -> list[Request]: ...

    def send(self, report: Report, timeout: float) -> Delivered: ...


def _post(request: Request, deadline: float, who: str) -> Answer:
    """Send one request; SendFailed in words when nothing came back, or a redirect did."""
    try:
        answer = exchange(
            request.method, request.url, deadline, body=request.encoded(), headers=request.headers
        )
    except NoAnswer as problem:
        if problem.timed_out:
            raise SendFailed(f"{who} did not answer in time") from None
        raise SendFailed(f"{who} cannot be reached ({problem.reason})") from None
    if 300 <= answer.status < 400:
        raise SendFailed(
            f"{who} answered {request.method} {urlsplit(request.url).path} with a redirect "
            f"({answer.status}); the wizard follows no redirects"
        )
    return answer


def _said(answer: Answer) -> str:
    text = answer.body.decode("utf-8", "replace").strip()
    return f": {text[:200]}" if text else ""


@dataclass(frozen=True)
class ThroughSdk:
    """POST the metrics (and the instance's name) to the Replicated SDK in the cluster."""

    sdk_url: str
    instance_name: str | None = None
    name: str = "sdk"

    @property
    def where(self) -> str:
        return f"through the Replicated SDK at {self.sdk_url}"

    def requests(self, report: Report) -> list[Request]:
        base = self.sdk_url.rstrip("/")
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        requests = [
            Request("POST", f"{base}/api/v1/app/custom-metrics", headers, {"data": report.data})
        ]
        if self.instance_name:
            tags = {"data": {"force": False, "tags": {"name": self.instance_name}}}
            requests.append(Request("POST", f"{base}/api/v1/app/instance-tags", headers, tags))
        return requests

    def send(self, report: Report, timeout: float) -> Delivered:
        deadline = time.monotonic() + timeout
        metrics, *tags = self.requests(report)
        who = f"The Replicated SDK at {self.sdk_url}"
        answer = _post(metrics, deadline, who)
        if answer.status == 400 and not answer.body.strip():
            raise SendFailed(
                f"{who} could not pass the metrics on to Replicated (it answered 400 without a "
                "reason; the SDK's log says why)"
            )
        if answer.status >= 300 or answer.status < 200:
            raise SendFailed(f"{who} refused the metrics ({answer.status}){_said(answer)}")
        cached = answer.header(CACHE_HEADER).lower() == "true"
        for request in tags:
            tagged = _post(request, deadline, who)
            if not 200 <= tagged.status < 300:
                raise SendFailed(
                    f"{who} could not send the instance's name on to Replicated "
                    f"({tagged.status}){_said(tagged)}"
                )
        return Delivered(served_from_cache=cached)


def is_loopback(host: str | None) -> bool:
    """True for this machine: localhost, 127.0.0.0/8, ::1."""
    if not host:
        return False
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class Direct:
    """Send as the SDK sends upstream, with the saved identity, to the license's endpoint."""

    endpoint: str
    version: str
    channel_id: str | None = None
    channel_name: str | None = None
    cluster_id: str | None = None
    instance_name: str | None = None
    name: str = "direct"
    app_status: str | None = field(default=None)

    @property
    def where(self) -> str:
        return f"direct to {self.endpoint}"

    def _headers(self, report: Report) -> dict[str, str]:
        credential = f"{report.license_id}:{report.license_id}".encode()
        headers = {
            "Authorization": "Basic " + base64.b64encode(credential).decode(),
            "Content-Type": "application/json",
            "User-Agent": f"Replicated-Setup-Wizard/{self.version}",
            "X-Replicated-InstanceID": report.instance_id,
        }
        if self.cluster_id:
            headers["X-Replicated-ClusterID"] = self.cluster_id
        if self.app_status:
            headers["X-Replicated-AppStatus"] = self.app_status
        # As pkg/report/util.go GetInstanceDataHeaders: the channel's name only without its id.
        if self.channel_id:
            headers["X-Replicated-DownstreamChannelID"] = self.channel_id
        elif self.channel_name:
            headers["X-Replicated-DownstreamChannelName"] = self.channel_name
        if self.instance_name:
            tags = {"force": False, "tags": {"name": self.instance_name}}
            encoded = json.dumps(tags, separators=(",", ":")).encode()
            headers["X-Replicated-InstanceTagData"] = base64.b64encode(encoded).decode()
        return headers

    def requests(self, report: Report) -> list[Request]:
        parts = urlsplit(self.endpoint)
        headers = self._headers(report)
        host = parts.hostname or ""
        if parts.port:
            host = f"{host}:{parts.port}"
        return [
            # pkg/report/instance.go SendOnlineInstanceData: the endpoint, its path kept.
            Request(
                "POST",
                f"{self.endpoint.rstrip('/')}/kots_metrics/license_instance/info",
                headers,
                {},
            ),
            # pkg/report/custom_app_metrics.go SendOnlineCustomAppMetrics: scheme and host only.
            Request(
                "POST",
                f"{parts.scheme}://{host}/application/custom-metrics",
                headers,
                {"data": report.data},
            ),
        ]

    def refusal(self, report: Report) -> str | None:
        """Why this report must not be sent direct, or None."""
        problem = self.endpoint_problem()
        if problem is None and not report.license_id:
            return "the saved identity has no license id, which Replicated needs to know the report"
        return problem

    def endpoint_problem(self) -> str | None:
        """Why nothing can be sent to this endpoint (not http(s); not HTTPS, and not this
        machine: the license id goes over HTTPS only), or None."""
        parts = urlsplit(self.endpoint)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            return f"the endpoint {self.endpoint!r} is not an http(s) address"
        if parts.scheme != "https" and not is_loopback(parts.hostname):
            return (
                f"the endpoint {self.endpoint} is not HTTPS: the license id is sent only over "
                "HTTPS (or to this machine)"
            )
        return None

    def send(self, report: Report, timeout: float) -> Delivered:
        refusal = self.refusal(report)
        if refusal:
            raise SendFailed(refusal)
        deadline = time.monotonic() + timeout
        check_in, metrics = self.requests(report)
        who = f"Replicated's endpoint {urlsplit(self.endpoint).netloc}"
        answer = _post(check_in, deadline, who)
        if answer.status != 200:  # SendOnlineInstanceData: anything but 200 is an error
            raise SendFailed(_direct_refusal(who, "the instance check-in", answer))
        answer = _post(metrics, deadline, who)
        if answer.status >= 400:  # SendOnlineCustomAppMetrics: a body is meant for a person
            raise SendFailed(_direct_refusal(who, "the metrics", answer))
        return Delivered()


def _direct_refusal(who: str, what: str, answer: Answer) -> str:
    status = answer.status
    if status in (401, 403):
        return (
            f"{who} refused the license id ({status}) for {what}: check that the saved license "
            f"is this installation's, and still active{_said(answer)}"
        )
    if status >= 500:
        return f"{who} answered {status} to {what}: a problem on Replicated's side{_said(answer)}"
    return f"{who} answered {status} to {what}{_said(answer)}"


@dataclass(frozen=True)
class Offline:
    """Air-gapped: nothing leaves; every round is kept for the usage file."""

    name: str = "offline"
    where: str = "offline: kept here for the air-gapped usage file"

    def requests(self, report: Report) -> list[Request]:
        return []

    def send(self, report: Report, timeout: float) -> Delivered:
        raise AssertionError("an offline round is kept, never sent")


def usage_event(report: Report) -> dict[str, Any]:
    """A round as the SDK keeps a custom-metrics report air-gapped (pkg/report
    CustomAppMetricsReportEvent): reported_at in Unix milliseconds."""
    return {
        "reported_at": int(report.collected_at.timestamp() * 1000),
        "license_id": report.license_id or "",
        "instance_id": report.instance_id,
        "data": report.data,
    }
