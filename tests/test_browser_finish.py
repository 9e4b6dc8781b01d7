"""The Finish panel in a real browser: x2 frame rate on a card, then HDR with EXR frames on its result
(the masters offered for download from the card), and the Takes tab's Finish… opening the same panel."""

from __future__ import annotations

import re

from browser_steps import CARD, card, draft, open_studio, press, wait_text
from test_browser import browser  # noqa: F401 - the module's Chromium, shared


def test_finish_a_take_from_its_card_and_from_the_takes_tab(browser, served, tmp_path):  # noqa: F811
    studio, url = served
    page = open_studio(browser, url)
    source = draft(page, "a heron over a lake")
    press(page, source, "Finish…")
    wait_text(page, "#action-title", f"Finish take {source}")
    wait_text(page, "#finish-about", "48 or 96 fps")  # the first pass, and a line on what it is for
    page.locator("#action-run").click()
    wait_text(page, "#feed", f"frame-rate x2 of {source}")
    faster = next(t for t in studio.takes() if t.parent == source)
    assert (faster.fps, faster.frames) == (48, 2 * (studio.take(source).frames - 1) + 1)
    card(page, faster.id).locator("video").wait_for(timeout=60_000)

    press(page, faster.id, "Finish…")
    page.locator("#finish-pass input").click()
    page.get_by_role("option", name="hdr", exact=True).click()
    wait_text(page, "#finish-about", "10-bit HDR master")
    page.locator("#finish-exr input").check()
    page.locator("#action-run").click()
    wait_text(page, "#feed", f"hdr of {faster.id}")
    graded = next(t for t in studio.takes() if t.parent == faster.id)
    master = card(page, graded.id).get_by_role("link", name="HDR master (HLG)")
    master.wait_for(timeout=30_000)
    for name in ("HDR master (HLG)", "EXR frames"):  # each master downloads from the card
        href = card(page, graded.id).get_by_role("link", name=name).evaluate("a => a.href")  # resolved
        assert page.request.get(href).ok, name
    page.screenshot(path=str(tmp_path / "finish.png"), full_page=True)

    page.get_by_role("tab", name="Takes").click()
    page.get_by_role("button", name="Refresh", exact=True).click()
    cell = (
        page.locator("#takes-table [role=gridcell]").filter(has_text=re.compile(f"^\\s*{source}\\s*$")).last
    )  # its id (a newer take names it as parent)
    cell.wait_for(timeout=30_000)
    cell.click()
    page.wait_for_selector("#takes-video video[src]", timeout=30_000)
    page.get_by_role("button", name="Finish…", exact=True).click()
    wait_text(page, "#action-title", f"Finish take {source}")  # the Studio tab, its panel open on the pick
    assert page.locator(f'{CARD}[data-key="{source}"]').count() == 1
    page.close()
