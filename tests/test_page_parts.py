"""The page's rules without a browser: the size an aspect ratio makes, which actions a card offers,
what a job's card says, and a delete that Undo brings back. Real takes and jobs on the demo set."""

from __future__ import annotations

import threading

from conftest import small
from test_jobs import wait_for

from ltx_studio.core import sizing
from ltx_studio.jobs.ops import Draft, Upscale
from ltx_studio.ui.studio_tab import feed
from ltx_studio.ui.studio_tab.prompt_bar import size_for
from ltx_studio.ui.studio_tab.tab import draft_request


def test_an_aspect_ratio_shapes_the_draft_at_its_resolutions_area(studio):
    assert size_for("auto", (384, 256)) is None  # Auto: the first frame's shape, else the variant's own
    for aspect, (across, down) in (("16:9", (16, 9)), ("9:16", (9, 16)), ("1:1", (1, 1)), ("4:3", (4, 3)),
                                   ("21:9", (21, 9))):  # fmt: skip
        width, height = size_for(aspect, (384, 256))
        assert width % sizing.SIZE_MULTIPLE == 0 and height % sizing.SIZE_MULTIPLE == 0
        assert abs(width / height - across / down) < 0.25 and abs(width * height / (384 * 256) - 1) < 0.25
    request = draft_request(studio, "a cat", None, None, "fast", 3, False, "draft", 0.4, 24, None, None,
                            aspect="9:16")  # fmt: skip
    assert request.height > request.width and request.resolution is None
    take = studio.render(request, preview=False)
    assert (take.width, take.height) == size_for("9:16", (384, 256))  # the render is that shape
    wide = draft_request(studio, "a cat", None, None, "fast", 3, False, "540p", 1.0, 24, None, None, aspect="21:9")
    assert (wide.width, wide.height) == size_for("21:9", sizing.RESOLUTIONS["540p"])


def test_a_card_offers_only_what_applies_to_its_take(studio):
    draft = studio.render(small(seed=3), preview=False)
    labels = dict(feed.take_actions(studio, draft))
    assert {"upscale", "pro", "extend", "retake", "variations", "download", "delete"} <= set(labels)
    assert "sound" not in labels  # it has its sound
    job = studio.submit(Upscale(draft.id))
    studio.start_jobs()
    studio.wait(job.id, timeout=300)
    card = feed.take_card(studio, feed.Board(), studio.take(draft.id), "s")
    assert "✓ approved" in card.line and "final " in card.line
    assert "upscale" not in dict(card.actions) and "pro" in dict(card.actions)  # once each
    final = studio.take(studio.job(job.id).take_ids[0])
    assert not {"upscale", "pro"} & set(dict(feed.take_actions(studio, final)))  # a final is not a draft
    stranger = dict(feed.take_actions(studio, studio.take(draft.id), who="browser:someone"))
    assert not {"approve", "upscale", "pro", "delete"} & set(stranger) and "variations" in stranger  # not theirs
    silent = studio.render(small(seed=4, audio=False), preview=False)
    assert "sound" in dict(feed.take_actions(studio, silent))
    studio.use_model_set("demo-ltxv")
    try:  # a take of another model set: no upscale, no edit that would run on this set's models
        assert set(dict(feed.take_actions(studio, draft))) == {"approve", "download", "delete"}
    finally:
        studio.use_model_set("demo")


def test_a_jobs_card_says_where_it_stands(studio):
    studio.start_jobs()
    with studio.renderer.device_lock:
        first = studio.submit(Draft(small(prompt="first", seed=1), preview=False), owner="browser:a")
        second = studio.submit(Draft(small(prompt="second", seed=2), preview=False), owner="browser:a")
        wait_for(lambda: studio.job(first.id).state == "running", 30, "the first job running")
        cards = {card.key: card for card in feed.cards(studio, feed.Board(), "browser:a", "s")}
        assert cards[second.id].line == "queued · 1st in line" and cards[second.id].actions == [("cancel", "Cancel")]
        assert cards[first.id].line.startswith("running")
        assert feed.cards(studio, feed.Board(), "browser:b", "s") == []  # another browser's feed is its own
        assert [job.id for job in studio.resume_all("browser:a")] == [first.id, second.id]  # a reopened page's
        studio.cancel(second.id, owner="browser:a")
    studio.wait(first.id, timeout=300)
    cards = {card.key: card for card in feed.cards(studio, feed.Board(), "browser:a", "s")}
    assert cards[second.id].line == "cancelled"
    assert first.id not in cards and len([c for c in cards.values() if c.state == "done"]) == 1  # its take instead
    html = feed.render(list(cards.values()))
    assert html.index(second.id) > html.index(studio.job(first.id).take_ids[0])  # oldest first in the DOM


