"""A stand-in for Replicated's endpoint (the license's spec.endpoint, replicated.app) on
loopback, for the reports an installation without the SDK sends direct.

What it checks, as the SDK sends it (replicated-sdk pkg/report, read at b5ecbac):
- POST /kots_metrics/license_instance/info (instance.go SendOnlineInstanceData): HTTP Basic with
  the license id as user and password, X-Replicated-InstanceID, a JSON object as the body. The
  SDK takes anything but 200 as a failure.
- POST /application/custom-metrics at the endpoint's scheme and host (custom_app_metrics.go
  SendOnlineCustomAppMetrics): the same auth and headers, {"data": {name: scalar}}. The SDK takes
  400 and over as a failure, the body as words for a person.

It answers 200 for a license id it knows, 401 with words for one it does not; and, by mode,
500 (`error`), slowly (`slow`, 30 s), or 401 for every license (`unauthorized`). Closing it
leaves nothing listening: the endpoint is down.
"""

import base64
import http.server
import json
import threading
import time


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        server = self.server
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = json.loads(raw) if raw else None
        server.received.append(
            {"path": self.path, "headers": dict(self.headers), "body": body, "at": time.time()}
        )
        if server.mode == "slow":
            time.sleep(30)
        if server.mode == "error":
            return self._send(500, b"internal error")
        if self.path not in ("/kots_metrics/license_instance/info", "/application/custom-metrics"):
            return self._send(404, b"not found")
        license_id = self._license_id()
        if server.mode == "unauthorized" or license_id not in server.licenses:
            return self._send(401, b"license not found")
        if not self.headers.get("X-Replicated-InstanceID"):
            return self._send(400, b"missing instance id")
        if self.path == "/application/custom-metrics":
            data = (body or {}).get("data")
            if not isinstance(data, dict) or not data:
                return self._send(400, b"no data")
            server.metrics.setdefault(license_id, []).append(data)
        else:
            server.check_ins.append(self.headers.get("X-Replicated-InstanceID"))
        return self._send(200, b"")

    def _license_id(self):
        """The license id of HTTP Basic licenseID:licenseID, or None when it is not that."""
        scheme, _, encoded = (self.headers.get("Authorization") or "").partition(" ")
        if scheme != "Basic":
            return None
        try:
            user, _, password = base64.b64decode(encoded).decode().partition(":")
        except ValueError:
            return None
        return user if user == password else None

    def _send(self, status, body):
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class FakeReplicated(http.server.ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, licenses=(), mode="ok"):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.licenses = set(licenses)
        self.mode = mode
        self.received = []
        self.check_ins = []
        self.metrics = {}
        self.url = f"http://127.0.0.1:{self.server_address[1]}"
        threading.Thread(target=self.serve_forever, args=(0.05,), daemon=True).start()

    def handle_error(self, request, client_address):
        pass

    def close(self):
        self.shutdown()
        self.server_close()
