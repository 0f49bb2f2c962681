"""Proxies and host names: which forwarded headers to believe (WIZARD_PROXY_FIX), and which
host names to answer to (WIZARD_TRUSTED_HOSTS)."""

from __future__ import annotations

from flask import Flask, request
from werkzeug.middleware.proxy_fix import ProxyFix

PROXY_FIX_KEYS = ("for", "proto", "host", "port", "prefix")


def parse_proxy_fix(setting: str | None) -> dict[str, int] | None:
    """Parse WIZARD_PROXY_FIX, `for=1,proto=1,host=1,prefix=1` (or one number for all)."""
    if not setting:
        return None
    setting = setting.strip()
    if setting.isdigit():
        return {f"x_{key}": int(setting) for key in PROXY_FIX_KEYS}
    hops = {}
    for part in setting.split(","):
        key, _, value = part.strip().partition("=")
        if key not in PROXY_FIX_KEYS or not value.strip().isdigit():
            raise ValueError(
                f"WIZARD_PROXY_FIX: {part.strip()!r} is not one of "
                f"{', '.join(k + '=N' for k in PROXY_FIX_KEYS)}"
            )
        hops[f"x_{key}"] = int(value)
    return hops


def init_app(app: Flask) -> None:
    """Believe the forwarded headers of as many proxies as WIZARD_PROXY_FIX says, and answer
    only to the host names of WIZARD_TRUSTED_HOSTS."""
    hops = parse_proxy_fix(app.config["WIZARD_PROXY_FIX"])
    if hops:
        app.wsgi_app = ProxyFix(app.wsgi_app, **hops)  # type: ignore[method-assign]
    hosts = app.config["WIZARD_TRUSTED_HOSTS"]
    if hosts:
        app.config["TRUSTED_HOSTS"] = [h.strip() for h in hosts.split(",") if h.strip()]

        @app.before_request
        def check_host() -> None:
            request.host  # noqa: B018 - reading it checks it against TRUSTED_HOSTS
