"""The wizard's steps: a blueprint, the draft kept between steps, and what a save changes.

views     the blueprint: source, upload or paste, choose, details, review, save
drafts    the admin's answers between steps, kept on the server for one browser
changes   the identity after a save, and what changes, in words
"""

from .changes import describe_changes, identity_after
from .drafts import Draft, StartAgain
from .views import bp

__all__ = ["Draft", "StartAgain", "bp", "describe_changes", "identity_after"]
