"""What an API or MCP request may bring in, checked at the door: its owner (a key, a signed-in user),
its LoRAs (by name only), and its files (uploads with the request, or `data:` URIs; never a path)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import gradio as gr
import gradio.utils as gradio_utils
from gradio.data_classes import FileData

from ...core import owners

if TYPE_CHECKING:
    from ...library.takes import Take
    from ...studio import Studio


def api_owner(studio: Studio, request: gr.Request | None) -> str:
    """Who calls the API (core/owners.py): their X-Studio-Key as a digest, else the signed-in user, else "api"."""
    headers = getattr(request, "headers", None) or {}
    key = (headers.get("x-studio-key") or "").strip()
    if key:
        return owners.api_key_owner(studio.owner_key, key)
    user = getattr(request, "username", None)
    return f"user:{user}" if user else "api"


def safe_loras(studio: Studio, items) -> list[tuple[str, float]]:
    """A request's LoRAs as an API or MCP client may name them: the server doors' rule (`loras.served`),
    a file listed in the studio's LoRA folder (size capped, by its size on disk) or a Hub id its model
    set names; never a path. Anything else is refused in one line that neither tells whether a path
    exists nor lists a folder. (The command line and Python on the studio's machine may name paths.)"""
    from ...models.loras import served
    from ...models.set_loras import offered

    return served(items, studio.lora_folder, offered(studio.model_set))


def uploaded(file: FileData | dict | str | None) -> str | None:
    """The path of a file uploaded with an API request; never a path that names any other file.

    gr.api hands the request's value through as given, so a client could name /etc/passwd: only
    files inside Gradio's upload folder are accepted, and the message does not say whether a path exists.
    """
    if file is None:
        return None
    path = file.get("path") if isinstance(file, dict) else getattr(file, "path", None) or str(file)
    if isinstance(path, str) and path.startswith("data:"):  # an MCP agent's file, inline
        return _from_data_uri(path)
    upload = Path(gradio_utils.get_upload_folder()).resolve()
    if not path or not Path(path).resolve().is_relative_to(upload):
        raise gr.Error("each image or video must be a file uploaded with the request (gradio_client.handle_file)")
    return str(Path(path).resolve())


MAX_INLINE_BYTES = 32 * 2**20  # as an upload (ui/page.py MAX_UPLOAD)
INLINE_SUFFIXES = {"image/png": ".png", "image/jpeg": ".jpg", "image/webp": ".webp", "video/mp4": ".mp4",
                   "video/webm": ".webm", "video/quicktime": ".mov", "audio/wav": ".wav", "audio/x-wav": ".wav",
                   "audio/mpeg": ".mp3", "audio/flac": ".flac", "audio/mp4": ".m4a"}  # fmt: skip


def _from_data_uri(uri: str) -> str:
    """A `data:<type>;base64,...` file (what MCP agents send) written into the upload folder, size checked
    before it is decoded; its contents are checked later like any upload's."""
    import base64
    import binascii
    import secrets

    head, _, payload = uri.partition(",")
    kind = head[5:].split(";")[0].strip().lower()
    if not head.endswith(";base64") or kind not in INLINE_SUFFIXES:
        raise gr.Error(f"a data: URI must be base64 of one of: {', '.join(sorted(set(INLINE_SUFFIXES)))}")
    if len(payload) > MAX_INLINE_BYTES * 4 // 3 + 4:
        raise gr.Error(f"an inline file may be at most {MAX_INLINE_BYTES // 2**20} MB")
    try:
        data = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise gr.Error("the data: URI is not valid base64") from None
    folder = Path(gradio_utils.get_upload_folder()) / f"inline-{secrets.token_hex(8)}"
    folder.mkdir(parents=True)
    path = folder / f"file{INLINE_SUFFIXES[kind]}"
    path.write_bytes(data)
    return str(path.resolve())


def record(take: Take) -> dict:
    """The take's record as the API returns it: its files by name, never a path on the server (the
    mp4 itself comes with the answer as a URL)."""
    data = take.to_json()
    data.pop("folder", None)
    for name in ("video", "latents", "poster", "image"):
        if data.get(name):
            data[name] = Path(data[name]).name
    return data
