"""Errors the studio reports to people: one clear line each, never a traceback."""

from __future__ import annotations


class StudioError(Exception):
    """A problem the user can fix (bad input, missing weights, unknown take). Exit code 2 on the CLI."""


class BadInput(StudioError):
    """A request, flag, file or take id that cannot be used as given."""


class WeightsMissing(StudioError):
    """A model's files are not on this machine."""


class TakeNotFound(StudioError):
    """No take with that id in the store."""


class Cancelled(Exception):
    """A render was stopped on request; nothing was stored."""
