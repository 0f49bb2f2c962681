"""gunicorn, run from `setup-wizard serve` with the wizard's settings."""

from gunicorn.app.base import BaseApplication

# Threads let a worker keep serving while one request waits on a slow client or the SDK.
THREADS_PER_WORKER = 4

ACCESS_LOG_FORMAT = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms worker=%(p)s'


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
            "graceful_timeout": 10,
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
        from .config import license_policy

        app = create_app()
        license_policy(app)  # load the trusted keys now, not on the first upload
        return app
