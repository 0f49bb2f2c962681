"""A real HTTP server on loopback that answers like the Replicated SDK, in the ways it can go
right and wrong.

What it mimics (replicated-sdk pkg/handlers, read at b5ecbac):
- GET /api/v1/license/info and GET /api/v1/app/info, with X-Replicated-Mock-Data in
  integration mode (license.go GetLicenseInfo, app.go GetCurrentAppInfo);
- POST and PATCH /api/v1/app/custom-metrics (app.go SendCustomAppMetrics): a body that does
  not decode is 400 with no body, no data is 400 "no data provided", a null, list or map value
  is 400 "<key> value is nil|an array|a map, only scalar values are allowed", success is 200
  with the JSON string "", a failure to send upstream 400 with no body; POST replaces the
  metric set, PATCH merges into it;
- POST /api/v1/app/instance-tags (app.go SendAppInstanceTags): a value of the wrong JSON type is
  400 "<type> not supported, only string values are allowed on instance-tags", a body that does
  not decode 500, success 200 "";
- middleware.go CacheMiddleware on those writes: the same method, path and body again within a
  minute is answered from the cache, with X-Replicated-Served-From-Cache: true and
  X-Replicated-Rate-Limited: true, and nothing is sent upstream.
"""

import http.server
import json
import threading
import time

INSTANCE_ID = "7f7c3c57-4a8f-4b9e-9d51-0a3f4f1c2b6e"
LICENSE_ID = "2SdkLicense0000000000000WXYZ"

LICENSE_INFO = {
    "licenseID": LICENSE_ID,
    "appSlug": "my-app",
    "channelID": "2Chan",
    "channelName": "Stable",
    "customerID": "sdk-customer-1",
    "customerName": "Acme From SDK",
    "customerEmail": "ops@acme.example",
    "licenseType": "prod",
    "licenseSequence": 4,
    "endpoint": "https://replicated.app",
    "entitlements": {
        "expires_at": {
            "title": "Expiration",
            "value": "2031-01-01T00:00:00Z",
            "valueType": "String",
        },
        "seats": {"title": "Seats", "value": 50, "valueType": "Integer"},
        "secret_flag": {"title": "Secret", "value": True, "valueType": "Boolean", "isHidden": True},
    },
    "isAirgapSupported": True,
}
APP_INFO = {
    "instanceID": INSTANCE_ID,
    "appSlug": "my-app",
    "appName": "My App",
    "appStatus": "ready",
    "currentRelease": {"versionLabel": "1.2.3"},
}


def _without(key):
    return lambda document: document.pop(key)


def _expired(document):
    expiry = {**document["entitlements"]["expires_at"], "value": "2020-01-01T00:00:00Z"}
    document["entitlements"] = {**document["entitlements"], "expires_at": expiry}


NEWER_SEQUENCE = 9
OTHER_INSTANCE_ID = "0c1d2e3f-aaaa-4bbb-8ccc-123456789abc"


def _newer(document):
    """A renewal Replicated pushed to the SDK: a higher sequence, a later expiry, more seats."""
    document["licenseSequence"] = NEWER_SEQUENCE
    entitlements = document["entitlements"]
    entitlements["expires_at"] = {**entitlements["expires_at"], "value": "2032-01-01T00:00:00Z"}
    entitlements["seats"] = {**entitlements["seats"], "value": 100}


# How each mode changes what GET /api/v1/license/info and GET /api/v1/app/info answer.
LICENSE_CHANGES = {
    "newer": _newer,
    "other_app": lambda document: document.update(appSlug="other-app"),
    "old": _without("customerID"),
    "missing": _without("licenseID"),
    "wrong_type": lambda document: document.update(licenseID=12345),
    "no_app": _without("appSlug"),
    "expired": _expired,
    # Python's json writes these, and reads them back; JSON itself has no such numbers.
    "nan": lambda document: document["entitlements"]["seats"].update(value=float("nan")),
    # Terminal control sequences: set the title, erase the line, write the clipboard (OSC 52).
    "escapes": lambda document: document.update(
        customerName="Acme\x1b]0;pwned\x07\x1b[2K", channelName="\x1b]52;c;cm0gLXJmIH4=\x07"
    ),
    "infinity": lambda document: document["entitlements"]["seats"].update(value=float("inf")),
}
APP_CHANGES = {
    "other_instance": lambda document: document.update(instanceID=OTHER_INSTANCE_ID),
    "other_app": lambda document: document.update(appSlug="other-app"),
    "missing_instance": _without("instanceID"),
    "no_app": _without("appSlug"),
}


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        mode = self.server.mode
        self.server.requests.append(self.path)
        if mode == "slow":
            time.sleep(30)
        failure = _FAILURES.get(mode)
        if failure is not None:
            return failure(self)
        pages = {
            "/api/v1/license/info": (LICENSE_INFO, LICENSE_CHANGES),
            "/api/v1/app/info": (APP_INFO, APP_CHANGES),
        }
        if self.path not in pages:
            return self._send(404, b'{"error": "not found"}', "application/json")
        original, changes = pages[self.path]
        document = json.loads(json.dumps(original))
        if mode in changes:
            changes[mode](document)
        headers = {"X-Replicated-Mock-Data": "true"} if mode == "mock" else {}
        return self._send(200, json.dumps(document).encode(), "application/json", headers)

    def _redirect(self):
        target = (
            "ftp://files.example/x" if self.server.mode == "redirect_ftp" else "http://evil.example"
        )
        self.send_response(302)
        self.send_header("Location", target + self.path)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _trickle(self):
        """Headers at once, then one byte a second: each read is quick, the whole never ends."""
        body = json.dumps(LICENSE_INFO).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        try:
            for byte in body:
                self.wfile.write(bytes([byte]))
                self.wfile.flush()
                time.sleep(1)
        except OSError:
            pass  # the client gave up, as it should

    def _send(self, status, body, content_type, headers=None):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


