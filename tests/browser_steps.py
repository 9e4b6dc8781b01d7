"""What a person does in the studio's page, as steps the browser tests share: open it, draft, find a
card, press one of its buttons. Cards are found by their take id (`data-key`) or by their prompt."""

from __future__ import annotations

CARD = "#feed .card"


def open_studio(where, url: str, width: int = 1400, height: int = 1000):
    """A page of the studio (`where`: the browser, or a context to share its localStorage), loaded."""
    if hasattr(where, "new_context"):  # the browser: a page of its own
        page = where.new_page(viewport={"width": width, "height": height})
    else:  # a context: its viewport is the context's
        page = where.new_page()
    page.goto(url)
    page.wait_for_selector("#prompt textarea")
    page.wait_for_selector("#feed .cards, #feed .feed-empty")
    # Its load events have run once the browser keeps its signed id: a second tab opened after this one
    # is the same browser (on a busy machine a tab opened sooner would be given an id of its own).
    page.wait_for_function("() => !!localStorage.getItem('ltx-studio-browser')", timeout=60_000)
    return page


def card(page, key: str):
    """The card of a take or a job, by its id."""
    return page.locator(f'{CARD}[data-key="{key}"]')


def take_card(page, prompt: str):
    """The (first) finished card whose prompt is `prompt`."""
    return page.locator(f"{CARD}[data-state=done]", has_text=prompt).first


def draft(page, prompt: str, timeout: float = 60_000) -> str:
    """Type an idea, press Draft, wait for its take's card; returns the take's id."""
    page.fill("#prompt textarea", prompt)
    page.get_by_role("button", name="Draft", exact=True).click()
    found = take_card(page, prompt)
    found.locator("video").wait_for(timeout=timeout)
    return found.get_attribute("data-key")


def press(page, key: str, name: str) -> None:
    """Press a card's button (by its label)."""
    card(page, key).get_by_role("button", name=name, exact=True).click()


def text_of(page, selector: str) -> str:
    """All the text under `selector` (textContent: a closed Details' lines too), once it is on the page: a
    draw a handler sent before the newest can arrive after it, and the tick redraws within a second."""
    page.wait_for_selector(selector, state="attached")
    return page.evaluate(f"document.querySelector('{selector}')?.textContent || ''")


def wait_text(page, selector: str, words: str, timeout: float = 60_000) -> None:
    """Wait until the text under `selector` includes `words`."""
    page.wait_for_function(
        "([s, w]) => (document.querySelector(s)?.textContent || '').includes(w)", arg=[selector, words], timeout=timeout
    )


def no_error_shown(page) -> bool:
    """No Gradio error pill and no error toast anywhere on the page."""
    return (
        page.locator(".toast-body.error, .wrap .error").count() == 0
        and page.get_by_text("Error", exact=True).count() == 0
    )
