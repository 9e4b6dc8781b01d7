"""A real browser (Debian's Chromium via Playwright) walks the studio's main flow on the demo set.

Screenshots land in the test's temporary folder (printed with -s); look at them when changing the UI.
"""

from __future__ import annotations

import os

import pytest
from conftest import free_port

CHROMIUM = next((p for p in ("/usr/lib/chromium/chromium", "/usr/bin/chromium") if os.path.exists(p)), None)
if CHROMIUM is None:
    if os.environ.get("CI"):
        raise RuntimeError("CI needs Debian's chromium for the browser test: run bash scripts/setup.sh --dev")
    pytest.skip("Debian's chromium is not installed (bash scripts/setup.sh --dev)", allow_module_level=True)
playwright = pytest.importorskip("playwright.sync_api")

# Records every src the live preview image shows, so the test can see it change step by step.
WATCH_PREVIEW = """
() => {
  window.__previews = [];
  const seen = () => {
    const img = document.querySelector('#preview img');
    if (img && img.src && window.__previews[window.__previews.length - 1] !== img.src) window.__previews.push(img.src);
  };
  new MutationObserver(seen).observe(document.body, {subtree: true, childList: true, attributes: true, attributeFilter: ['src']});
}
"""


@pytest.fixture(scope="module")
def app_url(tmp_path_factory, shared_manager):
    from ltx_studio.studio import Studio
    from ltx_studio.ui import launch

    studio = Studio(model_set_name="demo", outputs=tmp_path_factory.mktemp("browser"), manager=shared_manager)
    port = free_port()
    page = launch(studio, host="127.0.0.1", port=port, block=False)
    yield f"http://127.0.0.1:{port}/"
    page.close()


@pytest.fixture(scope="module")
def browser():
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--no-first-run",
            ],
        )
        yield browser
        browser.close()


def serves_mp4(page, selector: str) -> bool:
    src = page.locator(selector).first.get_attribute("src")
    body = page.request.get(src).body()
    return body[4:8] == b"ftyp"


def test_draft_preview_compare_and_upscale_in_a_real_browser(browser, app_url, tmp_path):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(app_url)
    page.wait_for_selector("#prompt textarea")
    assert "output is noise" in page.locator("#banner").inner_text()
    page.evaluate(WATCH_PREVIEW)

    # Studio: type a prompt, Draft, watch the preview change, get a playable take.
    page.fill("#prompt textarea", "a red rocket flies over the sea")
    page.get_by_role("button", name="Draft", exact=True).click()
    page.wait_for_selector("#take video[src]", timeout=60_000)
    page.wait_for_function("document.querySelector('#take-info').innerText.includes('seed')")
    assert page.evaluate("window.__previews.length") >= 2, "the preview image should update during denoising"
    assert serves_mp4(page, "#take video")
    info = page.locator("#take-info").inner_text()
    assert "384x256" in info and "total" in info and "sound 24 kHz" in info
    src = page.locator("#take video").first.get_attribute("src")
    assert b"mp4a" in page.request.get(src).body()  # the file the <video> plays carries its AAC soundtrack
    page.screenshot(path=str(tmp_path / "1-draft.png"), full_page=True)

    # Approve & upscale the draft: a 2x take that names its parent.
    page.get_by_role("button", name="Approve & upscale", exact=True).click()
    page.wait_for_function("document.querySelector('#take-info').innerText.includes('768x512')", timeout=60_000)
    assert "from draft" in page.locator("#take-info").inner_text()
    page.screenshot(path=str(tmp_path / "2-upscaled.png"), full_page=True)

    # Compare: two variants side by side, then approve and upscale one of them.
    page.get_by_role("tab", name="Compare").click()
    page.fill("#compare-prompt textarea", "waves at night")
    page.locator("#compare-variants").get_by_text("Pro (tiny, 3 blocks,").click()  # leave Fast and Distilled
    page.get_by_role("button", name="Compare", exact=True).click()
    page.wait_for_selector("#compare-video-1 video[src]", timeout=60_000)
    assert serves_mp4(page, "#compare-video-0 video") and serves_mp4(page, "#compare-video-1 video")
    assert page.locator("#compare-video-2 video[src]").count() == 0
    page.screenshot(path=str(tmp_path / "3-compare.png"), full_page=True)
    page.locator("#compare-upscale-1").click()
    page.wait_for_selector("#compare-final video[src]", timeout=60_000)
    assert serves_mp4(page, "#compare-final video")
    page.screenshot(path=str(tmp_path / "4-compare-upscaled.png"), full_page=True)

    # Takes: everything made so far, newest first.
    page.get_by_role("tab", name="Takes").click()
    page.wait_for_function("document.querySelectorAll('#takes-gallery img').length >= 5", timeout=30_000)
    page.locator("#takes-gallery img").first.click()
    page.wait_for_selector("#takes-video video[src]", timeout=30_000)
    page.screenshot(path=str(tmp_path / "5-takes.png"), full_page=True)
    print(f"screenshots: {tmp_path}")


def test_live_mode_drafts_while_typing(browser, app_url, tmp_path):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(app_url)
    page.wait_for_selector("#prompt textarea")
    page.locator("#live input").check()
    page.locator("#prompt textarea").press_sequentially("a cat on a wall", delay=40)
    page.wait_for_selector("#take video[src]", timeout=60_000)
    page.wait_for_function("document.querySelector('#take-info').innerText.includes('Live')", timeout=30_000)
    assert "192x128" in page.locator("#take-info").inner_text()
    page.screenshot(path=str(tmp_path / "6-live.png"), full_page=True)


def test_bad_input_shows_a_visible_error_and_the_page_keeps_working(browser, app_url, tmp_path):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(app_url)
    page.wait_for_selector("#prompt textarea")
    page.get_by_role("button", name="Draft", exact=True).click()  # no prompt, no first frame
    page.wait_for_function("document.querySelector('#take-info').innerText.includes('prompt is empty')", timeout=30_000)
    page.screenshot(path=str(tmp_path / "7-error.png"))
    page.fill("#prompt textarea", "now with a prompt")
    page.get_by_role("button", name="Draft", exact=True).click()
    page.wait_for_selector("#take video[src]", timeout=60_000)
