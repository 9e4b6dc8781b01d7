"""The studio in the browser. No torch, no diffusers: it only talks to Studio.

Handlers start a Studio job and relay its typed events to component updates (preview image per
step, progress naming the stage, the take when stored, a visible error otherwise). The API
endpoints `draft`, `upscale` and `compare` are plain typed functions (gr.api), named after the
request fields, so `gradio_client` can drive the studio.

`page` assembles the header and the tabs and serves them; each tab builds its components and wires
its own events (`studio_tab`, `compare_tab`, `takes_tab`); `relay` holds what they share; `api`
the typed endpoints.
"""

from .page import QUEUE_SIZE, build, launch
from .relay import visible
from .take_text import TABLE_HEADERS, table_row, take_markdown

__all__ = ["QUEUE_SIZE", "TABLE_HEADERS", "build", "launch", "table_row", "take_markdown", "visible"]
