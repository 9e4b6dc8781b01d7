"""Jobs that outlive the page, in a real browser: close the page mid-draft and find the take (and its
prompt) on reopening; cancel a queued job from its card; a batch of four seeds lands as four cards."""

from __future__ import annotations

from browser_steps import CARD, card, open_studio, press, wait_text
from conftest import small
from test_browser import browser  # noqa: F401 - the module's Chromium, shared

from ltx_studio.jobs.ops import Draft


def test_a_draft_outlives_its_closed_page_and_a_reopened_page_shows_the_take(
    browser,  # noqa: F811
    served,
    tmp_path,
):
    studio, url = served
    context = browser.new_context(viewport={"width": 1400, "height": 1000})  # one browser: its localStorage
    page = open_studio(context, url)
    page.fill("#prompt textarea", "a lighthouse in a storm, closed mid-render")
    with studio.renderer.device_lock:  # the job runs (waiting for the GPU) when the page closes: no race
        page.get_by_role("button", name="Draft", exact=True).click()
        page.wait_for_selector(f"{CARD}[data-state=running]", timeout=60_000)
        page.close()  # mid-job: the laptop lid closes
        running = [job for job in studio.jobs.list() if job.label.startswith("a lighthouse")]
        assert len(running) == 1 and studio.job(running[0].id).state == "running"
    studio.wait(running[0].id, timeout=300)  # it went on without the page
    (take_id,) = studio.jobs.get(running[0].id).take_ids

    again = open_studio(context, url)
    card(again, take_id).locator("video").wait_for(timeout=60_000)
    again.wait_for_function(
        "document.querySelector('#prompt textarea').value == 'a lighthouse in a storm, closed mid-render'"
    )
    again.screenshot(path=str(tmp_path / "reopened.png"))
    context.close()


def test_a_queued_job_cancelled_from_its_card_never_runs(browser, served, tmp_path):  # noqa: F811
    studio, url = served
    context = browser.new_context(viewport={"width": 1400, "height": 1000})  # one browser: its localStorage
    page = open_studio(context, url)
    with studio.renderer.device_lock:  # the GPU is busy: the first job waits for it, the second waits in the queue
        first = studio.submit(Draft(small(prompt="first in line", seed=11), preview=False))  # a script's: not ours
        other = open_studio(context, url)  # this browser's second tab: its jobs are this browser's too
        other.fill("#prompt textarea", "never rendered")
        other.get_by_role("button", name="Draft", exact=True).click()
        wait_text(page, "#feed", "never rendered", timeout=30_000)  # the first tab's feed shows it too
        (doomed,) = [job for job in studio.job_list(("queued",)) if job.label == "never rendered"]
        assert card(page, first.id).count() == 0  # not this browser's: not in its feed
        wait_text(page, f'{CARD}[data-key="{doomed.id}"]', "1st in line")  # the script's job runs
        press(page, doomed.id, "Cancel")
        wait_text(page, f'{CARD}[data-key="{doomed.id}"]', "cancelled")
        page.screenshot(path=str(tmp_path / "cancelled.png"))
    studio.wait(first.id)
    assert studio.jobs.get(doomed.id).state == "cancelled"
    assert not any(t.prompt == "never rendered" for t in studio.takes())
    context.close()


def test_a_batch_of_four_seeds_lands_as_four_cards_and_one_can_be_upscaled(
    browser,  # noqa: F811
    served,
    tmp_path,
):
    studio, url = served
    page = open_studio(browser, url, 1400, 1400)
    page.fill("#prompt textarea", "four kites over a beach")
    studio.manager.prompt_cache.clear()
    page.locator("#more").get_by_text("More:").click()
    page.locator("#batches").get_by_text("Batch:").click()
    page.get_by_role("button", name="Render batch", exact=True).click()
    page.wait_for_function(
        "[...document.querySelectorAll('#feed .card[data-state=done]')].filter("
        "c => c.textContent.includes('four kites over a beach')).length == 4",
        timeout=120_000,
    )
    page.screenshot(path=str(tmp_path / "batch.png"))
    takes = [t for t in studio.takes() if t.prompt == "four kites over a beach"]
    assert len(takes) == 4 and len({t.seed for t in takes}) == 4
    assert len({tuple(t.settings["seeds_call"]["seeds"]) for t in takes}) == 1  # one denoise call, one encode
    assert len({t.settings["batch"]["id"] for t in takes}) == 1

    picked = takes[2]  # the third variation
    assert f"rendered on {picked.worker}" in card(page, picked.id).text_content()  # which worker made it
    press(page, picked.id, "Approve & upscale")
    wait_text(page, "#feed", f"final of draft {picked.id}", timeout=120_000)
    final = next(t for t in studio.takes() if t.parent == picked.id)
    assert final.kind == "upscale" and final.width == 2 * picked.width

    press(page, picked.id, "Variations")  # four more seeds of that take, as four more cards
    page.wait_for_function(  # 4 + 4 drafts and the final
        "[...document.querySelectorAll('#feed .card[data-state=done]')].filter("
        "c => c.querySelector('.prompt')?.textContent === 'four kites over a beach').length == 9",
        timeout=120_000,
    )
    again = [t for t in studio.takes() if t.prompt == "four kites over a beach" and t.kind == "draft"]
    assert len(again) == 8 and len({t.seed for t in again}) == 8
    assert {(t.width, t.height, t.frames) for t in again} == {(picked.width, picked.height, picked.frames)}
