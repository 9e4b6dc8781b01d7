"""The page for creators, walked in Chromium: one story per defect a new user met in the old page
(issue "The page for creators", items 1-10). Each fails on the old page: its errors hid the take,
Draft dropped a second click, its buttons acted on whatever take was shown, and so on.

Renders are held with the device lock where a story needs a job waiting (never raced with sleeps).
"""

from __future__ import annotations

import contextlib

from browser_steps import CARD, card, draft, no_error_shown, open_studio, press, take_card, text_of, wait_text
from conftest import FIRST_FRAMES, free_port
from test_browser import browser  # noqa: F401 - the module's Chromium, shared
from test_jobs import wait_for
from test_sound_edits import beat


def test_1_a_refused_input_is_one_line_at_its_control_and_the_take_stays(browser, served, tmp_path):  # noqa: F811
    studio, url = served
    page = open_studio(browser, url)
    take_id = draft(page, "a calm lake at dawn")
    page.fill("#prompt textarea", "")
    page.get_by_role("button", name="Draft", exact=True).click()  # no idea, no first frame
    wait_text(page, "#prompt-note", "Type an idea")
    assert card(page, take_id).locator("video").count() == 1  # the take on screen stays, untouched
    assert no_error_shown(page)

    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    page.locator("#soundtrack input[type=file]").set_input_files(str(empty))
    wait_text(page, "#soundtrack-note", "empty.wav")
    said = text_of(page, "#soundtrack-note").strip(" ⚠")
    assert page.get_by_text(said[:40]).count() == 1  # said once, at the soundtrack
    page.locator("#prompt textarea").press_sequentially("a calm lake")
    page.wait_for_selector("#prompt-note", state="detached")  # typing clears the prompt's line: none lingers
    assert card(page, take_id).locator("video").count() == 1 and no_error_shown(page)
    page.close()


def test_2_an_unreadable_first_frame_is_refused_at_upload(browser, served, tmp_path):  # noqa: F811
    _, url = served
    page = open_studio(browser, url)
    fake = tmp_path / "photo.png"
    fake.write_text("this is a text file, not a picture")
    page.locator("#first-frame input[type=file]").set_input_files(str(fake))
    wait_text(page, "#first-frame-note", "photo.png is not an image")
    page.wait_for_function("!document.querySelector('#first-frame img')")  # taken away, no broken thumbnail
    assert no_error_shown(page)
    page.close()


def test_3_a_clip_that_follows_a_soundtrack_holds_all_of_it(browser, served, tmp_path):  # noqa: F811
    studio, url = served
    track = beat(tmp_path / "song.wav", seconds=3.13)
    page = open_studio(browser, url)
    page.fill("#prompt textarea", "a band on a stage")
    page.locator("#soundtrack input[type=file]").set_input_files(str(track))
    wait_text(page, "#frames-note", "holds all 3.13 s of the soundtrack")
    assert "81 frames" in text_of(page, "#frames-note")  # 3.13 s rounded up to the 8k+1 grid at 24 fps
    page.get_by_role("button", name="Draft", exact=True).click()
    found = take_card(page, "a band on a stage")
    found.locator("video").wait_for(timeout=60_000)
    take = studio.take(found.get_attribute("data-key"))
    assert take.frames == 81 and not take.settings["soundtrack"]["cut"]
    assert "cut to" not in found.text_content()
    page.close()


def test_4_draft_while_a_draft_runs_queues_another(browser, served):  # noqa: F811
    studio, url = served
    page = open_studio(browser, url)
    page.fill("#prompt textarea", "two clicks, two drafts")
    with studio.renderer.device_lock:  # the first draft waits for the device: the second click comes meanwhile
        page.get_by_role("button", name="Draft", exact=True).click()
        page.wait_for_selector(f"{CARD}[data-state=running], {CARD}[data-state=queued]")
        page.get_by_role("button", name="Draft", exact=True).click()
        page.wait_for_function(
            "document.querySelectorAll('#feed .card[data-state=running], #feed .card[data-state=queued]').length == 2",
            timeout=30_000,
        )
        wait_text(page, "#feed", "in line")  # the second card says where it waits
        wait_text(page, "#queue-indicator", "1 running · 1 waiting")
    page.wait_for_function(
        "[...document.querySelectorAll('#feed .card[data-state=done]')].filter("
        "c => c.textContent.includes('two clicks, two drafts')).length == 2",
        timeout=120_000,
    )
    assert len([t for t in studio.takes() if t.prompt == "two clicks, two drafts"]) == 2
    page.close()


