"""Argument types shared by the subcommands (argparse ``type=`` functions)."""
from __future__ import annotations

import argparse


def positive_int(text: str) -> int:
    """A whole number ≥ 1 (argparse reports anything else as one ``error:`` line)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not a positive number (give 1 or more)")
    return value
