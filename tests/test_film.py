"""A film as data: a shot list read from TOML or JSON into shots against one soundtrack, its timeline on
the frame grid, and every bad input refused in one line before anything renders."""

from __future__ import annotations

import json

import pytest
from conftest import FIRST_FRAMES
from test_sound_edits import beat

from ltx_studio.core.errors import BadInput
from ltx_studio.render.film import MAX_FILE_BYTES, check_film, read_film, timeline

EXAMPLE = FIRST_FRAMES.parent / "film-example.toml"


def test_the_shipped_example_reads_as_three_shots(studio):
    film = read_film(EXAMPLE)
    assert [shot.begins for shot in film.shots] == ["cut", "continue", "cut"]
    assert film.shots[0].reference == (FIRST_FRAMES / "rocket.jpg").resolve()
    assert film.shots[2].options == {"camera": "dolly-in"} and film.seconds == 5.0
    assert check_film(film, studio.model_set) == 24


def test_the_timeline_puts_each_cut_on_the_soundtracks_time(tmp_path):
    (tmp_path / "film.json").write_text(json.dumps({"shots": [
        {"prompt": "one", "seconds": 1.3}, {"prompt": "two", "seconds": 0.71, "begins": "continue"},
        {"prompt": "three", "seconds": 2},
    ]}))  # fmt: skip
    spans = timeline(read_film(tmp_path / "film.json"), 24)
    assert [(s.start, s.frames) for s in spans] == [(0, 31), (31, 17), (48, 48)]  # round(seconds * 24), butt-joined
    for span, cut in zip(spans[1:], (1.3, 2.01), strict=True):
        assert abs(span.start / 24 - cut) <= 0.5 / 24  # within half a frame of the asked time


BAD = {
    "an empty film": ("", "has no shots"),
    "a continue first shot": ('[[shots]]\nprompt = "a"\nseconds = 1\nbegins = "continue"', "nothing before it"),
    "a shot without a length": ('[[shots]]\nprompt = "a"', "seconds must be a number"),
    "a shot of no length": ('[[shots]]\nprompt = "a"\nseconds = 0', "more than 0"),
    "a shot that begins oddly": (
        '[[shots]]\nprompt = "a"\nseconds = 1\nbegins = "fade"',
        "'cut', 'continue' or 'bridge'",
    ),
    "a bridge last": (
        '[[shots]]\nprompt = "a"\nseconds = 1\n[[shots]]\nprompt = "b"\nseconds = 1\nbegins = "bridge"',
        "a bridge goes between two shots",
    ),
    "an unknown key": ('[[shots]]\nprompt = "a"\nseconds = 1\ncolour = "red"', "unknown key 'colour'"),
    "a missing reference": ('[[shots]]\nprompt = "a"\nseconds = 1\nreference = "gone.png"', "gone.png: no such file"),
    "a reference that is no image": ('[[shots]]\nprompt = "a"\nseconds = 1\nreference = "text.png"', "not an image"),
    "a missing soundtrack": ('soundtrack = "gone.wav"\n[[shots]]\nprompt = "a"\nseconds = 1', "gone.wav: no such"),
    "not TOML": ("[[shots]\nprompt =", "cannot be read"),
    "too many shots": ("".join('[[shots]]\nprompt = "a"\nseconds = 1\n' for _ in range(65)), "at most 64"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_a_bad_shot_list_is_refused_in_one_line(case, tmp_path):
    text, words = BAD[case]
    (tmp_path / "text.png").write_text("not a picture")
    (tmp_path / "film.toml").write_text(text)
    with pytest.raises(BadInput) as refused:
        read_film(tmp_path / "film.toml")
    assert words in str(refused.value) and "\n" not in str(refused.value)


def test_a_film_the_set_cannot_render_is_refused_before_it_renders(studio, tmp_path):
    long = tmp_path / "long.toml"
    long.write_text('[[shots]]\nprompt = "a very long shot"\nseconds = 30')
    with pytest.raises(BadInput, match="shot 1 is 30 s: fast renders at most 5.0 s a shot"):
        check_film(read_film(long), studio.model_set)
    beat(tmp_path / "song.wav", seconds=2.0)
    short = tmp_path / "short.toml"
    short.write_text(
        'soundtrack = "song.wav"\n[[shots]]\nprompt = "a"\nseconds = 1.5\n[[shots]]\nprompt = "b"\nseconds = 1'
    )
    with pytest.raises(BadInput, match="song.wav is 2.00 s, shorter than the shots \\(2.50 s\\)"):
        check_film(read_film(short), studio.model_set)
    huge = tmp_path / "huge.toml"
    huge.write_bytes(b"#" * (MAX_FILE_BYTES + 1))
    with pytest.raises(BadInput, match="larger than"):
        read_film(huge)  # refused from its size, never parsed


def test_a_film_is_versioned_in_the_take_store_and_survives_a_restart(tmp_path):
    import threading

    from ltx_studio.library.films import FilmStore
    from ltx_studio.library.takes import TakeStore

    films = FilmStore(TakeStore(tmp_path / "outputs"))
    first = films.create({"shots": [{"prompt": "a", "take": "t1"}, {"prompt": "b", "take": "t2"}]}, owner="browser:a")
    assert first.version == 1
    edited = films.revise(first.id, {"shots": [{"prompt": "a", "take": "t1"}, {"prompt": "b!", "take": "t3"}]})
    assert (edited.id, edited.version, edited.owner) == (first.id, 2, "browser:a")
    threads = [threading.Thread(target=films.revise, args=(first.id, {"n": n})) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    again = FilmStore(TakeStore(tmp_path / "outputs"))  # a restart: the index is read anew
    assert [v.version for v in again.versions(first.id)] == [1, 2, 3, 4, 5, 6]  # edits at once: none lost
    assert again.get(first.id, 1).record["shots"][1]["prompt"] == "b"  # the old version kept as it was
    assert again.get(first.id).version == 6 and [f.id for f in again.list("browser:a")] == [first.id]
    assert again.list("browser:b") == []
    for bad in ("../etc", "film-x", first.id.replace("film-", "")):
        with pytest.raises(BadInput, match="no film with id"):
            again.get(bad)
    with pytest.raises(BadInput, match="no version 9 of film"):
        again.get(first.id, 9)