_FAILURES = {
    "trickle": _Handler._trickle,
    "redirect": _Handler._redirect,
    "redirect_ftp": _Handler._redirect,
    "error": lambda handler: handler._send(500, b'{"error": "internal"}', "application/json"),
    "html": lambda handler: handler._send(
        200, b"<html><body>Welcome to nginx!</body></html>", "text/html"
    ),
    # Valid JSON, nested far deeper than a parser that recurses can follow.
    "deep": lambda handler: handler._send(
        200, b'{"a":' * 50_000 + b"1" + b"}" * 50_000, "application/json"
    ),
}


def _go_kind(value):
    """What Go's validateCustomAppMetricsData calls a value that is not a scalar."""
    if value is None:
        return "nil"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "a map"
    return None


def _json_type(value):
    """encoding/json's name of a JSON value's type, as an UnmarshalTypeError gives it."""
    for kind, name in ((bool, "bool"), ((int, float), "number"), (str, "string"), (list, "array")):
        if isinstance(value, kind):
            return name
    return "object"


class _Writes:
    """The SDK's write handlers, with the cache middleware in front."""

    CACHE_SECONDS = 60

    def handle(self, handler, method):
        server = handler.server
        raw = handler.rfile.read(int(handler.headers.get("Content-Length") or 0))
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = ...  # does not decode
        server.writes.append((method, handler.path, body, dict(handler.headers)))
        key = (method, handler.path)
        cached = server.cache.get(key)
        if cached and cached[0] > time.monotonic() and cached[1] == body:
            headers = {
                "X-Replicated-Served-From-Cache": "true",
                "X-Replicated-Rate-Limited": "true",
            }
            return handler._send(cached[2], cached[3], "application/json", headers)
        if handler.path == "/api/v1/app/custom-metrics" and method in ("POST", "PATCH"):
            status, answer = self.metrics(server, method, body)
        elif handler.path == "/api/v1/app/instance-tags" and method == "POST":
            status, answer = self.tags(server, body)
        else:
            status, answer = 404, b""
        if 200 <= status < 300:
            server.cache[key] = (time.monotonic() + self.CACHE_SECONDS, body, status, answer)
        content_type = "application/json" if status == 200 else "text/plain; charset=utf-8"
        return handler._send(status, answer, content_type)

    def metrics(self, server, method, body):
        if body is ... or (body is not None and not isinstance(body, dict)):
            return 400, b""
        data = (body or {}).get("data")
        if data is not None and not isinstance(data, dict):
            return 400, b""
        if not data:
            return 400, b"no data provided"
        for key, value in data.items():
            kind = _go_kind(value)
            if kind:
                return 400, f"{key} value is {kind}, only scalar values are allowed".encode()
        if server.mode == "upstream_down":
            return 400, b""
        server.metrics = dict(data) if method == "POST" else {**server.metrics, **data}
        return 200, b'""'

    def tags(self, server, body):
        if body is ...:
            return 500, b""
        data = (body or {}).get("data") or {}
        values = list((data.get("tags") or {}).values()) if isinstance(data, dict) else [data]
        for value in values:
            if not isinstance(value, str | None):
                return 400, f"{_json_type(value)} {_TAGS_REFUSAL}".encode()
        if server.mode == "upstream_down":
            return 500, b""
        server.tags = dict(data.get("tags") or {})
        return 200, b'""'


_TAGS_REFUSAL = "not supported, only string values are allowed on instance-tags"
_WRITES = _Writes()
_Handler.do_POST = lambda self: _WRITES.handle(self, "POST")
_Handler.do_PATCH = lambda self: _WRITES.handle(self, "PATCH")


class FakeSdk(http.server.ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, mode="current"):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.mode = mode
        self.requests = []
        self.writes = []  # (method, path, JSON body, headers) of every write, cached ones too
        self.cache = {}
        self.metrics = {}
        self.tags = {}
        self.url = f"http://127.0.0.1:{self.server_address[1]}"
        threading.Thread(target=self.serve_forever, args=(0.05,), daemon=True).start()

    def handle_error(self, request, client_address):
        pass  # a client that gave up on the slow mode; the test checks the client's side

    def close(self):
        self.shutdown()
        self.server_close()
