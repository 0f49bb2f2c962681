"""Support for the tests: settings and fixtures, pages, servers, the store; and the stand-ins
(fake SDK, nginx, a TCP proxy, a browser client, a license signer, Chromium)."""

from .pages import AdminActions, Wizard, csrf_token_from, hidden
from .servers import Server, free_port
from .settings import (
    ADMIN_TOKEN,
    BEARER,
    FIXTURES,
    LICENSE_ID,
    POSTGRES_ADMIN_URL,
    fixture,
    need_postgres,
)
from .store import (
    assert_nothing_saved,
    recent_changes,
    save_uploaded_license,
    saved_identity,
    saved_summary,
)

__all__ = [
    "ADMIN_TOKEN",
    "BEARER",
    "FIXTURES",
    "LICENSE_ID",
    "POSTGRES_ADMIN_URL",
    "AdminActions",
    "Server",
    "Wizard",
    "assert_nothing_saved",
    "csrf_token_from",
    "fixture",
    "free_port",
    "hidden",
    "need_postgres",
    "recent_changes",
    "save_uploaded_license",
    "saved_identity",
    "saved_summary",
]
