"""Seeds of one prompt as one batched denoise call (render/seeds.py): each take's latents equal its single
render's, seed by seed; a stop ends the call and leaves the takes already written whole."""

from __future__ import annotations

import pytest
import torch

from ltx_studio.core.errors import Cancelled
from ltx_studio.core.events import CancelToken, Progress, TakeDone
from ltx_studio.jobs.execute import run_batch
from ltx_studio.library import media
from ltx_studio.render import seeds
from ltx_studio.render.request import RenderRequest
from ltx_studio.render.story import TakeSpec, load_latents

ATOL = 1e-5  # fp32 on the CPU: a batched matmul may sum in another order (measured: <= 1.2e-6)


@pytest.mark.parametrize("variant", ["fast", "distilled"])  # one stage; half size, upsample, refine
def test_batched_takes_equal_their_single_renders_seed_by_seed(studio, variant):
    plans = [
        studio.renderer.plan(RenderRequest(prompt="a kite", frames=17, width=192, height=128, seed=s, variant=variant))
        for s in (4, 5, 6)
    ]
    assert seeds.groups(studio.renderer, plans) == [[0, 1, 2]]
    batched = seeds.render_seeds(studio.renderer, plans, [TakeSpec() for _ in plans], preview=False)
    for plan, take in zip(plans, batched, strict=True):
        single = load_latents(studio.renderer.run(plan, TakeSpec(), preview=False))
        mine = load_latents(take)
        said = take.settings["seeds_call"]
        assert take.seed == plan.seed and (said["seeds"], said["index"]) == ([4, 5, 6], plans.index(plan))
        call = said["call_seconds"]  # the call's shared stages; the take carries a third of each
        assert {"load", "text", "denoise"} <= set(call) and all(
            abs(take.timings[stage] - call[stage] / 3) <= 1e-4 for stage in call
        )
        assert take.timings["total"] == pytest.approx(sum(v for k, v in take.timings.items() if k != "total"), abs=1e-3)
        assert torch.allclose(mine.video, single.video, atol=ATOL) and torch.allclose(
            mine.audio, single.audio, atol=ATOL
        )
        assert not torch.allclose(mine.video, load_latents(batched[0]).video, atol=ATOL) or take is batched[0]


def test_rows_that_differ_by_more_than_the_seed_get_calls_of_their_own(studio):
    def plan(**changes):
        return studio.renderer.plan(RenderRequest(**{"prompt": "a kite", "frames": 9, "width": 96, "height": 64,
                                                     "seed": 1, **changes}))  # fmt: skip

    plans = [plan(), plan(seed=2), plan(prompt="a boat"), plan(seed=3, prompt="a boat"), plan(seed=4, frames=17)]
    assert seeds.groups(studio.renderer, plans) == [[0, 1], [2, 3], [4]]


@pytest.mark.parametrize("when", ["between calls", "mid call"])
def test_a_stop_ends_the_call_and_the_takes_written_stay_whole(studio, monkeypatch, when):
    monkeypatch.setattr(seeds, "MAX_PER_CALL", 2)  # four seeds: two calls of two
    requests = [RenderRequest(prompt="a lighthouse", frames=9, width=96, height=64, seed=s) for s in (7, 8, 9, 10)]
    token, landed = CancelToken(), []

    def emit(event):
        if isinstance(event, TakeDone):
            landed.append(event.take)
            if when == "between calls" and len(landed) == 2:
                token.cancel()
        if when == "mid call" and len(landed) == 2 and isinstance(event, Progress) and event.stage == "denoise":
            token.cancel()  # the second call is denoising

    with pytest.raises(Cancelled):
        run_batch(studio.renderer, requests, emit, token)
    assert [t.seed for t in landed] == [7, 8]
    assert sorted(t.seed for t in studio.takes() if t.prompt == "a lighthouse") == [7, 8]  # nothing of the second
    for take in landed:  # whole: every frame, the latents
        assert media.probe_mp4(take.path("video"))["frames"] == 9 and load_latents(take).video.shape[0] == 1


def test_a_batched_call_previews_every_seed_side_by_side(studio):
    from ltx_studio.core.events import Preview

    plans = [studio.renderer.plan(RenderRequest(prompt="a kite", frames=9, width=192, height=128, seed=s))
             for s in (1, 2, 3)]  # fmt: skip
    seen = []
    seeds.render_seeds(studio.renderer, plans, [TakeSpec() for _ in plans], on_event=seen.append)
    previews = [event for event in seen if isinstance(event, Preview)]
    single = []
    studio.renderer.run(plans[0], TakeSpec(), on_event=single.append)
    one = next(event for event in single if isinstance(event, Preview)).image
    assert previews and all(p.image.shape == (one.shape[0], 3 * one.shape[1], 3) for p in previews)
    assert (previews[0].image[:, : one.shape[1]] != previews[0].image[:, one.shape[1] : 2 * one.shape[1]]).any()


