"""The session cookie: under the URL prefix, Secure over HTTPS, and cross-site (SameSite=None,
Partitioned) when another site may frame the pages."""

from __future__ import annotations

from flask import Flask, request
from flask.sessions import SecureCookieSessionInterface


def frames_from_other_sites(frame_ancestors: str) -> bool:
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
        ensure_secret_key(app)
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


def ensure_secret_key(app: Flask) -> None:
    """The key that signs sessions and CSRF tokens: WIZARD_SECRET_KEY, or the one generated
    into the instance folder, read (or made) the first time a request needs it."""
    if not app.secret_key:
        from ..config import SECRET_KEY_FILE, read_or_create_secret

        app.secret_key = read_or_create_secret(app.config["WIZARD_INSTANCE_PATH"], SECRET_KEY_FILE)


def init_app(app: Flask) -> None:
    """The wizard's session cookie."""
    app.config["WIZARD_CROSS_SITE_FRAMES"] = frames_from_other_sites(
        app.config["WIZARD_FRAME_ANCESTORS"]
    )
    app.session_interface = PrefixAwareSessionInterface()
    app.before_request(lambda: ensure_secret_key(app))
