"""Jobs that outlive the page, in a real browser: close the page mid-draft and find the take on
reopening; cancel a queued job from the Queue panel; a batch of four seeds fills the grid."""

from __future__ import annotations

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
    page = context.new_page()
    page.goto(url)
    page.wait_for_selector("#prompt textarea")
    page.fill("#prompt textarea", "a lighthouse in a storm, closed mid-render")
    with studio.renderer.device_lock:  # the job runs (waiting for the GPU) when the page closes: no race
        page.get_by_role("button", name="Draft", exact=True).click()
        page.wait_for_function(
            "(document.querySelector('#queue')?.innerText || '').includes('running')", timeout=60_000
        )
        page.close()  # mid-job: the laptop lid closes
        running = [job for job in studio.jobs.list() if job.label.startswith("a lighthouse")]
        assert len(running) == 1 and studio.job(running[0].id).state == "running"
    studio.wait(running[0].id, timeout=300)  # it went on without the page
    (take_id,) = studio.jobs.get(running[0].id).take_ids

    again = context.new_page()
    again.goto(url)
    again.wait_for_function(
        f"(document.querySelector('#take-info')?.innerText || '').includes('{take_id}')", timeout=60_000
    )
    assert again.locator("#take video").get_attribute("src")
    again.wait_for_function(
        f"(document.querySelector('#queue')?.innerText || '').includes('{take_id}')", timeout=60_000
    )
    row = again.locator("#queue tr", has_text=running[0].id).inner_text()
    assert "done" in row and take_id in row
    again.screenshot(path=str(tmp_path / "reopened.png"))
    context.close()


def test_a_queued_job_cancelled_from_the_queue_panel_never_runs(browser, served, tmp_path):  # noqa: F811
    studio, url = served
    context = browser.new_context(viewport={"width": 1400, "height": 1000})  # one browser: its localStorage
    page = context.new_page()
    page.goto(url)
    page.wait_for_selector("#queue")
    with studio.renderer.device_lock:  # the GPU is busy: the first job waits for it, the second waits in the queue
        first = studio.submit(Draft(small(prompt="first in line", seed=11), preview=False))  # a script's: not ours
        other = context.new_page()  # this browser's second tab: its jobs are this browser's too
        other.goto(url)
        other.wait_for_selector("#prompt textarea")
        other.fill("#prompt textarea", "never rendered")
        other.get_by_role("button", name="Draft", exact=True).click()
        page.wait_for_function(
            "(document.querySelector('#queue')?.innerText || '').includes('never rendered')", timeout=30_000
        )
        (doomed,) = [job for job in studio.job_list(("queued",)) if job.label == "never rendered"]
        row = page.locator("#queue tr", has_text=first.id).inner_text()
        assert "(not yours)" in row  # listed (no --auth: one person's machine), but not this browser's to stop
        page.locator("#queue-choice input").click()
        page.get_by_role("option", name=f"{doomed.id} · draft · queued", exact=False).click()
        page.get_by_role("button", name="Cancel job", exact=True).click()
        page.wait_for_function(
            "[...document.querySelectorAll('#queue tr')].some(r => r.innerText.includes("
            f"'{doomed.id}') && r.innerText.includes('cancelled'))",
            timeout=30_000,
        )
        page.screenshot(path=str(tmp_path / "cancelled.png"))
    studio.wait(first.id)
    assert studio.jobs.get(doomed.id).state == "cancelled"
    assert not any(t.prompt == "never rendered" for t in studio.takes())
    context.close()


def test_a_batch_of_four_seeds_fills_the_grid_and_a_pick_can_be_upscaled(
    browser,  # noqa: F811
    served,
    tmp_path,
):
    studio, url = served
    page = browser.new_page(viewport={"width": 1400, "height": 1400})
    page.goto(url)
    page.wait_for_selector("#prompt textarea")
    page.fill("#prompt textarea", "four kites over a beach")
    studio.manager.prompt_cache.clear()
    page.get_by_role("button", name="Render variations", exact=True).click()
    page.wait_for_function("document.querySelectorAll('#batch-grid img').length == 4", timeout=120_000)
    page.screenshot(path=str(tmp_path / "grid.png"))
    takes = [t for t in studio.takes() if t.prompt == "four kites over a beach"]
    assert len(takes) == 4 and len({t.seed for t in takes}) == 4
    assert sorted(t.settings["prompt_cached"] for t in takes) == [False, True, True, True]  # encoded once
    assert len({t.settings["batch"]["id"] for t in takes}) == 1

    page.locator("#batch-grid img").nth(2).click()  # pick the third variation
    page.wait_for_function("(document.querySelector('#take-info')?.innerText || '').includes('seed')", timeout=30_000)
    picked = next(t for t in takes if t.id in page.locator("#take-info").inner_text())
    assert f"rendered on {picked.worker}" in page.locator("#take-info").inner_text()  # which worker made it
    page.get_by_role("button", name="Approve & upscale", exact=True).click()
    page.wait_for_function(
        f"(document.querySelector('#take-info')?.innerText || '').includes('from draft `{picked.id}`') || "
        f"(document.querySelector('#take-info')?.innerText || '').includes('{picked.id}') && "
        "(document.querySelector('#take-info')?.innerText || '').includes('Upscale')",
        timeout=120_000,
    )
    final = next(t for t in studio.takes() if t.parent == picked.id)
    assert final.kind == "upscale" and final.width == 2 * picked.width
