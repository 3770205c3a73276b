"""Error types: every failure kgenhance reports to a user is one of these."""

from __future__ import annotations


class KGEnhanceError(Exception):
    """Base class of the errors kgenhance raises for bad input or state."""


class OntologyError(KGEnhanceError):
    """An ontology file could not be read or understood."""

    def __init__(self, message: str, path: str | None = None, line: int | None = None):
        self.path = path
        self.line = line
        where = ""
        if path is not None:
            where = f"{path}:{line}: " if line is not None else f"{path}: "
        super().__init__(f"{where}{message}")


class DataError(KGEnhanceError):
    """A data file (texts, labels) is missing, malformed or lacks a column."""


class ModelError(KGEnhanceError):
    """A model directory, backbone or embedding file is missing or does not fit."""


class ConfigError(KGEnhanceError):
    """An option has a value kgenhance cannot use."""