def test_a_prompt_is_drawn_as_text_never_as_markup(studio):
    take = studio.render(small(prompt="<img src=x onerror=alert(1)> ${alert(2)} `x`", seed=5), preview=False)
    html = feed.render([feed.take_card(studio, feed.Board(), take, "s")])
    assert "<img src=x" not in html and "&lt;img src=x onerror=alert(1)&gt;" in html


def test_a_delete_waits_for_undo(studio, monkeypatch):
    monkeypatch.setattr(feed, "UNDO_S", 0.2)
    board = feed.Board()
    kept, gone = (studio.render(small(seed=seed), preview=False) for seed in (8, 9))
    deleted = threading.Event()
    board.delete_later(kept.id, "browser:a", lambda: studio.delete(kept.id), print)
    assert not board.undo(kept.id, "browser:b")  # nobody undoes another's delete
    assert board.undo(kept.id, "browser:a")

    def delete_gone():
        studio.delete(gone.id)
        deleted.set()

    board.delete_later(gone.id, "browser:a", delete_gone, print)
    assert deleted.wait(30)  # the second delete ran: the first one's time had passed before it
    assert studio.take(kept.id).status == "ok" and gone.id not in {t.id for t in studio.takes()}
    assert not board.undo(gone.id, "browser:a")  # too late


def test_a_final_on_its_way_is_not_offered_twice_and_a_pinned_take_shows_first(studio):
    studio.start_jobs()
    job = studio.submit(Draft(small(prompt="mine", seed=6), preview=False), owner="browser:a")
    (draft_id,) = [t.id for t in studio.wait(job.id, timeout=300)]
    other = studio.render(small(prompt="opened from Takes", seed=7), preview=False)
    board = feed.Board()
    board.pin("s", other.id)
    with studio.renderer.device_lock:
        final = studio.submit(Upscale(draft_id), owner="browser:a")
        found = feed.cards(studio, board, "browser:a", "s")
        mine = next(card for card in found if card.key == draft_id)
        assert "upscale" not in dict(mine.actions) and "upscale on its way" in mine.line
        assert found[-1].key == other.id  # the pinned take: newest end, shown first
    studio.wait(final.id, timeout=300)


def test_a_failed_jobs_card_says_why_in_one_line_and_can_be_put_away():
    from ltx_studio.jobs.queue import JobRecord

    failed = JobRecord("job-1", "draft", {}, state="failed", label="a cat", error="out of memory\nTraceback: ...")
    card = feed.job_card(feed.Board(), failed, [], "s")
    assert card.line == "failed: out of memory" and card.actions == [("dismiss", "Dismiss")]
    assert "Traceback" not in feed.render([card])


def test_sizes_and_durations_this_card_cannot_hold_say_so(studio, monkeypatch):
    from dataclasses import replace

    from ltx_studio.models.policy import activation_bytes
    from ltx_studio.ui.relay import Shared
    from ltx_studio.ui.studio_tab.tab import duration_refusal

    shared = Shared.of(studio)
    assert all("this card" not in label for label, _ in shared.resolutions)  # the CPU's plan limits nothing
    room = activation_bytes(1024, 576, 25, tiled=True, tiles=4)  # 540p up to 25 frames (in tiles)
    monkeypatch.setattr(studio.manager, "policy", replace(studio.manager.policy, room_bytes=room, vae_tiling=True))
    labels = {value: label for label, value in shared.resolutions}
    assert labels["540p"].endswith("· up to 1.0 s on this card") and labels["720p"].endswith(
        "· up to 0.3 s on this card"
    )
    assert "this card" not in labels["draft"]
    assert "this card's memory fits up to 1.0 s at that size" in duration_refusal(shared, 2.0, "540p")
    assert duration_refusal(shared, 1.0, "540p") == "" and duration_refusal(shared, 2.0, "draft") == ""
    monkeypatch.setattr(studio.manager, "policy", replace(studio.manager.policy, room_bytes=1))  # nothing fits
    assert all(label.endswith("· not on this card") for label, _ in shared.resolutions)
    assert "1280x704 does not fit this card's memory" in duration_refusal(shared, 0.5, "720p")
