"""Sound and surgical edits in a real browser: a draft that follows an uploaded soundtrack, Add sound
on a silent take and Retake of a segment from the Takes tab, and a Takes table a person can read."""

from __future__ import annotations

import numpy as np
from test_browser import browser, plays_with_sound  # noqa: F401 - the module's Chromium, shared
from test_jobs import wait_for
from test_sound_edits import beat

from ltx_studio.render.request import RenderRequest


def test_soundtrack_add_sound_and_retake_in_a_real_browser(browser, served, tmp_path):  # noqa: F811
    studio, url = served
    track = beat(tmp_path / "beat.wav", seconds=1.5)
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(url)
    page.wait_for_selector("#prompt textarea")
    page.fill("#prompt textarea", "a drummer on a rooftop")
    page.locator("#soundtrack input[type=file]").set_input_files(str(track))
    page.wait_for_function("(document.querySelector('#soundtrack')?.innerText || '').includes('beat.wav')")
    page.wait_for_function("document.querySelector('#duration input[type=number]').value == '1.5'")  # follows it
    page.get_by_role("button", name="Draft", exact=True).click()
    page.wait_for_function(
        "(document.querySelector('#take-info')?.innerText || '').includes('follows soundtrack beat.wav')",
        timeout=60_000,
    )
    assert "41 frames" in page.locator("#take-info").inner_text()  # 1.5 s of sound at 24 fps, on the 8k+1 grid
    assert plays_with_sound(page, "#take video")
    page.screenshot(path=str(tmp_path / "1-soundtrack.png"), full_page=True)

    silent = studio.render(RenderRequest(prompt="a quiet street", seed=4, frames=25, audio=False, width=96, height=64))
    page.get_by_role("tab", name="Takes").click()
    cell = page.locator("#takes-table [role=gridcell]", has_text=silent.id).first  # Gradio 6: a grid of cells
    cell.wait_for(timeout=30_000)
    cell.click()
    page.wait_for_selector("#takes-video video[src]", timeout=30_000)
    page.get_by_text("Add sound · Retake a segment").click()
    page.get_by_role("button", name="Add sound", exact=True).click()
    page.wait_for_function(
        "(document.querySelector('#edit-note')?.innerText || '').includes('Sound added')", timeout=60_000
    )
    sounded = studio.takes()[0]
    assert sounded.kind == "sound" and sounded.parent == silent.id and sounded.audio
    assert plays_with_sound(page, "#takes-video video")

    # Retake 0.4-0.8 s of the take now shown (the one with its new sound).
    page.locator("#retake-start input[type=number]").fill("0.4")
    page.locator("#retake-start input[type=number]").press("Enter")
    page.locator("#retake-end input[type=number]").fill("0.8")
    page.locator("#retake-end input[type=number]").press("Enter")
    page.get_by_role("button", name="Retake", exact=True).click()
    page.wait_for_function("(document.querySelector('#edit-note')?.innerText || '').includes('Retook')", timeout=60_000)
    note = page.locator("#edit-note").inner_text()
    assert "0.375-0.708 s (snapped to the latent grid)" in note
    retake = studio.takes()[0]
    assert retake.kind == "retake" and retake.parent == sounded.id
    assert retake.settings["retake"]["asked"] == [0.4, 0.8]

    # The table reads well at 1400 px: whole headers, sound and edit columns in words.
    page.get_by_role("button", name="Refresh", exact=True).click()
    page.wait_for_function(
        "(document.querySelector('#takes-table')?.innerText || '').includes('retake 0.375-0.708 s')", timeout=30_000
    )
    table = page.locator("#takes-table").inner_text()
    for words in ("follows beat.wav", "sound added", "retake 0.375-0.708 s, picture and sound", "silent"):
        assert words in table
    heights = page.eval_on_selector_all(
        "#takes-table [role=columnheader]", "cells => cells.map(c => c.getBoundingClientRect().height)"
    )
    assert heights and max(heights) < 3 * np.median(heights) + 1  # no header wraps letter by letter
    page.screenshot(path=str(tmp_path / "2-takes-edits.png"), full_page=True)
    print(f"screenshots: {tmp_path}")
    page.close()


def test_stop_reaches_the_jobs_the_takes_tab_started(browser, served):  # noqa: F811
    """Extend and Retake from the Takes tab are queued jobs the page follows: the page's Stop ends them
    (they used to block in studio.wait, out of Stop's reach)."""
    studio, url = served
    source = studio.render(RenderRequest(prompt="a harbour", seed=6, frames=25, width=96, height=64))
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(url)
    page.wait_for_selector("#prompt textarea")
    page.get_by_role("tab", name="Takes").click()
    page.get_by_role("button", name="Refresh", exact=True).click()
    cell = page.locator("#takes-table [role=gridcell]", has_text=source.id).first
    cell.wait_for(timeout=30_000)
    cell.click()
    page.wait_for_selector("#takes-video video[src]", timeout=30_000)
    page.get_by_text("Add sound · Retake a segment").click()
    for kind, start in (("extend", lambda: page.locator("#takes-extend").click()),
                        ("retake", lambda: page.get_by_role("button", name="Retake", exact=True).click())):  # fmt: skip
        with studio.renderer.device_lock:  # the device is busy: the job waits, followed by the page
            start()
            wait_for(lambda k=kind: any(j.kind == k and j.state == "running" for j in studio.job_list()), 30)
            page.get_by_role("tab", name="Studio").click()
            page.locator("#stop").click()
            job = next(j for j in studio.job_list() if j.kind == kind)
            wait_for(lambda j=job: studio.job(j.id).state == "cancelled", 30, f"the {kind} job cancelled by Stop")
        page.get_by_role("tab", name="Takes").click()
    assert [t.id for t in studio.takes() if t.parent == source.id] == []  # neither made a take
    page.close()
