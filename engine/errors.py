"""Errors the user can fix. The CLI turns each into one line on stderr and an exit code."""
from __future__ import annotations


class BrandscanError(Exception):
    """Base of everything a user can fix (bad input, bad catalogue, bad option)."""

    exit_code: int = 2


class CatalogError(BrandscanError):
    """The brand catalogue is invalid; the message names file:line:column."""


class ConfigError(BrandscanError):
    """A config file or option is invalid."""


class DocumentError(BrandscanError):
    """One input document cannot be read; it becomes an error record, the batch goes on."""

    exit_code = 3


class ModelError(BrandscanError):
    """A model directory is missing, incomplete or not loadable."""


class InputError(BrandscanError):
    """The paths given name nothing to analyze: empty folders, or a --glob that matches nothing."""