def test_takes_of_a_batched_call_belong_to_the_jobs_owner(studio):
    """Each item is written on a writer thread: it still gets the owner of the job that ran the call (a
    take without one offers nobody Approve or Delete in the page)."""
    from ltx_studio.library.takes import taken_by

    plans = [
        studio.renderer.plan(RenderRequest(prompt="a pier", frames=9, width=96, height=64, seed=s)) for s in (1, 2)
    ]
    with taken_by("browser:someone"):
        batched = seeds.render_seeds(studio.renderer, plans, [TakeSpec() for _ in plans], preview=False)
    assert [studio.take(t.id).owner for t in batched] == ["browser:someone"] * 2


def test_a_calls_items_decode_together_as_each_alone(studio, monkeypatch):
    """One VAE call and one vocoder call for each chunk of a call's items (two: seeds.DECODE_CHUNK): the same
    pictures and sound as each item's own decode (within rounding), and the call really decodes them so."""
    from ltx_studio.models.families.base import Latents

    plans = [studio.renderer.plan(RenderRequest(prompt="a kite", frames=9, width=192, height=128, seed=s))
             for s in (1, 2, 3, 4)]  # fmt: skip
    family, calls = studio.manager.family, []
    decode_batch = family.decode_batch

    def spy(pipe, latents, *args, **kwargs):
        calls.append(latents.video.shape[0])
        return decode_batch(pipe, latents, *args, **kwargs)

    monkeypatch.setattr(family, "decode_batch", spy)
    batched = seeds.render_seeds(studio.renderer, plans, [TakeSpec() for _ in plans], preview=False)
    assert calls == [2, 2]
    pipe, sampling = studio.manager.get(plans[0].variant.name), plans[0].variant.sampling
    together = [load_latents(t) for t in batched]
    both = Latents(torch.cat([x.video for x in together]), torch.cat([x.audio for x in together]))
    many = decode_batch(pipe, both, sampling, [torch.Generator().manual_seed(p.seed) for p in plans])
    for one, latents, plan in zip(many, together, plans, strict=True):
        alone = family.decode(pipe, latents, sampling, torch.Generator().manual_seed(plan.seed))
        assert one.frames.shape == alone.frames.shape
        assert abs(one.frames.astype(int) - alone.frames.astype(int)).max() <= 1  # uint8 rounding
        assert abs(one.audio - alone.audio).max() < 1e-4 and one.sample_rate == alone.sample_rate
    assert (many[0].frames != many[1].frames).any()


def test_a_decode_in_tiles_or_past_the_room_takes_fewer_clips_at_once():
    from ltx_studio.models.policy import GIB, MemoryPolicy

    plain = MemoryPolicy("cuda", torch.bfloat16, "none", False, GIB)
    assert plain.decodes_together(768, 512, 121, 4) == 4  # not planned: all
    assert replace_policy(plain, vae_tiling=True).decodes_together(768, 512, 121, 4) == 1
    assert plain.decodes_together(1920, 1080, 121, 4) == 1  # 1080p decodes in tiles
    assert plain.decodes_together(768, 512, 121, 1) == 1
    tight = replace_policy(plain, room_bytes=1)
    assert tight.decodes_together(768, 512, 121, 4) == 1
    roomy = replace_policy(plain, room_bytes=80 * GIB)
    assert 1 < roomy.decodes_together(768, 512, 121, 8) <= 8


def replace_policy(policy, **changes):
    from dataclasses import replace

    return replace(policy, **changes)


def test_a_chunk_out_of_memory_decodes_one_at_a_time_without_stepping_down(studio, monkeypatch):
    """Two at once ran out of memory (the first decode of the process, injected): the chunk's items decode
    one at a time, all four land, in the seeds' order, and the memory plan is not stepped down for it."""
    from ltx_studio.core import faults

    faults.reset()
    monkeypatch.setenv("LTX_STUDIO_FAULTS", "oom@decode:1")
    policy = studio.manager.policy
    plans = [studio.renderer.plan(RenderRequest(prompt="a dune", frames=9, width=96, height=64, seed=s))
             for s in (11, 12, 13, 14)]  # fmt: skip
    try:
        batched = seeds.render_seeds(studio.renderer, plans, [TakeSpec() for _ in plans], preview=False)
    finally:
        faults.reset()
    assert [t.seed for t in batched] == [11, 12, 13, 14] and studio.manager.policy == policy
    listed = [t.seed for t in studio.takes() if t.prompt == "a dune"]  # newest first, by creation time
    assert listed == [14, 13, 12, 11]
    assert all(a.created < b.created for a, b in zip(batched, batched[1:], strict=False))
