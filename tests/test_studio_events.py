"""The typed events Studio jobs yield: progress, preview, take, failure, cancel, supersede."""

from __future__ import annotations

import threading

import pytest
from conftest import small

from ltx_studio.core import faults
from ltx_studio.core.errors import BadInput
from ltx_studio.core.events import Failed, Preview, Progress, TakeDone
from ltx_studio.jobs.ops import Compare, Draft, Extend, Upscale


def kinds(events):
    return [type(e).__name__ for e in events]


def test_a_draft_job_yields_stage_progress_a_preview_per_step_then_the_take(studio):
    events = list(studio.submit(Draft(small())).events())

    assert isinstance(events[-1], TakeDone) and events[-1].take.status == "ok"
    stages = []
    for e in events:  # the render's stages; a "queue" line first depends on whether the runner claimed it yet
        if isinstance(e, Progress) and e.stage not in stages and e.stage != "queue":
            stages.append(e.stage)
    assert stages == ["load", "text", "denoise", "decode", "write"]
    previews = [e for e in events if isinstance(e, Preview)]
    assert [p.step for p in previews] == list(range(1, 9)) and all(p.total == 8 for p in previews)
    assert studio.takes()[0].id == events[-1].take.id


def test_bad_input_is_refused_before_anything_is_queued_and_the_studio_keeps_working(studio):
    with pytest.raises(BadInput, match="^prompt is empty: describe the video"):
        studio.submit(Draft(small(prompt="")))
    assert studio.jobs.list() == []
    assert isinstance(list(studio.submit(Draft(small())).events())[-1], TakeDone)


def test_a_failure_while_running_ends_the_job_with_its_one_line_and_the_queue_records_it(studio, monkeypatch):
    monkeypatch.setenv("LTX_STUDIO_FAULTS", "enospc@write:1")
    faults.reset()
    job = studio.submit(Draft(small()))
    events = list(job.events())
    assert isinstance(events[-1], Failed) and "is full: free some space" in events[-1].message
    record = studio.jobs.get(job.id)
    assert record.state == "failed" and "is full" in record.error and record.take_ids == []
    assert isinstance(list(studio.submit(Draft(small())).events())[-1], TakeDone)


def test_cancel_ends_a_job_with_a_cancelled_event_and_stores_nothing(studio):
    job = studio.submit(Draft(small()))
    events = []
    for event in job.events():
        events.append(event)
        if isinstance(event, Preview) and event.step == 2:
            job.cancel()
    assert events[-1] == Failed("Stopped", cancelled=True)
    assert not any(isinstance(e, TakeDone) for e in events)
    assert studio.takes() == []


def test_a_compare_job_yields_a_take_per_variant_as_each_finishes(studio):
    events = list(studio.submit(Compare(small(seed=-1), ["fast", "distilled", "pro"])).events())
    takes = [e.take for e in events if isinstance(e, TakeDone)]
    assert [t.variant for t in takes] == ["fast", "distilled", "pro"]
    assert len({t.seed for t in takes}) == 1
    first_take = kinds(events).index("TakeDone")
    later = events[first_take:]
    assert any(isinstance(e, Progress) and e.stage == "denoise" for e in later)  # the next variant streams on
    assert not any(isinstance(e, Preview) for e in events)  # nobody shows compare previews: none computed


def test_an_upscale_job_yields_upsample_progress_then_the_final(studio):
    draft = studio.render(small())
    events = list(studio.submit(Upscale(draft.id)).events())
    assert any(isinstance(e, Progress) and e.stage == "upsample" for e in events)
    assert events[-1].take.parent == draft.id and events[-1].take.width == 2 * draft.width


def test_a_job_waiting_for_the_busy_device_says_so(studio):
    with studio.renderer.device_lock:
        job = studio.submit(Draft(small()))
        events = job.events()
        first = next(events)
        if first.message.startswith("In the queue"):  # followed before the runner took it
            first = next(events)
    assert first == Progress("queue", 0.0, "Waiting for the GPU")
    assert isinstance(list(events)[-1], TakeDone)