def test_5_a_duration_out_of_range_is_refused_at_the_control_and_nothing_renders(browser, served):  # noqa: F811
    studio, url = served
    page = open_studio(browser, url)
    jobs_before = len(studio.job_list(limit=10_000))
    page.fill("#prompt textarea", "a very long clip")
    page.locator("#duration input").fill("999")
    page.locator("#duration input").press("Enter")
    wait_text(page, "#duration-note", "renders 0.4 to 5 s")
    page.get_by_role("button", name="Draft", exact=True).click()
    wait_text(page, "#duration-note", "Duration 999 s")
    assert len(studio.job_list(limit=10_000)) == jobs_before  # nothing rendered anyway
    assert no_error_shown(page)
    page.close()


def test_6_on_a_phone_the_prompt_draft_and_newest_card_fit_the_first_screen(browser, served, tmp_path):  # noqa: F811
    _, url = served
    page = open_studio(browser, url, 390, 844)
    take_id = draft(page, "a kite on a phone screen")
    newest = card(page, take_id).bounding_box()
    prompt, draft_button = page.locator("#prompt").bounding_box(), page.locator("#draft").bounding_box()
    assert prompt["y"] >= 0 and draft_button["y"] + draft_button["height"] <= 844
    page.screenshot(path=str(tmp_path / "phone-first-screen.png"))
    assert newest["y"] + newest["height"] <= 844, newest  # the whole newest card, without scrolling
    assert page.locator("table").count() == 0  # no table on the Studio tab, none wrapping letter by letter
    height = page.evaluate("document.documentElement.scrollHeight")
    page.screenshot(path=str(tmp_path / "phone.png"), full_page=True)
    print(f"phone page height {height} px; screenshot {tmp_path / 'phone.png'}")
    assert height < 2500
    page.close()


def test_7_each_card_acts_on_its_own_take(browser, served):  # noqa: F811
    studio, url = served
    page = open_studio(browser, url)
    draft_id = draft(page, "a red bicycle in the rain")
    press(page, draft_id, "Approve & upscale")
    page.wait_for_function(
        f"[...document.querySelectorAll('#feed .card')].some(c => c.textContent.includes('final of draft {draft_id}'))",
        timeout=60_000,
    )
    (final,) = [t for t in studio.takes() if t.parent == draft_id]
    wait_text(page, f'{CARD}[data-key="{draft_id}"]', "✓ approved")  # the draft says it is approved
    wait_text(page, f'{CARD}[data-key="{draft_id}"]', f"final {final.id}")
    assert card(page, draft_id).get_by_role("button", name="Approve & upscale", exact=True).count() == 0
    assert card(page, final.id).get_by_role("button", name="Re-render with Pro", exact=True).count() == 0
    with studio.renderer.device_lock:  # the Pro re-render waits for the device: its job says which take it renders
        press(page, draft_id, "Re-render with Pro")  # on the draft's card: the draft, not the final shown last
        wait_for(lambda: [j for j in studio.job_list() if j.kind == "upscale" and j.params.get("mode") == "pro"])
        (pro,) = [j for j in studio.job_list() if j.kind == "upscale" and j.params.get("mode") == "pro"]
        assert pro.params["take_id"] == draft_id
        page.wait_for_selector(f'{CARD}[data-key="{pro.id}"]', state="attached")  # its own card, until it stops
        studio.cancel(pro.id)

    page.get_by_role("tab", name="Compare").click()  # two variants: the empty third slot offers nothing
    page.fill("#compare-prompt textarea", "lanterns on a river")
    page.locator("#compare-variants").get_by_text("Pro (tiny, 3 blocks,").click()
    page.get_by_role("button", name="Compare", exact=True).click()
    page.wait_for_selector("#compare-video-1 video[src]", timeout=60_000)
    assert page.locator("#compare-upscale-1").is_visible() and not page.locator("#compare-upscale-2").is_visible()
    labels = page.locator("#compare-slots [data-testid=block-label]").all_inner_texts()
    assert labels[0].startswith("Fast") and labels[1].startswith("Distilled"), labels  # labelled by variant
    page.evaluate(  # play one: the other plays with it (synced play)
        "for (const v of document.querySelectorAll('#compare-slots video')) v.muted = true;"
        "document.querySelector('#compare-video-0 video').play()"
    )
    page.wait_for_function("!document.querySelector('#compare-video-1 video').paused", timeout=10_000)
    page.close()


@contextlib.contextmanager
def _second_server(tmp_path, manager):
    from ltx_studio.studio import Studio
    from ltx_studio.ui.page import launch

    studio = Studio(model_set_name="demo", outputs=tmp_path / "outputs", manager=manager)
    port = free_port()
    server = launch(studio, host="127.0.0.1", port=port, block=False)
    try:
        yield studio, f"http://127.0.0.1:{port}/"
    finally:
        server.close()
        studio.use_model_set("demo")
        studio.close()


