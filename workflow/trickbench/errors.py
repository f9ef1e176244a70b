"""The one error type a user should ever see for bad input: one line, naming key, value and what is allowed."""

from __future__ import annotations


class ConfigError(ValueError):
    """Bad user input (config, spec, data file). The message is one line meant for the user."""

    def __init__(self, key: str, value: object, allowed: str):
        self.key, self.value, self.allowed = key, value, allowed
        super().__init__(f"config error at '{key}': got {value!r}; allowed: {allowed}")


class DataError(ValueError):
    """A data file that is missing, corrupt or not what its checksum says. One line for the user."""
