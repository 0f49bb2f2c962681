"""The admin: the token, the throttle, sessions and unlock links kept on the server, the one
write guard, and the unlock and lock pages.

    token      the admin token: its rule, where it lives, comparing and rotating it
    throttle   wrong secrets per client, in the database
    sessions   admin sessions and one-time unlock links, in the database
    auth       who is the admin for this request
    guard      the one write guard (bearer token, CSRF, another site), pages and API alike
    views      the blueprint: unlock, unlock links, lock
"""

from __future__ import annotations

from flask import Flask

from . import guard
from .auth import (
    AUTH_MODES,
    admin_credential,
    authenticate_bearer,
    bearer_token,
    is_admin,
    is_admin_for_templates,
    require_admin,
    safe_next,
)
from .guard import csrf, from_another_site
from .token import ensure_admin_token
from .views import bp

__all__ = [
    "admin_credential",
    "authenticate_bearer",
    "bearer_token",
    "bp",
    "csrf",
    "from_another_site",
    "init_app",
    "is_admin",
    "require_admin",
    "safe_next",
]


def init_app(app: Flask) -> None:
    """Check the auth mode and the token, guard every write, and let templates ask is_admin."""
    if app.config["WIZARD_AUTH"] not in AUTH_MODES:
        raise ValueError(f"WIZARD_AUTH must be one of {', '.join(AUTH_MODES)}")
    if app.config["WIZARD_ADMIN_TOKEN"]:
        ensure_admin_token(app.config)  # a configured token too short stops the start
    # A generated token is made when a page or `serve` first needs it, not here: a host that
    # mounts the wizard builds it in every `flask` command it runs.
    guard.init_app(app)
    app.context_processor(
        lambda: {"is_admin": is_admin_for_templates(), "auth_mode": app.config["WIZARD_AUTH"]}
    )
    app.register_blueprint(bp)
