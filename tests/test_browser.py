"""A real browser (Debian's Chromium via Playwright) walks the studio's main flow on the demo set.

Screenshots land in the test's temporary folder (printed with -s); look at them when changing the UI.
"""

from __future__ import annotations

import os
import sys
import time

import pytest
from browser_steps import CARD, draft, open_studio, press, text_of, wait_text
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


# Records every src a card's live preview shows, so the test can see it change step by step.
WATCH_PREVIEW = """
() => {
  window.__previews = [];
  const seen = () => {
    for (const img of document.querySelectorAll('#feed img.preview')) {
      if (img.src && !window.__previews.includes(img.src)) window.__previews.push(img.src);
    }
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
    page.wait_for_selector(selector, state="attached")  # a card a late, older draw took away comes back
    played = page.evaluate(PLAY, selector)
    print(f"{selector}: {played} in {time.perf_counter() - started:.2f} s")
    return played["error"] is None and played["video"] > 0 and played["audio"] > 0


def serves_mp4(page, selector: str) -> bool:
    return mp4_bytes(page, selector)[4:8] == b"ftyp"


def mp4_bytes(page, selector: str) -> bytes:
    """The file a <video> plays, fetched as the browser would (its absolute src)."""
    src = page.locator(selector).first.evaluate("video => video.src")
    return page.request.get(src).body()


def test_draft_preview_compare_and_upscale_in_a_real_browser(browser, app_url, tmp_path):
    page = open_studio(browser, app_url)
    assert "output is noise" in page.locator("#banner").inner_text()
    assert "Demo" in page.locator("#studio-header").inner_text()  # the header says the set, in words
    page.evaluate(WATCH_PREVIEW)
    assert page.locator("#sound input").is_checked(), "LTX-2 sets make sound by default"
    assert page.get_by_role("button", name="Enhance", exact=True).is_visible()

    # Studio: type an idea, Draft, watch its card's preview change, get a take that plays with its sound.
    take_id = draft(page, "a red rocket flies over the sea")
    assert page.evaluate("window.__previews.length") >= 2, "the card's preview should update during denoising"
    video = f'{CARD}[data-key="{take_id}"] video'
    assert serves_mp4(page, video)
    info = text_of(page, f'{CARD}[data-key="{take_id}"]')
    assert "384x256" in info and "total" in info and "sound 24 kHz" in info
    assert b"mp4a" in mp4_bytes(page, video)  # the file the <video> plays carries its AAC soundtrack
    assert plays_with_sound(page, video)
    page.screenshot(path=str(tmp_path / "1-draft.png"), full_page=True)

    # Approve & upscale the draft, on its card: a 2x take that names its parent.
    press(page, take_id, "Approve & upscale")
    wait_text(page, "#feed", f"final of draft {take_id}")
    final = page.locator(f"{CARD}[data-state=done]", has_text=f"final of draft {take_id}").first
    assert "768x512" in final.text_content()
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
    page.close()


def test_live_mode_drafts_while_typing(browser, app_url, tmp_path):
    page = open_studio(browser, app_url)
    page.locator("#live input").check()
    page.locator("#prompt textarea").press_sequentially("a cat on a wall", delay=40)
    live = page.locator(f"{CARD}[data-state=done]", has_text="live draft (as you type)")
    live.locator("video").wait_for(timeout=60_000)
    assert "192x128" in live.text_content() and "Live" in live.text_content()
    page.screenshot(path=str(tmp_path / "6-live.png"), full_page=True)
    page.close()


def test_first_and_last_keyframes_then_extend_in_a_real_browser(browser, app_url, tmp_path):
    page = open_studio(browser, app_url)
    page.fill("#prompt textarea", "the rocket becomes a cup of coffee")
    page.locator("#more").get_by_text("More:").click()
    page.locator("#keyframes").get_by_text("Keyframes").click()  # open the strip
    page.locator("#keyframe-0 input[type=file]").set_input_files(str(FIRST_FRAMES / "rocket.jpg"))
    page.locator("#keyframe-1 input[type=file]").set_input_files(str(FIRST_FRAMES / "coffee.png"))
    page.get_by_role("button", name="First + last frame", exact=True).click()
    page.wait_for_function("document.querySelector('#keyframe-time-1 input').value > 0")
    page.wait_for_function("document.querySelectorAll('#keyframe-order img').length == 2")  # thumbnails in time order
    take_id = draft(page, "the rocket becomes a cup of coffee")
    info = text_of(page, f'{CARD}[data-key="{take_id}"]')
    assert "rocket.jpg at 0 s" in info and "coffee.png at 1 s" in info
    press(page, take_id, "Extend…")
    page.locator("#action-run").click()
    wait_text(page, "#feed", f"extension of {take_id}")
    extended = page.locator(f"{CARD}[data-state=done]", has_text=f"extension of {take_id}").first
    assert "73 frames" in extended.text_content()  # 25 + 48 new frames (2 s)
    assert plays_with_sound(page, f'{CARD}[data-key="{extended.get_attribute("data-key")}"] video')
    page.screenshot(path=str(tmp_path / "8-keyframes-extend.png"), full_page=True)
    page.close()


def test_restyle_a_short_mp4_in_a_real_browser(browser, app_url, tmp_path):
    import numpy as np

    from ltx_studio.library import media

    clip = tmp_path / "clip.mp4"
    media.write_mp4(
        clip, np.random.default_rng(0).integers(0, 255, (17, 64, 96, 3), dtype=np.uint8), 24, {}, None, None
    )
    page = open_studio(browser, app_url)
    page.locator("#more").get_by_text("More:").click()
    page.get_by_text("Video to video: restyle or re-time a clip").click()
    page.locator("#source-video input[type=file]").set_input_files(str(clip))
    page.wait_for_selector("#source-video video[src]", timeout=30_000)
    take_id = draft(page, "the same clip in watercolour")
    assert "clip.mp4 at strength 0.8" in text_of(page, f'{CARD}[data-key="{take_id}"]')  # Duration sets the length
    page.close()


def test_enhance_writes_beside_the_idea_and_the_draft_renders_it(browser, app_url):
    page = open_studio(browser, app_url)
    page.fill("#prompt textarea", "a fox in the snow")
    page.get_by_role("button", name="Enhance", exact=True).click()
    page.wait_for_function("(document.querySelector('#enhanced textarea')?.value || '').length > 0", timeout=60_000)
    assert page.locator("#prompt textarea").input_value() == "a fox in the snow"  # the idea stays as typed
    enhanced = page.locator("#enhanced textarea").input_value()
    page.get_by_role("button", name="Draft", exact=True).click()
    card = page.locator(f"{CARD}[data-state=done]", has_text="enhanced from: a fox in the snow").first
    card.locator("video").wait_for(timeout=60_000)
    assert card.locator(".prompt").text_content() == enhanced.strip()  # the rewrite is what rendered
    page.close()
