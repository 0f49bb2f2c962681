"""gunicorn, run from `setup-wizard serve` with the wizard's settings."""

import errno
import re
import socket

from gunicorn.app.base import BaseApplication
from gunicorn.glogging import Logger

# Threads let a worker keep serving while one request waits on a slow client or the SDK.
THREADS_PER_WORKER = 4

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
            "worker_class": "gthread",
            "threads": THREADS_PER_WORKER,
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

        app = create_app()
        LicensePolicy.for_app(app)  # load the trusted keys now, not on the first upload
        return app
