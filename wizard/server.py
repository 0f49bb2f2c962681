"""gunicorn, run from `setup-wizard serve` with the wizard's settings."""

import errno
import re
import socket
from typing import Any

from gunicorn.app.base import BaseApplication
from gunicorn.glogging import Logger

# gevent: a connection costs a greenlet, not a thread, while its request arrives, so slow
# clients (a request line and never the rest) cannot take every thread of every worker.
WORKER_CLASS = "gevent"
CONNECTIONS_PER_WORKER = 1000

ACCESS_LOG_FORMAT = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms worker=%(p)s'

# A one-time unlock link carries its secret in the path: the access log shows it as "…".
_LINK_SECRET = re.compile(r"(/unlock/link/)[^/?\s\"]+")


class AccessLog(Logger):
    """gunicorn's logger, with unlock-link secrets taken out of the request line."""

    def atoms(self, resp, req, environ, request_time):
        atoms = super().atoms(resp, req, environ, request_time)
        if "/unlock/link/" in atoms["r"]:
            atoms["r"] = _LINK_SECRET.sub(r"\1…", atoms["r"])
            atoms["U"] = _LINK_SECRET.sub(r"\1…", atoms["U"] or "")
        return atoms


class PortInUse(OSError):
    """Another process already listens on the address `serve` was asked to use."""


def refuse_port_in_use(host, port):
    """Raise PortInUse when the address is taken, before gunicorn tries (and logs tracebacks)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                raise PortInUse(error.errno, f"{host}:{port} is already in use") from None
            raise


def _cooperative_psycopg() -> None:
    """Let psycopg wait for PostgreSQL in ways gevent can switch away from.

    psycopg makes its choices when first imported: its C wait function unless gevent has
    patched `select` by then, and the selector class it connects with. `serve` imports it in
    the master, to migrate, before gunicorn forks the workers and gevent patches them. Each
    worker would then block in C or in an unpatched epoll on every query and every connect,
    all its greenlets with it: /healthz would wait on a silent database, and a save waiting
    for a row lock that another worker's blocked greenlet holds would wait out the lock
    timeout. Once patched, take what psycopg itself picks in a patched process: poll(), and
    the selectors module's (gevent's) default selector.
    """
    import selectors
    import sys

    waiting: Any = sys.modules.get("psycopg.waiting")
    monkey: Any = sys.modules.get("gevent.monkey")
    if waiting is None or monkey is None or not monkey.is_module_patched("select"):
        return
    # The names differ across psycopg releases: each is replaced only where that one has it.
    if waiting.wait is getattr(waiting, "wait_c", None) and hasattr(waiting, "wait_poll"):
        waiting.wait = waiting.wait_poll
        if hasattr(waiting, "_ready") and hasattr(waiting, "_ready_poll"):
            waiting._ready = waiting._ready_poll
    if hasattr(waiting, "DefaultSelector"):
        waiting.DefaultSelector = selectors.DefaultSelector


def _start_reporting(worker):
    from . import reporting

    worker.wizard_reporter = reporting.start(worker.wsgi)


def _stop_reporting(server, worker):
    reporter = getattr(worker, "wizard_reporter", None)
    if reporter is not None:
        reporter.stop(timeout=5)


class WizardServer(BaseApplication):
    """gunicorn with one wizard app per worker; the schema and secrets exist before it starts."""

    def __init__(self, bind, workers):
        self.settings = {
            "bind": bind,
            "workers": workers,
            "worker_class": WORKER_CLASS,
            "worker_connections": CONNECTIONS_PER_WORKER,
            "accesslog": "-",
            "access_log_format": ACCESS_LOG_FORMAT,
            "logger_class": AccessLog,
            "graceful_timeout": 10,
            # Forwarded headers are WIZARD_PROXY_FIX's to trust, and only when it is set:
            # gunicorn itself trusts none (by default it believes X-Forwarded-Proto and a
            # SCRIPT_NAME header from any local client).
            "forwarded_allow_ips": "",
            "secure_scheme_headers": {},
            # Every worker runs the reporter; the lease in the database lets one send at a time.
            "post_worker_init": _start_reporting,
            "worker_exit": _stop_reporting,
        }
        super().__init__()

    def load_config(self):
        for key, value in self.settings.items():
            self.cfg.set(key, value)
        # Newer gunicorn opens a control socket at one fixed path per user; two replicas on one
        # host would fight over it, and the wizard has no use for it.
        if "control_socket_disable" in self.cfg.settings:
            self.cfg.set("control_socket_disable", True)

    def load(self):
        from . import create_app
        from .licenses import LicensePolicy

        _cooperative_psycopg()  # in the worker, after gevent patched it

        app = create_app()
        LicensePolicy.for_app(app)  # load the trusted keys now, not on the first upload
        return app
