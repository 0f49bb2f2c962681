"""What makes the wizard safe to expose and to embed: proxies, host names, cookies, CSRF,
and response headers."""

from flask import request
from flask.sessions import SecureCookieSessionInterface
from flask_wtf.csrf import CSRFProtect
from werkzeug.exceptions import Unauthorized
from werkzeug.middleware.proxy_fix import ProxyFix

from .admin_token import token_matches

csrf = CSRFProtect()

PROXY_FIX_KEYS = ("for", "proto", "host", "port", "prefix")
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


def parse_proxy_fix(setting):
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


class PrefixAwareSessionInterface(SecureCookieSessionInterface):
    """The session cookie lives under the prefix the wizard is served at, and is Secure
    whenever the request came in over HTTPS (directly or through a trusted proxy).

    The signing serializer is built once per app rather than per request, and not at all for a
    request without a session cookie (a console polling the status sends none).
    """

    def get_signing_serializer(self, app):
        serializer = app.extensions.get("session_serializer")
        if serializer is None:
            serializer = super().get_signing_serializer(app)
            app.extensions["session_serializer"] = serializer
        return serializer

    def open_session(self, app, request):
        if self.get_cookie_name(app) not in request.cookies:
            return self.session_class()
        return super().open_session(app, request)

    def get_cookie_path(self, app):
        return (request.script_root or "") + "/"

    def get_cookie_secure(self, app):
        return request.is_secure or app.config["SESSION_COOKIE_SECURE"]


def content_security_policy(frame_ancestors):
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


def init_app(app):
    """Install the proxy fix, trusted hosts, the session cookie, CSRF and the headers."""
    hops = parse_proxy_fix(app.config["WIZARD_PROXY_FIX"])
    if hops:
        app.wsgi_app = ProxyFix(app.wsgi_app, **hops)
    hosts = app.config["WIZARD_TRUSTED_HOSTS"]
    if hosts:
        app.config["TRUSTED_HOSTS"] = [h.strip() for h in hosts.split(",") if h.strip()]
    app.session_interface = PrefixAwareSessionInterface()
    app.config["WTF_CSRF_CHECK_DEFAULT"] = False
    csrf.init_app(app)
    policy = content_security_policy(app.config["WIZARD_FRAME_ANCESTORS"])

    @app.before_request
    def check_host_and_csrf():
        from .auth import bearer_token, is_admin

        if app.config.get("TRUSTED_HOSTS"):
            request.host  # noqa: B018 - reading it checks it against TRUSTED_HOSTS
        if request.method in SAFE_METHODS or request.routing_exception is not None:
            return  # nothing to protect, or a 404/405 to report as such
        if request.blueprint == "api" and not is_admin():
            raise Unauthorized("Send the admin token as `Authorization: Bearer <token>`.")
        # A cross-site form cannot set an Authorization header: a valid bearer token is proof
        # enough. Everything else (forms, session-authenticated API calls) needs the CSRF token.
        if not token_matches(bearer_token()):
            csrf.protect()

    @app.after_request
    def add_headers(response):
        headers = response.headers
        headers["X-Content-Type-Options"] = "nosniff"
        if request.endpoint != "static":
            headers["Cache-Control"] = "no-store"
        if response.mimetype == "text/html":
            # What only a rendered page needs: JSON is never framed or run as a document.
            headers.setdefault("Content-Security-Policy", policy)
            # same-origin, not no-referrer: CSRF over HTTPS compares the Referer with the host.
            headers["Referrer-Policy"] = "same-origin"
            headers["Cross-Origin-Opener-Policy"] = "same-origin"
        return response
