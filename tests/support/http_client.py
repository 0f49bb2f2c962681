"""A tiny HTTP client for tests against real servers: a new connection per request."""

import http.client
import json
from dataclasses import dataclass
from http.cookies import SimpleCookie
from urllib.parse import urlencode, urlsplit


@dataclass
class Response:
    status: int
    headers: http.client.HTTPMessage
    text: str

    def json(self):
        return json.loads(self.text)


class Browser:
    """Keeps cookies like a browser, but opens a fresh connection for every request."""

    def __init__(self, base_url):
        self.base_url = base_url
        self.cookies = {}

    def request(self, method, path, form=None, headers=None, body=None):
        parts = urlsplit(self.base_url)
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
        headers = dict(headers or {})
        if form is not None:
            body = urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        try:
            connection.request(method, path, body=body, headers=headers)
            raw = connection.getresponse()
            text = raw.read().decode("utf-8", "replace")
        finally:
            connection.close()
        for header in raw.headers.get_all("Set-Cookie") or []:
            for name, morsel in SimpleCookie(header).items():
                self.cookies[name] = morsel.value
        return Response(raw.status, raw.headers, text)

    def get(self, path, **kwargs):
        return self.request("GET", path, **kwargs)

    def post(self, path, form, **kwargs):
        return self.request("POST", path, form=form, **kwargs)
