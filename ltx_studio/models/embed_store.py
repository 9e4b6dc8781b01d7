"""Prompt embeddings on disk: a restart, a second worker or a Ray node on the same outputs folder reuses
what the text encoder made once (LTX-2's is Gemma 3 12B: seconds a prompt, more where it visits the card).

One safetensors file per entry, named by a hash of its key (model set, text encoder, prompt, negative prompt
or none, and FORMAT); the key itself is in the file's metadata and must match, so a file is never taken for
another prompt's. Written to a temporary name and renamed: a reader sees a whole file or none. A file that
cannot be read whole (truncated, corrupted, another format) is a miss: it is removed and written again,
never a crash or a wrong embedding. Bounded in bytes: oldest used out first (a hit touches its file).

A write is hashed and saved by a writer thread while the render goes on (LTX-2's ~0.4 GB entry took
~2 s on a 2-core CPU, all of it time a first draft waited); until it lands, `get` serves it from memory.
The thread is not a daemon: a process that ends normally leaves the entry whole. `flush` waits for it."""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import secrets
import threading
from pathlib import Path

import torch

from .families.base import PromptEmbeds

log = logging.getLogger("ltx_studio")
FORMAT = 1  # what the files hold; another value reads as a miss
DEFAULT_BYTES = 8 * 1024**3  # LTX-2's stacked Gemma states are ~0.4 GB a prompt (~0.8 GB with a negative one)
FIELDS = ("embeds", "mask", "negative_embeds", "negative_mask")


class EmbeddingStore:
    """Prompt embeddings (PromptEmbeds) kept as files under `folder`, at most `max_bytes` of them."""

    def __init__(self, folder: Path, max_bytes: int | None = None):
        self.folder = Path(folder)
        env = os.environ.get("LTX_STUDIO_EMBED_CACHE_MB")
        self.max_bytes = max_bytes if max_bytes is not None else (int(env) * 1024**2 if env else DEFAULT_BYTES)
        self._lock = threading.Lock()
        self._queue = threading.Condition()  # guards _pending and _writer
        self._pending: dict[str, tuple[tuple, dict]] = {}  # key text -> (key, the tensors being written)
        self._writer: threading.Thread | None = None
        self.reads = self.writes = self.misses = 0

    def path(self, key: tuple) -> Path:
        return self.folder / f"{hashlib.sha256(_text(key).encode()).hexdigest()[:32]}.safetensors"

    def get(self, key: tuple) -> PromptEmbeds | None:
        """The entry for `key`, or None (absent, or unreadable: then removed)."""
        from safetensors import safe_open

        with self._queue:
            _, pending = self._pending.get(_text(key), (None, None))
        if pending is not None:  # still being written: what was encoded, from memory
            self.reads += 1
            return PromptEmbeds(**{name: pending.get(name) for name in FIELDS})
        path = self.path(key)
        if not path.exists():
            self.misses += 1
            return None
        try:
            with safe_open(str(path), framework="pt") as entry:
                metadata = entry.metadata() or {}
                if metadata.get("key") != _text(key):
                    raise ValueError("another key")
                tensors = {name: entry.get_tensor(name) for name in entry.keys()}  # noqa: SIM118 (not a dict)
            if metadata.get("sha256") != _digest(tensors):
                raise ValueError("its contents changed")
            embeds = PromptEmbeds(**{name: tensors.get(name) for name in FIELDS})
            if embeds.embeds is None or embeds.mask is None:
                raise ValueError("a part is missing")
        except Exception as exc:  # noqa: BLE001 - any unreadable entry is a miss, rewritten by the caller
            log.warning("prompt embedding %s unreadable (%s): encoding it again", path.name, exc)
            path.unlink(missing_ok=True)
            self.misses += 1
            return None
        with contextlib.suppress(OSError):  # (trimmed meanwhile by another process: it was read whole)
            os.utime(path)  # used now: the last to go
        self.reads += 1
        return embeds

    def put(self, key: tuple, embeds: PromptEmbeds) -> None:
        """Keep `embeds` for `key` (whole or not at all), then trim the oldest past the bound. Returns once
        the tensors are copied to the host; the writer thread hashes and saves them."""
        tensors = {
            name: value.detach().to("cpu").contiguous()
            for name in FIELDS
            if (value := getattr(embeds, name)) is not None
        }
        if sum(t.numel() * t.element_size() for t in tensors.values()) > self.max_bytes:
            return  # larger than the whole cache may be
        with self._queue:
            self._pending[_text(key)] = (key, tensors)
            if self._writer is None:
                self._writer = threading.Thread(target=self._write_pending, name="embed-store", daemon=False)
                self._writer.start()

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every entry put so far is on disk (or given up); False if `timeout` s passed first."""
        with self._queue:
            return self._queue.wait_for(lambda: self._writer is None, timeout)

    def _write_pending(self) -> None:
        while True:
            with self._queue:
                if not self._pending:
                    self._writer = None
                    self._queue.notify_all()
                    return
                text, entry = next(iter(self._pending.items()))
            try:
                self._write(*entry)
            except Exception:  # noqa: BLE001 - the cache is lost, never the render nor the writer
                log.exception("prompt embedding not kept on disk")
            with self._queue:
                if self._pending.get(text) is entry:  # (not put again meanwhile: then written again)
                    del self._pending[text]

    def _write(self, key: tuple, tensors: dict) -> None:
        from safetensors.torch import save_file

        path = self.path(key)
        self.folder.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
        try:
            save_file(tensors, str(tmp), metadata={"key": _text(key), "sha256": _digest(tensors)})
            os.replace(tmp, path)
        except OSError as exc:  # a full disk costs the cache, never the render
            log.warning("prompt embedding not kept on disk (%s)", exc)
            tmp.unlink(missing_ok=True)
            return
        self.writes += 1
        self._trim()

    def _trim(self) -> None:
        with self._lock:
            entries = []
            for item in self.folder.glob("*.safetensors"):
                try:
                    stat = item.stat()
                except OSError:
                    continue  # removed meanwhile by another process
                entries.append((stat.st_mtime, stat.st_size, item))
            total = sum(size for _, size, _ in entries)
            for _, size, item in sorted(entries):
                if total <= self.max_bytes:
                    break
                item.unlink(missing_ok=True)
                total -= size


def _digest(tensors: dict) -> str:
    """A hash of the tensors' names, shapes, dtypes and bytes: a flipped bit is a miss, not a wrong embedding."""
    digest = hashlib.sha256()
    for name in sorted(tensors):
        tensor = tensors[name].contiguous()
        digest.update(f"{name}:{tuple(tensor.shape)}:{tensor.dtype};".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def _text(key: tuple) -> str:
    return json.dumps([FORMAT, *key], separators=(",", ":"))
