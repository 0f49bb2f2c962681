"""What every page and answer gets: proxies and host names, the session cookie, the body
limit, security headers, liveness, error pages, and the templates' filters and links.

    proxy     WIZARD_PROXY_FIX and WIZARD_TRUSTED_HOSTS
    cookies   the session cookie under the prefix, cross-site when framed elsewhere
    limits    the body limit, chunked bodies too
    headers   CSP, frame ancestors, no caching
    health    /healthz (before Flask) and /readyz
    errors    error pages and JSON errors, never a stack trace
    filters   how pages show times, ids and values
    links     url_for for templates, remembered
    theme     the deployment's stylesheet and colour scheme
    compress  gzip for the static files, never for pages
"""

from __future__ import annotations

from flask import Flask

from . import compress, cookies, errors, filters, headers, health, links, proxy, theme
from .limits import BodyLimit

__all__ = ["init_app"]


def init_app(app: Flask) -> None:
    """Install what every request goes through, outermost first."""
    app.wsgi_app = BodyLimit(app.wsgi_app, app.config["MAX_CONTENT_LENGTH"])  # type: ignore[method-assign]
    proxy.init_app(app)
    cookies.init_app(app)
    headers.init_app(app)
    errors.init_app(app)
    filters.init_app(app)
    links.init_app(app)
    theme.init_app(app)
    compress.init_app(app)
    app.register_blueprint(health.bp)


def serve_liveness_first(app: Flask) -> None:
    """Answer /healthz before anything else, once the app is complete."""
    app.wsgi_app = health.Liveness(app.wsgi_app)  # type: ignore[method-assign]
