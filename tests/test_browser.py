"""A real browser (Debian's Chromium via Playwright) walks the studio's main flow on the demo set.

Screenshots land in the test's temporary folder (printed with -s); look at them when changing the UI.
"""

from __future__ import annotations

import os
import sys
import time

import pytest
from conftest import FIRST_FRAMES, free_port, in_ci

CHROMIUM_PATHS = ("/usr/lib/chromium/chromium", "/usr/bin/chromium")


def require_browser(paths=CHROMIUM_PATHS):
    """Debian's Chromium and Playwright's sync API, or a skip; under CI=true a failure, never a skip."""

    def missing(what: str):
        if in_ci():
            pytest.fail(f"CI must run the browser test, but {what}: bash scripts/setup.sh --dev", pytrace=False)
        pytest.skip(f"{what} (bash scripts/setup.sh --dev)")

    chromium = next((p for p in paths if os.path.isfile(p) and os.access(p, os.X_OK)), None)
    if chromium is None:
        missing("Debian's chromium is not installed")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing("Playwright is not installed")
    return chromium, sync_playwright


def test_a_missing_browser_fails_under_ci_and_skips_elsewhere(monkeypatch):
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI must run the browser test, but Debian's chromium"):
        require_browser(["/nonexistent/chromium"])
    monkeypatch.setitem(sys.modules, "playwright.sync_api", None)  # as if Playwright were not installed
    with pytest.raises(pytest.fail.Exception, match="CI must run the browser test, but Playwright"):
        require_browser([sys.executable])
    monkeypatch.setenv("CI", "false")
    with pytest.raises(pytest.skip.Exception, match="Playwright is not installed"):
        require_browser([sys.executable])


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
    from ltx_studio.ui.page import launch

    studio = Studio(model_set_name="demo", outputs=tmp_path_factory.mktemp("browser"), manager=shared_manager)
    port = free_port()
    page = launch(studio, host="127.0.0.1", port=port, block=False)
    yield f"http://127.0.0.1:{port}/"
    page.close()


@pytest.fixture(scope="module")
def browser():
    chromium, sync_playwright = require_browser()
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=chromium,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--no-first-run",
                "--autoplay-policy=no-user-gesture-required",
            ],
        )
        yield browser
        browser.close()


# Plays a <video> from the start, muted (headless Chromium has no speakers; its decoders run all the
# same), until Chromium has decoded some of its sound or 10 s passed; returns the decode counters.
PLAY = """
async (selector) => {
  const video = document.querySelector(selector);
  video.muted = true;
  video.currentTime = 0;
  await video.play();
  const until = Date.now() + 10000;
  while (video.webkitAudioDecodedByteCount === 0 && !video.error && Date.now() < until) {
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return {audio: video.webkitAudioDecodedByteCount, video: video.webkitVideoDecodedByteCount,
          error: video.error && video.error.message};
}
"""


def plays_with_sound(page, selector: str) -> bool:
    """Chromium plays the <video> at `selector` and decodes both its picture and its soundtrack."""
    started = time.perf_counter()
    played = page.evaluate(PLAY, selector)
    print(f"{selector}: {played} in {time.perf_counter() - started:.2f} s")
    return played["error"] is None and played["video"] > 0 and played["audio"] > 0


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
    assert page.locator("#sound input").is_checked(), "LTX-2 sets make sound by default"
    assert page.get_by_role("button", name="Enhance", exact=True).is_visible()

    # Studio: type a prompt, Draft, watch the preview change, get a take that plays with its sound.
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
    assert plays_with_sound(page, "#take video")
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
    assert plays_with_sound(page, "#compare-video-0 video") and plays_with_sound(page, "#compare-video-1 video")
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
    assert plays_with_sound(page, "#takes-video video")
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


def test_first_and_last_keyframes_then_extend_in_a_real_browser(browser, app_url, tmp_path):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(app_url)
    page.wait_for_selector("#prompt textarea")
    page.fill("#prompt textarea", "the rocket becomes a cup of coffee")
    page.locator("#keyframes").get_by_text("Keyframes").click()  # open the strip
    page.locator("#keyframe-0 input[type=file]").set_input_files(str(FIRST_FRAMES / "rocket.jpg"))
    page.locator("#keyframe-1 input[type=file]").set_input_files(str(FIRST_FRAMES / "coffee.png"))
    page.get_by_role("button", name="First + last frame", exact=True).click()
    page.wait_for_function("document.querySelector('#keyframe-time-1 input').value > 0")
    page.wait_for_function("document.querySelectorAll('#keyframe-order img').length == 2")  # thumbnails in time order
    page.get_by_role("button", name="Draft", exact=True).click()
    page.wait_for_function("document.querySelector('#take-info').innerText.includes('keyframes:')", timeout=60_000)
    info = page.locator("#take-info").inner_text()
    assert "rocket.jpg at 0 s" in info and "coffee.png at 1 s" in info
    page.get_by_role("button", name="Extend the take", exact=True).click()
    page.wait_for_function(
        "document.querySelector('#take-info').innerText.includes('extended forward')", timeout=60_000
    )
    assert "73 frames" in page.locator("#take-info").inner_text()  # 25 + 48 new frames (2 s)
    assert plays_with_sound(page, "#take video")
    page.screenshot(path=str(tmp_path / "8-keyframes-extend.png"), full_page=True)


def test_restyle_a_short_mp4_in_a_real_browser(browser, app_url, tmp_path):
    import numpy as np

    from ltx_studio.library import media

    clip = tmp_path / "clip.mp4"
    media.write_mp4(
        clip, np.random.default_rng(0).integers(0, 255, (17, 64, 96, 3), dtype=np.uint8), 24, {}, None, None
    )
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(app_url)
    page.wait_for_selector("#prompt textarea")
    page.fill("#prompt textarea", "the same clip in watercolour")
    page.get_by_text("Video to video: restyle or re-time a clip").click()
    page.locator("#source-video input[type=file]").set_input_files(str(clip))
    page.wait_for_selector("#source-video video[src]", timeout=30_000)
    page.get_by_role("button", name="Draft", exact=True).click()
    page.wait_for_function("document.querySelector('#take-info').innerText.includes('follows video')", timeout=60_000)
    assert "clip.mp4 at strength 0.8" in page.locator("#take-info").inner_text()  # the Duration slider sets the length
