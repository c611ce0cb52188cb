"""The errors a user may be shown, importable without loading any model library."""

from __future__ import annotations

import secrets


class ModelLoadError(RuntimeError):
    """A model could not be loaded or run; the message names the model and the cause, without server details
    (the log has those, under :attr:`error_id`)."""

    def __init__(self, message: str, *, error_id: str | None = None) -> None:
        super().__init__(message)
        self.error_id = error_id


def new_error_id() -> str:
    """A short id that ties what a user is shown to the full entry in the server log."""
    return secrets.token_hex(4)
