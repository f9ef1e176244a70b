"""The one error type a user should ever see for bad input: one line, naming key, value and what is allowed."""

from __future__ import annotations


class ConfigError(ValueError):
    """Bad user input (config, spec, data file). The message is one line meant for the user."""

    def __init__(self, key: str, value: object, allowed: str):
        self.key, self.value, self.allowed = key, value, allowed
        super().__init__(f"config error at '{key}': got {value!r}; allowed: {allowed}")


class DataError(ValueError):
    """A data file that is missing, corrupt or not what its checksum says. One line for the user."""


def one_line(error: BaseException, limit: int = 200) -> str:
    """'TypeName: first line of the message' — for logging a caught error as one line (some
    errors have an empty message, some a long multi-line one)."""
    lines = str(error).strip().splitlines()
    return f"{type(error).__name__}: {lines[0][:limit]}" if lines else type(error).__name__
