"""The headers every answer carries: no sniffing, no caching, and for pages the CSP (with
the frame ancestors), the referrer policy and the opener policy."""

from __future__ import annotations

from flask import Flask, Response, request

# What every answer carries, JSON and pages alike, and the answers made before Flask too.
EVERY_ANSWER = (
    ("X-Content-Type-Options", "nosniff"),
    ("X-Robots-Tag", "noindex, nofollow"),  # an admin tool: never in a search engine
)
NO_STORE = ("Cache-Control", "no-store")


def content_security_policy(frame_ancestors: str) -> str:
    return "; ".join(
        [
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self' data:",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            f"frame-ancestors {frame_ancestors}",
        ]
    )


def init_app(app: Flask) -> None:
    """Add the headers to every answer."""
    policy = content_security_policy(app.config["WIZARD_FRAME_ANCESTORS"])

    @app.after_request
    def add_headers(response: Response) -> Response:
        headers = response.headers
        for name, value in EVERY_ANSWER:
            headers[name] = value
        if request.endpoint not in ("static", "theme.stylesheet"):
            headers[NO_STORE[0]] = NO_STORE[1]
        if response.mimetype == "text/html":
            # What only a rendered page needs: JSON is never framed or run as a document.
            headers.setdefault("Content-Security-Policy", policy)
            # same-origin, not no-referrer: CSRF over HTTPS compares the Referer with the host.
            headers.setdefault("Referrer-Policy", "same-origin")
            headers["Cross-Origin-Opener-Policy"] = "same-origin"
        return response
