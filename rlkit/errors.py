"""The one error class for user mistakes.

A user mistake (a malformed spec, a wrong shape, an unknown id, missing data, a corrupt checkpoint)
raises :class:`RlkitError` with a message that names the file or field and what to do about it.
The CLI prints ``error: <message>`` on one line and exits with code 2, without a traceback.
"""

from __future__ import annotations


class RlkitError(ValueError):
    """A user mistake, with a one-line message that says what and where.

    It subclasses :class:`ValueError`, so ``except ValueError`` keeps working for callers that do
    not know about rlkit.
    """

    #: the longest message kept whole; a longer one (a value of thousands of characters echoed in
    #: it) keeps its start and end with the middle cut out
    MAX_LENGTH = 1500

    def __init__(self, message: str, *, where: str | None = None) -> None:
        self.where = where
        text = " ".join(str(message).split())  # one line, always
        text = f"{where}: {text}" if where else text
        if len(text) > self.MAX_LENGTH:
            cut = len(text) - self.MAX_LENGTH
            text = f"{text[:1000]} ...({cut} characters cut)... {text[-(self.MAX_LENGTH - 1000):]}"
        super().__init__(text)