def test_8_a_page_is_told_before_it_renders_with_a_set_switched_elsewhere(browser, tmp_path, shared_manager):  # noqa: F811
    with _second_server(tmp_path, shared_manager) as (studio, url):
        other = open_studio(browser, url)  # shows demo, with Sound ticked
        assert other.locator("#sound input").is_checked()
        switcher = open_studio(browser, url)
        switcher.locator("#model-set input").click()
        switcher.get_by_role("option", name="Demo LTX-Video", exact=False).click()
        wait_for(lambda: studio.model_set.name == "demo-ltxv", 60, "the switch")
        other.fill("#prompt textarea", "a street at night")
        other.get_by_role("button", name="Draft", exact=True).click()  # refused, or after the page was told
        wait_text(other, "#set-note", "demo-ltxv")  # told, at its Model set control
        other.wait_for_selector("#sound", state="hidden")  # the page shows the set in use now
        assert other.locator("#model-set input").input_value().startswith("Demo LTX-Video")
        idle = ("queued", "running")  # a draft sent after the page was told renders with the set it shows
        wait_for(lambda: not [j for j in studio.job_list() if j.state in idle], 120, "the page's draft to end")
        assert all(t.model_set == "demo-ltxv" for t in studio.takes() if t.prompt == "a street at night")
        switcher.close()
        other.close()


def test_9_progress_stays_on_its_card(browser, served):  # noqa: F811
    studio, url = served
    page = open_studio(browser, url)
    source = draft(page, "a harbour at noon")
    with studio.renderer.device_lock:
        press(page, source, "Extend…")
        page.locator("#action-run").click()
        page.wait_for_selector(f"{CARD}[data-state=running]", timeout=30_000)
        assert page.locator(".progress-text, .eta-bar").count() == 0  # no progress drawn over other parts
        assert card(page, source).locator("video").count() == 1
    wait_text(page, "#feed", f"extension of {source}", timeout=120_000)
    page.close()


def test_10_delete_has_undo_retakes_snap_outward_keyframes_say_where_and_a_reopened_page_resumes(
    browser,  # noqa: F811
    served,
    tmp_path,
    monkeypatch,
):
    from ltx_studio.ui.studio_tab import feed

    studio, url = served
    monkeypatch.setattr(feed, "UNDO_S", 1.0)
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = open_studio(context, url)
    kept, gone = draft(page, "kept after undo"), draft(page, "deleted for good")
    press(page, kept, "Delete")
    card(page, kept).get_by_role("button", name="Undo", exact=True).click()
    press(page, gone, "Delete")
    wait_for(lambda: gone not in {t.id for t in studio.takes()}, 30, "the second delete")  # after the first's time
    assert studio.take(kept).status == "ok"
    wait_text(page, f'{CARD}[data-key="{kept}"]', "Retake…")

    press(page, kept, "Retake…")  # 0.4-0.8 s: everything asked for is retaken
    for handle, value in (("#retake-start", "0.4"), ("#retake-end", "0.8")):
        page.locator(f"{handle} input[type=number]").fill(value)
        page.locator(f"{handle} input[type=number]").press("Enter")
    page.locator("#action-run").click()
    wait_text(page, "#feed", f"retake of {kept}", timeout=120_000)
    (retake,) = [t for t in studio.takes() if t.parent == kept and t.kind == "retake"]
    assert (retake.settings["retake"]["start"], retake.settings["retake"]["end"]) == (0.375, 1.042)

    page.locator("#more").get_by_text("More:").click()
    page.locator("#keyframes").get_by_text("Keyframes").click()
    page.locator("#keyframe-0 input[type=file]").set_input_files(str(FIRST_FRAMES / "rocket.jpg"))
    page.locator("#keyframe-1 input[type=file]").set_input_files(str(FIRST_FRAMES / "coffee.png"))
    page.get_by_role("button", name="First + last frame", exact=True).click()
    wait_text(page, "#keyframe-landing", "keyframe 2 at 1 s → frame 17 (0.71 s)")  # said before rendering

    page.fill("#prompt textarea", "a lighthouse, cancelled")
    with studio.renderer.device_lock:
        page.get_by_role("button", name="Draft", exact=True).click()
        wait_for(lambda: any(j.label == "a lighthouse, cancelled" for j in studio.job_list()), 30, "the job")
        page.close()
        job = next(j for j in studio.job_list() if j.label == "a lighthouse, cancelled")
        studio.cancel(job.id)
    again = open_studio(context, url)
    wait_text(again, f'{CARD}[data-key="{job.id}"]', "cancelled")  # the newest job, though it made nothing
    again.wait_for_function("document.querySelector('#prompt textarea').value == 'a lighthouse, cancelled'")
    context.close()
