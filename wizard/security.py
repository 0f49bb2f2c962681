"""What makes the wizard safe to expose and to embed: proxies, host names, cookies, CSRF,
and response headers."""

import io

from flask import request
from flask.sessions import SecureCookieSessionInterface
from flask_wtf.csrf import CSRFProtect
from werkzeug.exceptions import Forbidden
from werkzeug.middleware.proxy_fix import ProxyFix

csrf = CSRFProtect()

PROXY_FIX_KEYS = ("for", "proto", "host", "port", "prefix")
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


def from_another_site():
    """True when the browser says another site sent this request (Sec-Fetch-Site): a form, a
    fetch, or a link followed from a page elsewhere."""
    return request.headers.get("Sec-Fetch-Site") == "cross-site"


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


def frames_from_other_sites(frame_ancestors):
    """True when WIZARD_FRAME_ANCESTORS lets another site show the pages in a frame."""
    return any(source not in ("'self'", "'none'") for source in frame_ancestors.split())


class PrefixAwareSessionInterface(SecureCookieSessionInterface):
    """The session cookie lives under the prefix the wizard is served at, and is Secure
    whenever the request came in over HTTPS (directly or through a trusted proxy).

    When another site may frame the pages, the cookie is SameSite=None over HTTPS (a browser
    sends a Lax cookie to no cross-site frame) and Partitioned, so that browsers that block
    third-party cookies still keep it for frames on that one console. The CSRF token and the
    Sec-Fetch-Site check then do what SameSite did.

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

    def save_session(self, app, session, response):
        if not session and not session.modified:
            # Nothing to set or delete: skip working out the cookie's attributes.
            if session.accessed:
                response.vary.add("Cookie")
            return
        super().save_session(app, session, response)

    def get_cookie_path(self, app):
        return (request.script_root or "") + "/"

    def get_cookie_secure(self, app):
        return request.is_secure or app.config["SESSION_COOKIE_SECURE"]

    def _cross_site(self, app):
        return app.config["WIZARD_CROSS_SITE_FRAMES"] and request.is_secure

    def get_cookie_samesite(self, app):
        return "None" if self._cross_site(app) else "Lax"

    def get_cookie_partitioned(self, app):
        return self._cross_site(app)


class BodyLimit:
    """A body over MAX_CONTENT_LENGTH is refused however it is sent.

    With a Content-Length, werkzeug refuses it before reading. A chunked body has none, and
    werkzeug stops reading at the limit and hands over what it read, so a license followed
    by megabytes would be cut and then used. This reads a chunked body up to one byte past the
    limit: over it, the request goes on as one whose Content-Length says too much (and gets the
    usual 413 page or JSON); under it, with the body in memory and its length set.
    """

    def __init__(self, app, limit):
        self.app = app
        self.limit = limit

    def __call__(self, environ, start_response):
        # (A server that can read chunked bodies sets wsgi.input_terminated; one that cannot
        # refuses them itself.)
        if "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower():
            stream, body = environ["wsgi.input"], bytearray()
            while len(body) <= self.limit:
                piece = stream.read(min(64 * 1024, self.limit + 1 - len(body)))
                if not piece:
                    break
                body += piece
            environ["wsgi.input"] = io.BytesIO(b"" if len(body) > self.limit else bytes(body))
            environ["CONTENT_LENGTH"] = str(len(body))
            environ.pop("HTTP_TRANSFER_ENCODING", None)  # the length is now what counts
        return self.app(environ, start_response)


def _signed_csrf_tokens():
    """csrf_token() for templates, remembered per session: the signed form of a session's CSRF
    token is good for as long as the session (WTF_CSRF_TIME_LIMIT is off), and signing it anew
    on every page costs as much as a database read."""
    from flask import session
    from flask_wtf.csrf import generate_csrf

    signed = {}

    def csrf_token():
        raw = session.get("csrf_token")
        token = signed.get(raw) if raw else None
        if token is None:
            token = generate_csrf()
            if len(signed) > 1024:
                signed.clear()
            signed[session["csrf_token"]] = token
        return token

    return csrf_token


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
    app.wsgi_app = BodyLimit(app.wsgi_app, app.config["MAX_CONTENT_LENGTH"])
    hops = parse_proxy_fix(app.config["WIZARD_PROXY_FIX"])
    if hops:
        app.wsgi_app = ProxyFix(app.wsgi_app, **hops)
    hosts = app.config["WIZARD_TRUSTED_HOSTS"]
    if hosts:
        app.config["TRUSTED_HOSTS"] = [h.strip() for h in hosts.split(",") if h.strip()]
    app.config["WIZARD_CROSS_SITE_FRAMES"] = frames_from_other_sites(
        app.config["WIZARD_FRAME_ANCESTORS"]
    )
    app.session_interface = PrefixAwareSessionInterface()
    app.config["WTF_CSRF_CHECK_DEFAULT"] = False
    csrf.init_app(app)
    csrf_token = app.jinja_env.globals["csrf_token"] = _signed_csrf_tokens()
    app.context_processor(lambda: {"csrf_token": csrf_token})  # after Flask-WTF's own
    policy = content_security_policy(app.config["WIZARD_FRAME_ANCESTORS"])

    @app.before_request
    def check_host_and_forms():
        from .auth import authenticate_bearer, bearer_token

        if app.config.get("TRUSTED_HOSTS"):
            request.host  # noqa: B018 - reading it checks it against TRUSTED_HOSTS
        if (
            request.method in SAFE_METHODS
            or request.routing_exception is not None  # a 404 or 405 to report as such
            or request.blueprint == "api"  # the API guards itself
        ):
            return
        # A cross-site form cannot set an Authorization header: a valid bearer token is proof
        # enough (a wrong one is a 401, counted against the client like any wrong token).
        if bearer_token() is not None:
            authenticate_bearer()
            return
        if from_another_site():
            raise Forbidden("This form was sent from another site, so it was refused.")
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
            headers.setdefault("Referrer-Policy", "same-origin")
            headers["Cross-Origin-Opener-Policy"] = "same-origin"
        return response
