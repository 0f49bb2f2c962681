"""gzip for the static files (the stylesheet, the scripts, the icon) where nothing in front
compresses them. Never for pages or JSON: a page holds the CSRF token, and compressing a secret
beside text a visitor can make the page reflect lets them guess it from the sizes (BREACH)."""

from __future__ import annotations

import gzip

from flask import Flask, Response, request

COMPRESSED_TYPES = frozenset(
    {"text/css", "text/javascript", "application/javascript", "image/svg+xml"}
)
MIN_BYTES = 512
_cache: dict[tuple[str, str], bytes] = {}  # (path, ETag) -> gzip: the files are few and small


def init_app(app: Flask) -> None:
    app.after_request(_gzip_static)


def _gzip_static(response: Response) -> Response:
    if request.endpoint not in ("static", "theme.stylesheet"):
        return response
    response.vary.add("Accept-Encoding")
    if (
        response.status_code != 200
        or response.mimetype not in COMPRESSED_TYPES
        or "gzip" not in request.accept_encodings
        or "Content-Encoding" in response.headers
    ):
        return response
    etag, weak = response.get_etag()
    response.direct_passthrough = False  # send_file streams the file; the body is read here
    key = (request.path, etag or "")
    body = _cache.get(key) if etag else None
    if body is None:
        data = response.get_data()
        if len(data) < MIN_BYTES:
            return response
        body = gzip.compress(data, compresslevel=9, mtime=0)
        if etag:
            _cache[key] = body
    response.set_data(body)
    response.headers["Content-Encoding"] = "gzip"
    if etag:
        response.set_etag(f"{etag}-gzip", bool(weak))  # another body, so another tag
        response.make_conditional(request.environ)  # a browser that has it gets 304
    return response