def test_a_newer_live_draft_supersedes_a_waiting_one_so_nothing_piles_up(studio):
    session = "browser-1"
    with studio.renderer.device_lock:  # the device is busy, so both live drafts must wait
        older = studio.live_job(session, studio.live_request("a cat"))
        newer = studio.live_job(session, studio.live_request("a cat walks"))
        older_events = list(older.events())
    assert older_events[-1].cancelled
    newer_events = list(newer.events())
    assert isinstance(newer_events[-1], TakeDone)
    take = newer_events[-1].take
    assert (take.kind, take.prompt, take.variant) == ("live", "a cat walks", "fast")
    assert (take.width, take.height, take.frames) == (192, 128, 9)  # the demo set's live settings
    assert [t.prompt for t in studio.takes()] == ["a cat walks"]


def test_a_newer_live_draft_cancels_a_running_one_mid_render(studio):
    session = "browser-2"
    older = studio.live_job(session, studio.live_request("a dog"))
    events = older.events()
    while not isinstance(next(events), Preview):
        pass  # the older draft is denoising now
    newer = studio.live_job(session, studio.live_request("a dog runs"))
    assert list(events)[-1].cancelled
    assert isinstance(list(newer.events())[-1], TakeDone)
    assert [t.prompt for t in studio.takes()] == ["a dog runs"]


def test_live_drafts_of_different_sessions_do_not_cancel_each_other(studio):
    jobs = [studio.live_job(f"s{i}", studio.live_request(f"a cat {i}")) for i in range(2)]
    results = [list(job.events())[-1] for job in jobs]
    assert all(isinstance(r, TakeDone) for r in results)


def test_renders_from_many_threads_run_one_at_a_time_on_the_device(studio):
    running, peak = [0], [0]
    lock = threading.Lock()

    def watch(event):  # called from the rendering threads themselves
        with lock:
            if isinstance(event, Progress) and event.stage == "load" and event.fraction == 0:
                running[0] += 1
                peak[0] = max(peak[0], running[0])
            elif isinstance(event, TakeDone):
                running[0] -= 1

    threads = [
        threading.Thread(target=studio.render, args=(small(seed=i),), kwargs={"on_event": watch}) for i in range(3)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(studio.takes()) == 3 and peak[0] == 1


def stage_runs(events) -> list[tuple[str, list[float]]]:
    """The Progress events as runs of one stage each: (stage, its fractions in order)."""
    runs: list[tuple[str, list[float]]] = []
    for e in events:
        if not isinstance(e, Progress) or e.stage in ("queue", "running"):
            continue
        if not runs or runs[-1][0] != e.stage:
            runs.append((e.stage, []))
        runs[-1][1].append(e.fraction)
    return runs


def test_edits_say_what_they_read_and_prepare_before_they_denoise(studio, monkeypatch):
    source = studio.render(small(frames=17, seed=4))  # with sound: an extend and a retake hold some of it
    edits = {
        "extend": (lambda on_event: studio.extend(source.id, 0.4, on_event=on_event)),
        "retake": (lambda on_event: studio.retake(source.id, 0.2, 0.5, on_event=on_event)),
        "add sound": (lambda on_event: studio.soundtrack(source.id, on_event=on_event)),
    }
    read = {"extend": [0.0, 0.5, 1.0], "retake": [0.0, 0.5, 1.0], "add sound": [0.0, 1.0]}  # frames, then sound
    prepared = {
        "extend": ["Reading the source video", "Encoding the held sound"],  # its overlap's frames, then sound
        "retake": ["Encoding the held frames and sound"],
        "add sound": ["Encoding the held frames"],
    }
    for name, edit in edits.items():
        events = []
        edit(events.append)
        runs = stage_runs(events)
        # Reading the take, then readying what it follows and holds, each once and in order before denoising
        assert [stage for stage, _ in runs] == ["read", "load", "text", "prepare", "denoise", "decode", "write"]
        for stage, fractions in runs:
            assert fractions == sorted(fractions) and fractions[-1] == 1.0, stage  # never backwards, then done
        assert dict(runs)["read"] == read[name], name
        messages = [e.message for e in events if isinstance(e, Progress) and e.stage == "prepare" and e.message]
        assert messages == prepared[name], name
    # A job's row, what the page's queue shows, says each stage as it starts (not the one before it).
    rows = []
    write = studio.jobs.queue.progress
    monkeypatch.setattr(
        studio.jobs.queue, "progress", lambda job_id, f, stage: (rows.append(stage), write(job_id, f, stage))
    )
    studio.wait(studio.submit(Extend(source.id, 0.4)).id, timeout=300)
    started = [row.split(" ")[0] for row in rows if " 0% " in f"{row} "]
    assert started[:6] == ["read", "load", "text", "prepare", "denoise", "decode"]
