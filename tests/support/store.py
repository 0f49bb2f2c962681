"""What the database holds, read the way the wizard reads it."""


def recent_changes(app, limit=10):
    """The newest history entries, newest first."""
    from wizard.identity import load_status

    with app.app_context():
        return load_status(changes=limit)[2]


def saved_summary(app):
    """The stored license summary, or None."""
    from wizard.identity import load_status

    with app.app_context():
        return load_status(changes=0)[1]


def saved_identity(app):
    """The saved identity, or None."""
    from wizard.identity import load_identity

    with app.app_context():
        return load_identity()


def save_uploaded_license(app):
    """Save what an upload of the real v1beta1 license saves: acme-corp, instance-1, its
    license id and a summary, as the wizard does."""
    from tests.support.settings import LICENSE_ID
    from wizard.identity import Actor, save_identity

    with app.app_context():
        save_identity(
            "acme-corp",
            "instance-1",
            LICENSE_ID,
            summary={"app_slug": "my-app", "customer_name": "Acme Corp", "source": "upload"},
            actor=Actor("wizard"),
        )


def assert_nothing_saved(app):
    assert saved_identity(app) is None
    assert recent_changes(app) == []
