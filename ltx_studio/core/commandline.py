"""What every command line shares (the studio CLI, `python app.py`, the bench): one-line usage
errors and quiet libraries. Its own module so the bench need not import the CLI that dispatches to it."""

from __future__ import annotations

import argparse
import os
import sys

EXIT_BAD_INPUT = 2


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr and exit code 2."""

    def error(self, message: str):  # noqa: D102 - argparse API
        sys.stderr.write(f"error: {message} (see {self.prog} --help)\n")
        sys.exit(EXIT_BAD_INPUT)


def quiet_libraries() -> None:
    """Keep diffusers/transformers chatter (progress bars, advisory warnings) off the terminal."""
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    from diffusers.utils import logging as diffusers_logging
    from transformers.utils import logging as transformers_logging

    diffusers_logging.set_verbosity_error()
    transformers_logging.set_verbosity_error()
    transformers_logging.disable_progress_bar()
