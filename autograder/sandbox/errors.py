"""What can go wrong at the door, as the checks see it.

``StudentError``: student code raised -- the check fails with the student's traceback.
``SandboxFatal``: the child hung, died, ran out of its budget or broke the protocol -- the check
stops at once and the next one gets a fresh child. ``MalformedReply`` is the last kind: a reply
that is not what was asked (see ``replies.py``). ``Pending``: not an error -- the answer is queued.
"""


class StudentError(Exception):
    """Student code raised an exception; the message is what the student should see."""


class SandboxFatal(BaseException):
    """The child hung, crashed, exhausted its budget, or sent something we cannot accept.

    A BaseException on purpose: Hypothesis shrinks on ``Exception`` but lets this one through,
    so a hang costs one timeout, not one per shrinking step.
    """


class MalformedReply(SandboxFatal):
    """A reply that does not have exactly the parts asked for, or holds what no honest child sends."""

    def __init__(self, what: str, why: str):
        super().__init__(f"during {what} the child sent back a malformed reply ({why})")


class ReplyTooLarge(SandboxFatal):
    """A reply over ``max_reply_mb``: the same request would send it again, so it is not asked again."""


class Pending(BaseException):
    """The answer is not known yet: the request was queued for the next round trip.

    Raised only while the component is collecting (``StudentComponent.collect``); the caller runs
    the check again after ``flush``, when the answer is in the memo. A BaseException, so that no
    ``except Exception`` on the way (a check's own, Hypothesis's) takes it for a verdict.
    """
