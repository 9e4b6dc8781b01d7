"""Sound and surgical edits in a real browser: a draft that follows an uploaded soundtrack, then on a
take opened from the Takes tab as a card, Add sound and a Retake of a segment; and a Takes table a
person can read."""

from __future__ import annotations

import numpy as np
from browser_steps import CARD, card, draft, open_studio, press, text_of, wait_text
from test_browser import browser, plays_with_sound  # noqa: F401 - the module's Chromium, shared
from test_jobs import wait_for
from test_sound_edits import beat

from ltx_studio.render.request import RenderRequest


def test_soundtrack_add_sound_and_retake_in_a_real_browser(browser, served, tmp_path):  # noqa: F811
    studio, url = served
    track = beat(tmp_path / "beat.wav", seconds=1.5)
    page = open_studio(browser, url)
    page.fill("#prompt textarea", "a drummer on a rooftop")
    page.locator("#soundtrack input[type=file]").set_input_files(str(track))
    wait_text(page, "#frames-note", "holds all 1.50 s of the soundtrack")  # the duration follows it
    take_id = draft(page, "a drummer on a rooftop")
    info = text_of(page, f'{CARD}[data-key="{take_id}"]')
    assert "follows soundtrack beat.wav" in info and "41 frames" in info  # 1.5 s of sound, on the 8k+1 grid
    assert plays_with_sound(page, f'{CARD}[data-key="{take_id}"] video')
    page.screenshot(path=str(tmp_path / "1-soundtrack.png"), full_page=True)

    silent = studio.render(RenderRequest(prompt="a quiet street", seed=4, frames=25, audio=False, width=96, height=64))
    page.get_by_role("tab", name="Takes").click()
    page.get_by_role("button", name="Refresh", exact=True).click()
    cell = page.locator("#takes-table [role=gridcell]", has_text=silent.id).first  # Gradio 6: a grid of cells
    cell.wait_for(timeout=30_000)
    cell.click()
    page.wait_for_selector("#takes-video video[src]", timeout=30_000)
    page.get_by_role("button", name="Open in Studio", exact=True).click()  # its card, with its edits
    card(page, silent.id).wait_for(timeout=30_000)
    press(page, silent.id, "Add sound…")
    page.locator("#action-run").click()
    wait_text(page, "#feed", f"sound added to {silent.id}")
    sounded = next(t for t in studio.takes() if t.parent == silent.id)
    assert sounded.kind == "sound" and sounded.audio
    assert plays_with_sound(page, f'{CARD}[data-key="{sounded.id}"] video')
    card(page, sounded.id).wait_for(timeout=30_000)
    assert card(page, sounded.id).get_by_role("button", name="Add sound…", exact=True).count() == 0  # has sound

    # Retake 0.4-0.8 s of the take with its new sound: everything asked for is retaken (edges snap out).
    press(page, sounded.id, "Retake…")
    for handle, value in (("#retake-start", "0.4"), ("#retake-end", "0.8")):
        page.locator(f"{handle} input[type=number]").fill(value)
        page.locator(f"{handle} input[type=number]").press("Enter")
    page.locator("#action-run").click()
    wait_text(page, "#feed", f"retake of {sounded.id}")
    retake = next(t for t in studio.takes() if t.parent == sounded.id)
    assert retake.kind == "retake" and retake.settings["retake"]["asked"] == [0.4, 0.8]
    wait_text(page, f'{CARD}[data-key="{retake.id}"]', "retook 0.375-1.042 s (picture and sound)")

    # The table reads well at 1400 px: whole headers, sound and edit columns in words.
    page.get_by_role("tab", name="Takes").click()
    page.get_by_role("button", name="Refresh", exact=True).click()
    page.wait_for_function(
        "(document.querySelector('#takes-table')?.innerText || '').includes('retake 0.375-1.042 s')", timeout=30_000
    )
    table = page.locator("#takes-table").inner_text()
    for words in ("follows beat.wav", "sound added", "retake 0.375-1.042 s, picture and sound", "silent"):
        assert words in table
    heights = page.eval_on_selector_all(
        "#takes-table [role=columnheader]", "cells => cells.map(c => c.getBoundingClientRect().height)"
    )
    assert heights and max(heights) < 3 * np.median(heights) + 1  # no header wraps letter by letter
    page.screenshot(path=str(tmp_path / "2-takes-edits.png"), full_page=True)
    print(f"screenshots: {tmp_path}")
    page.close()


def test_stop_reaches_the_jobs_a_card_started(browser, served):  # noqa: F811
    """Extend and Retake from a card are queued jobs the page follows: the page's Stop ends them."""
    studio, url = served
    page = open_studio(browser, url)
    source = draft(page, "a harbour")
    for kind, label in (("extend", "Extend…"), ("retake", "Retake…")):
        with studio.renderer.device_lock:  # the device is busy: the job waits, followed by the page
            press(page, source, label)
            page.locator("#action-run").click()
            wait_for(lambda k=kind: any(j.kind == k and j.state == "running" for j in studio.job_list()), 30)
            page.locator("#stop").click()
            job = next(j for j in studio.job_list() if j.kind == kind)
            wait_for(lambda j=job: studio.job(j.id).state == "cancelled", 30, f"the {kind} job cancelled by Stop")
        wait_text(page, f'{CARD}[data-key="{job.id}"]', "cancelled")  # its card says so
    assert [t.id for t in studio.takes() if t.parent == source] == []  # neither made a take
    page.close()
