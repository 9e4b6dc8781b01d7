"""Prompt lists for batches: one prompt per line, or a CSV with prompt, seed, seconds and
first_frame columns; and the render requests a batch makes of them (several seeds each)."""

from __future__ import annotations

import csv
import io
from dataclasses import replace
from pathlib import Path

from ..core.errors import BadInput
from .request import RenderRequest

SEEDS_RANGE = (1, 16)  # variations of one prompt from the page and the CLI
MAX_RENDERS = 64  # renders in one batch: rows x seeds, refused before any row is read further
MAX_LIST_CHARS = MAX_RENDERS * 2100  # a prompt list's text: 64 rows of a long prompt, a seed and seconds
CSV_COLUMNS = ("prompt", "seed", "seconds", "first_frame")


def read_prompts(text: str, base: Path | None = None, files: bool = True) -> tuple[list[dict], list[str]]:
    """A prompt list: one prompt per line, or a CSV whose header names prompt / seed / seconds /
    first_frame columns. Returns (rows, problems): each row {prompt, seed?, seconds?, image?, row};
    a row that cannot be used is named in `problems` and left out, so the rest can run. `files`
    False (the API): a first_frame names no file here; such a row is refused without looking."""
    if len(text) > MAX_LIST_CHARS:
        raise BadInput(f"the prompt list is too long: {len(text):,} characters (at most {MAX_LIST_CHARS:,})")
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        return [], ["the prompt list is empty"]
    if len(lines) > MAX_RENDERS + 1:  # a header and 64 rows
        raise BadInput(f"the prompt list has {len(lines)} lines: a batch holds at most {MAX_RENDERS} renders")
    header = [h.strip().lower().replace(" ", "_").replace("-", "_") for h in next(csv.reader([lines[0]]))]
    if "prompt" not in header:
        return [{"prompt": line.strip(), "row": i} for i, line in enumerate(lines, 1)], []
    rows, problems = [], []
    unknown = [h for h in header if h and h not in CSV_COLUMNS]
    if unknown:
        problems.append(f"unknown column {unknown[0]!r} (columns: {', '.join(CSV_COLUMNS)})")
    for number, values in enumerate(csv.DictReader(io.StringIO("\n".join(lines)), fieldnames=header), 1):
        if number == 1:
            continue  # the header
        row = number  # as a spreadsheet counts: the header is row 1
        try:
            rows.append(_csv_row(values, row, base, files))
        except BadInput as exc:
            problems.append(f"row {row}: {exc}")
    return rows, problems


def _csv_row(values: dict, row: int, base: Path | None, files: bool = True) -> dict:
    prompt = (values.get("prompt") or "").strip()
    out: dict = {"prompt": prompt, "row": row}
    seed = (values.get("seed") or "").strip()
    if seed:
        try:
            out["seed"] = int(seed)
        except ValueError:
            raise BadInput(f"seed must be a whole number, not {seed!r}") from None
    seconds = (values.get("seconds") or "").strip()
    if seconds:
        try:
            out["seconds"] = seconds if seconds == "auto" else float(seconds)
        except ValueError:
            raise BadInput(f"seconds must be a number, not {seconds!r}") from None
    image = (values.get("first_frame") or "").strip()
    if image and not files:
        raise BadInput("first_frame is not accepted here (send first frames as uploads, or use the command line)")
    if image:
        path = Path(image).expanduser()
        if not path.is_absolute() and base is not None:
            path = base / path
        if not path.is_file():
            raise BadInput(f"first frame not found: {image}")
        out["image"] = str(path)
    if not prompt and not image:
        raise BadInput("no prompt (and no first frame)")
    return out


def check_batch_size(rows: list[dict] | None, seeds: int) -> None:
    """BadInput unless `seeds` is in range and rows x seeds is at most MAX_RENDERS (checked before any row is planned)."""
    if isinstance(seeds, bool) or not isinstance(seeds, int) or not SEEDS_RANGE[0] <= seeds <= SEEDS_RANGE[1]:
        raise BadInput(f"seeds must be between {SEEDS_RANGE[0]} and {SEEDS_RANGE[1]}, not {seeds}")
    if len(rows or [{}]) * seeds > MAX_RENDERS:
        raise BadInput(
            f"a batch holds at most {MAX_RENDERS} renders; this one asks {len(rows or [{}])} rows x {seeds} seeds"
        )


def batch_requests(base: RenderRequest, rows: list[dict] | None = None, seeds: int = 1) -> list[RenderRequest]:
    """The renders of a batch: each row (or the base request alone) with `seeds` seeds. A row's own
    seed is its first; the others follow it (seed+1, ...), or are drawn when none is given."""
    import secrets

    check_batch_size(rows, seeds)
    requests = []
    for row in rows or [{}]:
        changes = {k: v for k, v in row.items() if k in ("prompt", "seed", "seconds", "image")}
        request = replace(base, **changes)
        first = request.seed if request.seed is not None and int(request.seed) >= 0 else None
        for n in range(seeds):
            seed = (first + n) % 2**32 if first is not None else secrets.randbelow(2**32)
            requests.append(replace(request, seed=seed))
    return requests
