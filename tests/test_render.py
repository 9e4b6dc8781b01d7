"""Stories of one render: text-to-video, seeds, first frames, previews, cancel, snapping."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import FIRST_FRAMES, same_picture, small
from PIL import Image
from safetensors.torch import load_file

from ltx_studio.core.errors import BadInput, Cancelled
from ltx_studio.core.events import CancelToken, Preview, Progress
from ltx_studio.library import media


def test_text_to_video_writes_a_playable_mp4_with_the_right_frames_and_size(studio):
    take = studio.render(small(frames=17))

    frames, meta = media.read_mp4(take.path("video"))
    assert frames.shape == (17, 64, 96, 3)
    assert meta["codec"] == "h264" and meta["pix_fmt"].startswith("yuv420p")
    assert (take.width, take.height, take.frames, take.fps) == (96, 64, 17, 24)
    assert take.path("video").read_bytes()[4:8] == b"ftyp"
    assert Image.open(take.path("poster")).size == (96, 64)
    latents = load_file(str(take.path("latents")))["latents"]
    assert tuple(latents.shape) == (1, 128, 3, 2, 3)  # frames 17 -> 3 latent frames, 64x96 -> 2x3
    assert b'"seed":7' in take.path("video").read_bytes()  # settings embedded in the mp4's metadata
    record = json.loads(take.path("record").read_text())
    assert record["seed"] == 7 and record["prompt"] == "a cat walks on the street"
    assert set(take.timings) >= {"load", "text", "denoise", "decode", "write", "total"}


def test_the_same_seed_gives_identical_frames_and_another_seed_different_ones(studio):
    first = studio.render(small(seed=11))
    again = studio.render(small(seed=11))
    other = studio.render(small(seed=12))

    def latents(take):
        return load_file(str(take.path("latents")))["latents"]

    assert same_picture(first, again)
    assert not latents(first).equal(latents(other))


def test_a_random_seed_is_recorded_and_reproduces_the_take(studio):
    take = studio.render(small(seed=-1))
    assert 0 <= take.seed < 2**32
    again = studio.render(small(seed=take.seed))
    assert load_file(str(take.path("latents")))["latents"].equal(load_file(str(again.path("latents")))["latents"])


def test_image_to_video_from_a_png_with_alpha_follows_the_image_aspect(studio, tmp_path):
    png = tmp_path / "cat.png"
    Image.open(FIRST_FRAMES / "chelsea.png").convert("RGBA").save(png)  # 451x300, with alpha

    take = studio.render(small(image=png, width=None, height=None))

    assert take.width > take.height  # landscape like the photo, about the draft's area
    assert take.width % 32 == 0 and take.height % 32 == 0
    assert Image.open(take.path("image")).size == (451, 300)  # the photo as given, to re-fit at other sizes
    assert media.read_mp4(take.path("video"))[0].shape[1:3] == (take.height, take.width)


def test_image_to_video_from_a_jpeg_with_exif_rotation_is_upright(studio, tmp_path):
    jpeg = tmp_path / "rocket.jpg"
    photo = Image.open(FIRST_FRAMES / "rocket.jpg")  # 640x427 landscape
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display": the picture is really portrait
    photo.save(jpeg, exif=exif)

    take = studio.render(small(image=jpeg, width=None, height=None, prompt=""))

    assert take.height > take.width


def test_a_preview_image_arrives_for_every_denoising_step(studio):
    events = []
    take = studio.render(small(), on_event=events.append)

    previews = [e for e in events if isinstance(e, Preview)]
    assert [p.step for p in previews] == list(range(1, take.steps + 1))
    assert take.steps == 8  # the distilled schedule of the Fast variant
    # Previews are at latent resolution: 64x96 / 32.
    assert all(p.image.dtype == np.uint8 and p.image.shape == (2, 3, 3) for p in previews)
    stages = [e.stage for e in events if isinstance(e, Progress)]
    assert (
        stages.index("load")
        < stages.index("text")
        < stages.index("denoise")
        < stages.index("decode")
        < stages.index("write")
    )


def test_cancelling_mid_render_stops_early_and_stores_nothing(studio):
    cancel = CancelToken()
    steps = []

    def on_event(event):
        if isinstance(event, Progress) and event.stage == "denoise" and event.fraction > 0:
            steps.append(event.fraction)
            if len(steps) == 3:
                cancel.cancel()

    with pytest.raises(Cancelled):
        studio.render(small(), on_event=on_event, cancel=cancel)

    assert len(steps) == 3  # the loop stopped right after the step that cancelled
    assert studio.takes() == []
    assert [p for p in studio.store.staging_dir.iterdir() if p.name != ".lock"] == []
    assert list(studio.store.takes_dir.iterdir()) == []


def test_sizes_and_frames_snap_to_the_grid_and_the_take_records_it(studio):
    take = studio.render(small(width=100, height=70, frames=12))

    assert (take.width, take.height, take.frames) == (96, 64, 9)
    assert take.snapped == {
        "width": {"asked": 100, "used": 96},
        "height": {"asked": 70, "used": 64},
        "frames": {"asked": 12, "used": 9},
    }


def test_seconds_become_frames_at_the_fps(studio):
    take = studio.render(small(frames=None, seconds=0.5, fps=16))
    assert take.frames == 9 and take.fps == 16


def test_a_second_render_of_the_same_prompt_skips_the_text_encoder(studio):
    first = studio.render(small(prompt="a red rocket flies in the sky"))
    second = studio.render(small(prompt="a red rocket flies in the sky", seed=8))
    assert first.settings["prompt_cached"] is False
    assert second.settings["prompt_cached"] is True


@pytest.mark.parametrize(
    "changes, message",
    [
        (dict(prompt="   "), "prompt is empty"),
        (dict(prompt="x" * 2001), "prompt is too long"),
        (dict(width=4096, height=4096), "over Fast"),
        (dict(width=16, height=16), "too small"),
        (dict(frames=500), "over Fast"),
        (dict(seed=-5), "seed must be between"),
        (dict(variant="turbo"), "unknown variant 'turbo'"),
        (dict(resolution="4k", width=None, height=None), "unknown resolution"),
        (dict(image="/no/such/image.png"), "image not found"),
        (dict(steps=0), "steps must be between"),
    ],
)
def test_bad_requests_are_refused_with_a_clear_message_before_anything_runs(studio, changes, message):
    with pytest.raises(BadInput, match=message):
        studio.render(small(**changes))
    assert studio.takes() == []
