"""How a film looks in the Timeline tab: its shots as a strip of cards, each as wide as it is long, and
the soundtrack's waveform under them with the cut points, drawn on the server as one piece of HTML.

A card shows the shot's poster (once rendered), number, length, how it begins, its prompt and whether
it is stale; a click on it picks the shot (`trigger('click', {shot})`). On a page 1400 px wide a film
of 12 shots sits in one row without scrolling sideways; on a phone the cards wrap in three columns
and the waveform stays whole under them.
"""

from __future__ import annotations

import html
import threading
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

import numpy as np

if TYPE_CHECKING:
    from ..studio import Studio

BINS = 240  # waveform columns
_waves: dict[str, np.ndarray] = {}  # a kept soundtrack's file name (its content's hash) -> its envelope
_waves_lock = threading.Lock()

ON_LOAD = """
element.addEventListener('click', (event) => {
  const card = event.target.closest('[data-shot]');
  if (!card) return;
  event.preventDefault();
  trigger('click', {shot: Number(card.dataset.shot)});
});
"""

CSS = """
#film-strip .strip {display: flex; gap: 4px; width: 100%}
#film-strip .shot {flex: var(--len) 1 0; min-width: 0; border: 1px solid var(--border-color-primary);
  border-radius: 6px; padding: 4px; cursor: pointer; background: var(--block-background-fill); overflow: hidden}
#film-strip .shot.picked {outline: 2px solid var(--color-accent); outline-offset: 1px}
#film-strip .shot.stale {border-color: #e0a800; background: rgba(224,168,0,.08)}
#film-strip .shot img, #film-strip .shot .blank {width: 100%; height: 56px; object-fit: cover;
  border-radius: 4px; display: block; background: var(--background-fill-secondary)}
#film-strip .shot .head {font-size: 12px; font-weight: 600; white-space: nowrap; overflow: hidden; text-overflow: ellipsis}
#film-strip .shot .prompt {font-size: 11px; line-height: 1.25; max-height: 2.5em; overflow: hidden; opacity: .85}
#film-strip .shot .badge {font-size: 10px; color: #a87900; font-weight: 600}
#film-strip .wave {width: 100%; height: 48px; display: block; margin-top: 4px}
#film-strip .empty {padding: 12px; opacity: .7}
@media (max-width: 600px) {
  #film-strip .strip {display: grid; grid-template-columns: repeat(3, minmax(0, 1fr))}
}
"""


def strip_html(studio: Studio, film: dict | None, picked: int | None = None) -> str:
    """A film's strip and waveform (`film`: `Studio.film`'s description), or a line saying how to start one."""
    if not film:
        return (
            '<div class="empty">No film yet: write the first shot below (and drop a song on Soundtrack if it has '
            "one), then New film.</div>"
        )
    cards = []
    for shot in film["shots"]:
        number = shot["shot"]
        classes = "shot" + (" picked" if number == picked else "") + (" stale" if shot["stale"] else "")
        poster = _poster(studio, shot["take"])
        picture = f'<img src="{poster}" alt="">' if poster else '<div class="blank"></div>'
        state = ' <span class="badge">stale</span>' if shot["stale"] else ("" if shot["take"] else " · to render")
        cards.append(
            f'<div class="{classes}" data-shot="{number}" data-take="{shot["take"] or ""}" style="--len: {shot["seconds"]:.3f}" '
            f'title="{html.escape(shot["prompt"])}">{picture}'
            f'<div class="head">{number} · {shot["seconds"]:.2f} s · {shot["begins"]}{state}</div>'
            f'<div class="prompt">{html.escape(shot["prompt"])}</div></div>'
        )
    return f'<div class="strip">{"".join(cards)}</div>{_wave_svg(studio, film)}'


def film_choices(studio: Studio, owner: str | None) -> list[tuple[str, str]]:
    """The films a person may open, newest first, as (label, id)."""
    return [
        (
            f"{film['title'] or 'film'} · {len(film['shots'])} shots · v{film['version']} · {film['id'][5:20]}",
            film["id"],
        )
        for film in studio.film_list(owner=owner)
    ]


def _poster(studio: Studio, take_id: str | None) -> str | None:
    if not take_id or not studio.films.has_take(take_id):
        return None
    path = studio.take(take_id).path("poster")
    return "gradio_api/file=" + quote(str(path)) if path.exists() else None


def _wave_svg(studio: Studio, film: dict) -> str:
    """The soundtrack's envelope over the film's length, with a line at each cut (none: the cuts alone)."""
    total = max(film["seconds"], 1e-6)
    lines = "".join(
        f'<line x1="{shot["start"] / total * BINS:.2f}" x2="{shot["start"] / total * BINS:.2f}" y1="0" y2="48" '
        'stroke="currentColor" stroke-width="0.6" opacity=".8"/>'
        for shot in film["shots"][1:]
    )
    envelope = _envelope(studio, film)
    path = ""
    if envelope is not None:  # mirrored about the middle: peaks up and down
        top = " ".join(f"{i + 0.5:.1f},{24 - 22 * v:.1f}" for i, v in enumerate(envelope))
        bottom = " ".join(f"{i + 0.5:.1f},{24 + 22 * v:.1f}" for i, v in reversed(list(enumerate(envelope))))
        path = f'<polygon points="{top} {bottom}" fill="var(--color-accent)" opacity=".55"/>'
    label = "soundtrack" if envelope is not None else "no soundtrack: the sound is generated"
    return (
        f'<svg class="wave" viewBox="0 0 {BINS} 48" preserveAspectRatio="none" role="img" aria-label="{label}">'
        f"{path}{lines}</svg>"
    )


def _envelope(studio: Studio, film: dict) -> np.ndarray | None:
    """The film's soundtrack as BINS peaks in 0..1 over the film's length (decoded once per file)."""
    record = studio.films.store.get(film["id"], film["version"]).record
    track = record.get("soundtrack")
    if not track:
        return None
    name = Path(track["file"]).name
    with _waves_lock:
        peaks = _waves.get(name)
    if peaks is None:
        from ..library.sound import read_soundtrack

        song = read_soundtrack(studio.store.root / track["file"])
        wave = np.abs(song.waveform).max(axis=0)
        peaks = np.array([wave[int(i * song.rate / 10) : int((i + 1) * song.rate / 10)].max(initial=0) for i in
                          range(int(np.ceil(len(wave) / (song.rate / 10))))])  # fmt: skip
        with _waves_lock:
            _waves[name] = peaks  # a tenth of a second a column, before fitting to a film's length
    seconds = film["seconds"]
    index = np.minimum((np.arange(BINS) + 0.5) / BINS * seconds * 10, len(peaks) - 1).astype(int)
    top = float(peaks.max()) or 1.0
    return peaks[index] / top
