"""Typed events a render emits while it works, and the token that cancels it."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


@dataclass
class Progress:
    """A stage started, advanced or finished: load, text, denoise, decode, write, upsample."""

    stage: str
    fraction: float
    message: str = ""


@dataclass
class Preview:
    """The denoised estimate after one step, as an RGB image."""

    step: int
    total: int
    image: np.ndarray


@dataclass
class TakeDone:
    """A take was stored."""

    take: object  # takes.Take (kept loose so this module stays import-light)


@dataclass
class Failed:
    """A job ended without a take: a message for the user, or a cancel (Stop, or superseded)."""

    message: str
    cancelled: bool = False


Event = Progress | Preview | TakeDone | Failed
EventSink = Callable[[Event], None]


class CancelToken:
    """Set from any thread; a render checks it between steps and stops without storing anything."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()
