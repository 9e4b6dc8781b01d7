"""Prompt embeddings on disk (models/embed_store.py): reused by another process on the same outputs, a
damaged entry rebuilt, and the bound kept."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import torch

from ltx_studio.models.embed_store import EmbeddingStore
from ltx_studio.models.families.base import PromptEmbeds
from ltx_studio.models.manager import PipelineManager
from ltx_studio.render.renderer import EMBEDDINGS
from ltx_studio.render.request import RenderRequest
from ltx_studio.studio import Studio

SECOND = """
import json, sys, torch
from ltx_studio.models.manager import PipelineManager
from ltx_studio.models.variants import load_registry
from ltx_studio.studio import Studio
studio = Studio(model_set_name="demo", outputs=sys.argv[1], manager=PipelineManager(load_registry()["demo"]))
pipe = studio.manager.get("fast")
embeds, cached = studio.manager.prompt_embeds(pipe, "a ferry at dawn", "blurry", 3.0)
torch.save({"embeds": embeds.embeds.cpu(), "negative": embeds.negative_embeds.cpu()}, sys.argv[2])
print(json.dumps({"cached": cached, "sources": dict(studio.manager.prompt_sources)}))
"""


def _encode(studio, prompt="a ferry at dawn"):
    return studio.manager.prompt_embeds(studio.manager.get("fast"), prompt, "blurry", 3.0)


def test_a_second_process_reads_the_embeddings_the_first_one_wrote(tmp_path, demo):
    first = Studio(model_set_name="demo", outputs=tmp_path / "out", manager=PipelineManager(demo))
    embeds, cached = _encode(first)
    assert not cached and first.manager.prompt_sources == {"encoder": 1}
    assert first.manager.embed_store.flush(60)  # written beside the render, by a thread of the store's
    assert len(list((tmp_path / "out" / EMBEDDINGS).glob("*.safetensors"))) == 1
    run = subprocess.run(
        [sys.executable, "-c", SECOND, str(tmp_path / "out"), str(tmp_path / "seen.pt")],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]
    said = json.loads(run.stdout.strip().splitlines()[-1])
    assert said == {"cached": True, "sources": {"disk": 1}}  # the text encoder never ran there
    seen = torch.load(tmp_path / "seen.pt")
    assert torch.equal(seen["embeds"], embeds.embeds.cpu()) and torch.equal(
        seen["negative"], embeds.negative_embeds.cpu()
    )


def test_a_damaged_entry_is_a_miss_and_is_written_again(tmp_path, demo):
    studio = Studio(model_set_name="demo", outputs=tmp_path, manager=PipelineManager(demo))
    embeds, _ = _encode(studio)
    studio.manager.embed_store.flush(60)
    (entry,) = (tmp_path / EMBEDDINGS).glob("*.safetensors")
    whole = entry.read_bytes()
    flipped = bytearray(whole)
    flipped[-5] ^= 0x10  # one bit of the tensors' data: safetensors reads it; the digest does not match
    for damage in (whole[: len(whole) // 2], b"\x00" * 64, bytes(flipped)):
        entry.write_bytes(damage)
        again = Studio(model_set_name="demo", outputs=tmp_path, manager=PipelineManager(demo))
        rebuilt, cached = _encode(again)
        assert not cached and again.manager.prompt_sources == {"encoder": 1}  # a miss, not a crash
        assert torch.equal(rebuilt.embeds.cpu(), embeds.embeds.cpu())
        again.manager.embed_store.flush(60)
        third = Studio(model_set_name="demo", outputs=tmp_path, manager=PipelineManager(demo))
        read, cached = _encode(third)  # written again, whole: read from disk
        assert (
            cached
            and third.manager.prompt_sources == {"disk": 1}
            and torch.equal(read.embeds.cpu(), embeds.embeds.cpu())
        )
    take = again.render(RenderRequest(prompt="a ferry at dawn", negative_prompt="blurry", frames=9, width=96, height=64,
                                      guidance=3.0))  # fmt: skip
    assert take.settings["prompt_cached"]


def test_the_store_keeps_its_bound_and_never_serves_another_key(tmp_path):
    def entry(n):
        return PromptEmbeds(torch.full((1, 4, 256), float(n)), torch.ones(1, 4))

    store = EmbeddingStore(tmp_path)
    store.put(("set", "encoder", "sized", None), entry(9))
    store.flush(60)
    size = store.path(("set", "encoder", "sized", None)).stat().st_size
    store.path(("set", "encoder", "sized", None)).unlink()
    store.max_bytes = 3 * size + size // 2  # room for three entries
    for n in range(5):
        store.put(("set", "encoder", f"prompt {n}", None), entry(n))
        store.flush(60)  # one after another: their ages differ
    kept = sorted(float(store.get(("set", "encoder", f"prompt {n}", None)).embeds[0, 0, 0]) for n in (2, 3, 4))
    assert kept == [2.0, 3.0, 4.0] and store.get(("set", "encoder", "prompt 0", None)) is None  # oldest out
    path = store.path(("set", "encoder", "prompt 4", None))
    path.rename(store.path(("set", "encoder", "prompt 9", None)))  # a file under another key's name
    assert store.get(("set", "encoder", "prompt 9", None)) is None
    assert not Path(store.path(("set", "encoder", "prompt 9", None))).exists()


WRITER = """
import sys, torch
from pathlib import Path
from ltx_studio.models.embed_store import EmbeddingStore
from ltx_studio.models.families.base import PromptEmbeds
store = EmbeddingStore(Path(sys.argv[1]))
store.put(("set", "encoder", "a lighthouse", None), PromptEmbeds(torch.arange(4096.0).reshape(1, 16, 256), torch.ones(1, 16)))
assert store.get(("set", "encoder", "a lighthouse", None)).embeds[0, 1, 0] == 256.0  # served while it is written
"""  # and the process ends at once, without a flush


def test_an_entry_put_just_before_a_process_ends_lands_whole(tmp_path):
    """The write goes on beside the render; a process that ends normally still leaves the entry whole."""
    run = subprocess.run([sys.executable, "-c", WRITER, str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    read = EmbeddingStore(tmp_path).get(("set", "encoder", "a lighthouse", None))
    assert read is not None and torch.equal(read.embeds, torch.arange(4096.0).reshape(1, 16, 256))
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []
