"""A film in the Timeline tab, walked in Chromium: three shots written against a short song, rendered,
the middle one rendered again (the others keep their takes), a segment of it retaken, exported as an
mp4 and an .otio."""

from __future__ import annotations

from browser_steps import no_error_shown, open_studio, wait_text
from test_browser import browser, plays_with_sound  # noqa: F401 - the module's Chromium, shared
from test_sound_edits import beat

from ltx_studio.library import media

STRIP = "#film-strip"


def shot_takes(page) -> list[str]:
    return page.eval_on_selector_all(f"{STRIP} [data-shot]", "cards => cards.map(c => c.dataset.take)")


def test_three_shots_against_a_song_rendered_the_middle_one_again_and_exported(browser, served, tmp_path):  # noqa: F811
    studio, url = served
    page = open_studio(browser, url)
    page.get_by_role("tab", name="Timeline").click()
    song = beat(tmp_path / "song.wav", seconds=1.6)
    page.locator("#film-soundtrack input[type=file]").set_input_files(str(song))
    page.wait_for_selector("#film-soundtrack audio, #film-soundtrack [data-testid*=waveform]", state="attached")

    for number, (prompt, begins) in enumerate([("a drummer", "cut"), ("the band joins", "continue"),
                                               ("the street", "cut")], 1):  # fmt: skip
        page.fill("#shot-prompt textarea", prompt)
        page.fill("#shot-seconds input", "0.5")
        page.locator("#shot-begins").get_by_text(begins, exact=True).click()
        page.get_by_role("button", name="New film" if number == 1 else "Add shot", exact=True).click()
        page.wait_for_selector(f'{STRIP} [data-shot="{number}"]')
    (film,) = studio.film_list()
    assert [(s["prompt"], s["begins"], s["frames"]) for s in film["shots"]] == [
        ("a drummer", "cut", 12), ("the band joins", "continue", 12), ("the street", "cut", 12)]  # fmt: skip
    assert (
        film["soundtrack"] == "song.wav"
        and page.evaluate("document.querySelector('#film-strip svg.wave').querySelectorAll('line').length") == 2
    )  # the cuts

    page.get_by_role("button", name="Render film", exact=True).click()
    page.wait_for_selector("#film-player video", timeout=120_000)
    first = shot_takes(page)
    assert plays_with_sound(page, "#film-player video")  # Chromium decodes the film's sound as it plays
    assert all(first) and page.locator(f"{STRIP} img").count() == 3  # each shot's poster

    page.locator(f'{STRIP} [data-shot="2"]').click()
    page.wait_for_selector(f'{STRIP} [data-shot="2"].picked')
    assert page.locator("#shot-prompt textarea").input_value() == "the band joins"
    page.get_by_role("button", name="Re-render shot", exact=True).click()
    page.wait_for_function(
        "([s, old]) => { const c = document.querySelector(s + ' [data-shot=\"2\"]'); return c && c.dataset.take"
        " && c.dataset.take !== old }", arg=[STRIP, first[1]], timeout=120_000,
    )  # fmt: skip
    page.wait_for_function(  # the job has ended: the film of the new version plays
        "v => (document.querySelector('#film-player video')?.src || '').includes(v)",
        arg=f"-v{film['version'] + 1}.mp4", timeout=120_000,
    )  # fmt: skip
    second = shot_takes(page)
    assert second[0] == first[0] and second[2] == first[2] and second[1] != first[1]
    rendered = film["version"]  # the version the three shots were written into (a new film, then two adds)
    assert studio.film(film["id"])["version"] == rendered + 1  # the re-render is a new version; the old one stays
    assert [s["take"] for s in studio.film(film["id"], rendered)["shots"]] == first

    page.locator("#shot-edit").get_by_text("Retake or extend this shot").click()  # a segment of shot 2, in place
    page.fill("#shot-retake-start input", "0.1")
    page.fill("#shot-retake-end input", "0.3")
    page.get_by_role("button", name="Retake segment", exact=True).click()
    page.wait_for_function(
        "([s, old]) => document.querySelector(s + ' [data-shot=\"2\"]')?.dataset.take !== old", arg=[STRIP, second[1]],
        timeout=120_000,
    )  # fmt: skip
    third = shot_takes(page)
    assert studio.take(third[1]).kind == "retake" and third[::2] == first[::2]

    page.get_by_role("button", name="Export", exact=True).click()
    page.wait_for_selector("#film-files a[href*='.otio']", state="attached")
    links = page.eval_on_selector_all("#film-files a[href]", "links => links.map(a => a.href)")
    mp4 = next(link for link in links if ".mp4" in link)
    body = page.request.get(mp4).body()
    (tmp_path / "film.mp4").write_bytes(body)
    info = media.probe_mp4(tmp_path / "film.mp4")
    assert body[4:8] == b"ftyp" and info["frames"] == 36 and info["audio"]["sample_rate"] == 44100
    wait_text(page, "#film-strip", "the street")
    assert no_error_shown(page)
    page.close()


def test_twelve_shots_fit_across_a_wide_page_and_wrap_on_a_phone(browser, served, tmp_path):  # noqa: F811
    import json

    studio, url = served
    (tmp_path / "twelve.json").write_text(json.dumps({"title": "twelve", "shots": [
        {"prompt": f"shot {i} of a long film, with a prompt long enough to need clamping", "seconds": [0.5, 1, 2][i % 3]}
        for i in range(12)
    ]}))  # fmt: skip
    studio.make_film(tmp_path / "twelve.json")
    for width, height in ((1400, 1000), (390, 844)):
        page = open_studio(browser, url, width, height)
        page.get_by_role("tab", name="Timeline").click()
        page.locator("#film-pick input").click()
        page.get_by_text("twelve · 12 shots").click()
        page.wait_for_selector(f'{STRIP} [data-shot="12"]')
        assert page.evaluate("document.documentElement.scrollWidth") <= width  # never scrolls sideways
        boxes = [page.locator(f'{STRIP} [data-shot="{n}"]').bounding_box() for n in (1, 12)]
        rows = {round(box["y"]) for box in boxes}
        assert len(rows) == (1 if width == 1400 else 2)  # one row on a wide page; a phone wraps them
        assert all(box["x"] >= 0 and box["x"] + box["width"] <= width for box in boxes)
        page.close()
