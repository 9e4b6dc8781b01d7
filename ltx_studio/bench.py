"""Benchmarks (python -m ltx_studio bench). Placeholder until the speed issue lands."""

from __future__ import annotations


def main(argv: list[str]) -> int:
    raise SystemExit("bench: not built yet")
