"""The studio as one house: a job has one cancel (its owner's), a hung job fails a wait instead of
stalling it, a soundtrack is read once and held whole by one rule, a queued retake decodes its source
once, and "made with another model set" reads the same from every edit."""

from __future__ import annotations

import threading

import pytest
from test_jobs import wait_for
from test_sound_edits import beat

from ltx_studio.core import sizing
from ltx_studio.core.errors import BadInput, StudioError
from ltx_studio.jobs.ops import Draft, Extend, Retake, Upscale
from ltx_studio.library import media, sound
from ltx_studio.render.request import RenderRequest
from ltx_studio.ui.relay import Sessions

SMALL = {"width": 96, "height": 64}


def counting(monkeypatch, module, name: str) -> list:
    """Count the calls of module.name (it still runs): a list that grows by one per call."""
    calls, real = [], getattr(module, name)

    def counted(*args, **kwargs):
        calls.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, counted)
    return calls


def test_a_page_draft_holds_all_of_a_3_13_s_soundtrack_and_reads_it_once(studio, tmp_path, monkeypatch):
    track = beat(tmp_path / "song.wav", seconds=3.13)
    decoded = counting(monkeypatch, sound, "_decode_soundtrack")
    shown = sound.read_soundtrack(track)  # the page's upload: its length sets the Duration slider
    duration = round(shown.seconds, 1)  # the slider shows (and sends) 3.1
    job = studio.submit(Draft(RenderRequest(prompt="a drummer", soundtrack=str(track), seconds=duration, **SMALL)))
    [take] = studio.wait(job.id, timeout=300)
    assert take.frames == sizing.frames_to_hold(3.13, 24) == 81 and take.frames / take.fps >= 3.13
    assert take.settings["soundtrack"]["cut"] is False and take.settings["soundtrack"]["seconds"] >= 3.13
    assert len(decoded) == 1  # upload, check and run: one decode, one hash
    # The rule is one for every door: seconds near the track's hold it all; others are as asked.
    assert sizing.frames_for_soundtrack(3.13, 24, 257, 3.1) == 81
    assert sizing.frames_for_soundtrack(3.13, 24, 257, 2.0) == sizing.frames_for_seconds(2.0, 24) == 49
    assert sizing.frames_for_soundtrack(0.72, 24, 257, 0.7) == 25  # 0.7 s alone would be 17 frames: cut


def test_a_queued_retake_decodes_its_source_once(studio, monkeypatch):
    source = studio.render(RenderRequest(prompt="a street", seed=3, frames=25, **SMALL))
    reads = counting(monkeypatch, media, "read_mp4")
    job = studio.submit(Retake(source.id, 0.3, 0.7, what="video"), owner="test")
    assert reads == []  # checked from the take's record
    [take] = studio.wait(job.id, timeout=300)
    assert take.parent == source.id and len(reads) == 1


def test_cancel_is_the_owners_and_a_hung_wait_fails(studio):
    draft = RenderRequest(prompt="a kite", frames=9, **SMALL)
    with studio.renderer.device_lock:  # the device is busy: nothing ends while this is held
        mine = studio.submit(Draft(draft), owner="browser:me")
        theirs = studio.submit(Draft(draft), owner="browser:them")
        scripted = studio.submit(Draft(draft), owner="api")
        with pytest.raises(StudioError, match="did not end within 0.5 s"):
            studio.wait(mine.id, timeout=0.5)
        for job in (theirs, scripted):  # another browser's, and a script's: neither is this browser's to stop
            with pytest.raises(BadInput, match="belongs to someone else"):
                studio.cancel(job.id, owner="browser:me")
        studio.cancel(mine.id, owner="browser:me")
        studio.cancel(scripted.id, owner="api")  # the script's own
        studio.cancel(theirs.id)  # the server itself (the CLI's jobs cancel) may stop any
        wait_for(lambda: all(studio.job(j.id).state == "cancelled" for j in (mine, theirs, scripted)), 30)
    assert studio.takes() == []


def test_a_page_session_stops_every_job_it_follows(studio):
    """What the page's Stop does: a queued job the page follows (an extend, a retake, a draft) is cancelled."""
    source = studio.render(RenderRequest(prompt="a road", seed=2, frames=17, **SMALL))
    sessions, outcome = Sessions(), {}

    def follow(job) -> None:
        try:
            sessions.follow_to_take(job, "page-1", lambda *args, **kwargs: None)
        except Exception as exc:  # gr.Error: what the page shows
            outcome[job.id] = str(exc)

    with studio.renderer.device_lock:
        jobs = [studio.submit(Extend(source.id, 0.4), owner="browser:b"), studio.submit(Draft(RenderRequest("x")))]
        threads = [threading.Thread(target=follow, args=(job,)) for job in jobs]
        for thread in threads:
            thread.start()
        wait_for(lambda: len(sessions.jobs.get("page-1", ())) == 2, 30, "the page following both")
        sessions.stop("page-1")
        for thread in threads:
            thread.join(30)
    assert {studio.job(job.id).state for job in jobs} == {"cancelled"}
    assert all("Stopped" in outcome[job.id] for job in jobs)


def test_a_stop_pressed_before_the_page_draws_the_queued_card_reaches_the_job(studio):
    """A handler follows its job before it first yields (the page draws the card): a Stop that comes in
    that gap (a busy server resumes the handler late) must still cancel it. Fails when a session learns
    of the job only at its first event."""
    sessions = Sessions()
    with studio.renderer.device_lock:
        job = studio.submit(Draft(RenderRequest("a gap", frames=9, **SMALL)))
        events = sessions.relay(job, "page-1", lambda *args, **kwargs: None, raise_failure=False)  # not iterated
        sessions.stop("page-1")
        wait_for(lambda: studio.job(job.id).state == "cancelled", 30, "the job cancelled by Stop")
    assert [kind for kind, _ in events] == ["stopped"]  # the handler, resumed, draws it as stopped
    assert sessions.jobs == {}


def test_every_edit_names_the_model_set_a_take_was_made_with(studio, tmp_path):
    from ltx_studio.studio import Studio

    other = Studio(model_set_name="demo-ltxv", outputs=studio.store.root)
    take = other.render(RenderRequest(prompt="a field", frames=9, **SMALL))
    said = set()
    for attempt in (
        lambda: studio.upscale(take.id),
        lambda: studio.extend(take.id, 1.0),
        lambda: studio.retake(take.id, 0.0, 0.3),
        lambda: studio.submit(Upscale(take.id)),
    ):
        with pytest.raises(BadInput, match="was made with model set 'demo-ltxv'") as caught:
            attempt()
        said.add(str(caught.value).split(" (")[0].split(" and cannot")[0])
    assert len(said) == 1  # one check, one sentence


def test_a_job_that_cannot_be_queued_leaves_no_copies_behind(studio, tmp_path, monkeypatch):
    import sqlite3

    from PIL import Image

    Image.new("RGB", (96, 64), (9, 9, 9)).save(tmp_path / "first.png")

    def refuse(*args, **kwargs):
        raise sqlite3.OperationalError("database is locked")

    monkeypatch.setattr(studio.jobs.queue, "add", refuse)
    with pytest.raises(sqlite3.OperationalError):
        studio.submit(Draft(RenderRequest(prompt="x", image=str(tmp_path / "first.png"), **SMALL)))
    assert not [p for p in studio.jobs.queue.folder.iterdir() if p.is_dir()]  # its input copies went with it
