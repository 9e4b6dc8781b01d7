"""Scripts written for Lightricks' public Spaces, run unchanged against the studio (only the address
differs): the LTX-Video distilled Space's /text_to_video, /image_to_video, /video_to_video and the
LTX-2.3 Space's /generate_video, over gradio_client and the real app on the tiny demo sets.

Sizes and lengths are tiny (192x128 or less, 9 to 17 frames) so the file runs in about a minute on a
small CPU.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import FIRST_FRAMES, free_port

from ltx_studio.library import media

SPACE_NEGATIVE = "worst quality, inconsistent motion, blurry, jittery, distorted"
DISTILLED_PARAMETERS = [
    "prompt", "negative_prompt", "input_image_filepath", "input_video_filepath", "height_ui", "width_ui", "mode",
    "duration_ui", "ui_frames_to_use", "seed_ui", "randomize_seed", "ui_guidance_scale", "improve_texture_flag",
]  # fmt: skip
LTX23_PARAMETERS = ["input_image", "prompt", "duration", "enhance_prompt", "seed", "randomize_seed", "height", "width"]


@pytest.fixture(scope="module")
def ltxv_client(tmp_path_factory):
    """The real app over the LTX-Video demo set (tiny random models, silent): (studio, client)."""
    from gradio_client import Client

    from ltx_studio.studio import Studio
    from ltx_studio.ui.page import launch

    studio = Studio(model_set_name="demo-ltxv", outputs=tmp_path_factory.mktemp("served-ltxv"))
    port = free_port()
    page = launch(studio, host="127.0.0.1", port=port, block=False)
    yield studio, Client(f"http://127.0.0.1:{port}/", verbose=False)
    page.close()
    studio.close()


def new_takes(studio, call):
    """Run `call` and return (its result, the takes it made, oldest first)."""
    before = {t.id for t in studio.takes()}
    result = call()
    return result, [t for t in reversed(studio.takes()) if t.id not in before]


def space_call(client, api_name: str, **changes):
    """A distilled-Space call with every argument spelled out, as Space clients write it (small and short)."""
    arguments = dict(
        prompt="a red fox runs through fresh snow",
        negative_prompt=SPACE_NEGATIVE,
        input_image_filepath=None,
        input_video_filepath=None,
        height_ui=128,
        width_ui=192,
        mode=api_name.strip("/").replace("_", "-"),
        duration_ui=0.3,  # 9 frames at the model's 24 fps
        ui_frames_to_use=9,
        seed_ui=42,
        randomize_seed=False,
        ui_guidance_scale=1.0,
        improve_texture_flag=True,
    )
    arguments.update(changes)
    return client.predict(**arguments, api_name=api_name)


def test_text_to_video_as_a_space_client_calls_it_gives_the_video_and_seed(served, client):
    studio, _ = served
    (video, seed), takes = new_takes(studio, lambda: space_call(client, "/text_to_video"))

    # Gradio 5 Spaces send a video output as {"video", "subtitles"}: clients read result[0]["video"]
    assert set(video) == {"video", "subtitles"} and video["subtitles"] is None
    assert Path(video["video"]).suffix == ".mp4" and Path(video["video"]).is_file()
    assert seed == 42
    assert media.read_mp4(video["video"])[0].shape == (9, 128, 192, 3)

    # improve_texture_flag: the two-stage recipe, a half-size draft and its latent x2 final
    draft, final = takes
    assert (draft.kind, draft.width, draft.height) == ("draft", 96, 64)
    assert (final.kind, final.width, final.height, final.parent) == ("upscale", 192, 128, draft.id)
    assert draft.seed == final.seed == 42 and draft.negative_prompt == SPACE_NEGATIVE
    assert final.audio  # the demo set is LTX-2: its videos have sound

    (video, seed), takes = new_takes(studio, lambda: space_call(client, "/text_to_video", improve_texture_flag=False))
    [take] = takes
    assert (take.kind, take.width, take.height, take.parent, take.seed) == ("draft", 192, 128, None, 42)
    assert media.read_mp4(video["video"])[0].shape == (9, 128, 192, 3)


def test_image_to_video_starts_from_the_png_and_returns_the_random_seed_it_drew(served, client):
    from gradio_client import handle_file

    studio, _ = served
    (video, seed), [take] = new_takes(
        studio,
        lambda: space_call(
            client,
            "/image_to_video",
            prompt="the cat looks up",
            input_image_filepath=handle_file(str(FIRST_FRAMES / "chelsea.png")),
            input_video_filepath="",
            randomize_seed=True,
            improve_texture_flag=False,
        ),
    )
    assert isinstance(seed, int) and 0 <= seed <= 2**32 - 1
    assert take.seed == seed and take.image  # the take keeps its first frame
    assert Path(video["video"]).is_file()


def test_values_come_as_clients_send_them_floats_text_and_empty_files(served, client):
    """Sliders arrive as floats, numbers as text from some clients, and an absent file as "" or None."""
    studio, _ = served
    for absent in ("", None):
        (_, seed), [take] = new_takes(
            studio,
            lambda absent=absent: space_call(
                client,
                "/image_to_video",
                input_image_filepath=absent,
                input_video_filepath=absent,
                height_ui=128.0,
                width_ui="192",
                duration_ui="0.3",
                seed_ui="7",
                ui_frames_to_use=9.0,
                ui_guidance_scale="1",
                improve_texture_flag=False,
            ),
        )
        assert (take.width, take.height, take.frames, take.seed, seed, take.image) == (192, 128, 9, 7, 7, None)

    # positional, in the Space's order, as some scripts call it
    arguments = ["a boat at dawn", SPACE_NEGATIVE, None, None, 128, 192, "text-to-video", 0.3, 9, 5, False, 1.0, False]
    (_, seed), [take] = new_takes(studio, lambda: client.predict(*arguments, api_name="/text_to_video"))
    assert (take.prompt, take.width, take.height, take.seed, seed) == ("a boat at dawn", 192, 128, 5, 5)


def test_video_to_video_follows_the_first_frames_of_a_clip(served, client):
    from gradio_client import handle_file

    studio, _ = served
    (clip, _), _ = new_takes(studio, lambda: space_call(client, "/text_to_video", improve_texture_flag=False))
    (video, _), takes = new_takes(
        studio,
        lambda: space_call(
            client,
            "/video_to_video",
            prompt="the same shot at night",
            input_video_filepath=handle_file(clip["video"]),  # an earlier take's mp4
            input_image_filepath=handle_file(str(FIRST_FRAMES / "chelsea.png")),  # not this endpoint's: ignored
            duration_ui=0.7,  # 17 frames: the clip runs on past the 9 it follows
            ui_frames_to_use=9,
            improve_texture_flag=False,
        ),
    )
    [take] = takes
    assert take.frames == 17 and take.image is None
    assert take.settings["video"]["frames"] == 9  # only the first ui_frames_to_use frames
    assert take.settings["video"]["name"] == "video.mp4"  # the clip as given (the engine takes its first frames)
    assert media.read_mp4(video["video"])[0].shape == (17, 128, 192, 3)


def test_generate_video_renders_with_sound_and_keeps_the_typed_idea_when_enhanced(served, client):
    from gradio_client import handle_file

    studio, _ = served
    idea = "a drummer plays on a rooftop"
    (video, seed), [take] = new_takes(
        studio,
        lambda: client.predict(
            input_image=None,
            prompt=idea,
            duration=0.3,
            enhance_prompt=True,
            seed=11,
            randomize_seed=False,
            height=64,
            width=96,
            api_name="/generate_video",
        ),
    )
    assert Path(video).suffix == ".mp4" and seed == take.seed == 11
    assert take.typed_prompt == idea and take.prompt != idea  # rendered the enhanced prompt
    assert take.audio and media.read_audio(video)[0] is not None
    assert (take.width, take.height, take.frames) == (96, 64, 9)

    (video, seed), [take] = new_takes(
        studio,
        lambda: client.predict(
            input_image=handle_file(str(FIRST_FRAMES / "coffee.png")),
            prompt=idea,
            duration=0.3,
            enhance_prompt=False,
            randomize_seed=True,
            api_name="/generate_video",
        ),
    )
    assert take.prompt == idea and take.typed_prompt is None and take.image
    assert 0 <= seed <= 2**31 - 1 and seed == take.seed
    # the Space's default 1536x1024 is over the demo's limit: the variant's full size at 3:2 instead
    assert (take.width, take.height) == (768, 512)


def test_oversize_and_bad_values_are_one_line_errors_and_the_server_keeps_serving(served, client):
    from gradio_client.exceptions import AppError

    studio, _ = served
    before = len(studio.takes())
    for improve in (True, False):
        with pytest.raises(AppError, match=r"over Fast \(tiny, 1 block\)'s limit of 1280x704") as error:
            space_call(client, "/text_to_video", width_ui=8000, improve_texture_flag=improve)
        assert "\n" not in str(error.value)
    with pytest.raises(AppError, match="limit of 1280x704"):
        client.predict(prompt="x", width=8000, height=512, enhance_prompt=False, api_name="/generate_video")
    with pytest.raises(AppError, match=r"209 frames is over Fast.*limit of 121 \(5.0 s at 24 fps\)"):
        space_call(client, "/text_to_video", duration_ui=8.5)  # 209 frames at 24 fps: the demo stops at 121
    with pytest.raises(AppError, match="width must be between 1 and 8192, got -192"):
        space_call(client, "/text_to_video", width_ui=-192)
    with pytest.raises(AppError, match="seed_ui must be a number"):
        space_call(client, "/text_to_video", seed_ui="forty-two")
    with pytest.raises(AppError, match="uploaded with the request"):
        space_call(client, "/image_to_video", input_image_filepath="/etc/passwd")
    assert len(studio.takes()) == before  # nothing rendered

    (_, seed), _ = new_takes(studio, lambda: space_call(client, "/text_to_video", improve_texture_flag=False))
    assert seed == 42


def test_on_an_ltx_video_set_the_distilled_endpoints_work_and_generate_video_says_to_switch(ltxv_client):
    from gradio_client.exceptions import AppError

    studio, client = ltxv_client
    (video, seed), takes = new_takes(studio, lambda: space_call(client, "/text_to_video"))
    assert [(t.kind, t.width, t.height, t.audio) for t in takes] == [
        ("draft", 96, 64, False),
        ("upscale", 192, 128, False),
    ]
    assert seed == 42 and media.read_audio(video["video"])[0] is None

    with pytest.raises(AppError, match="needs an LTX-2 model set.*switch the model set to") as error:
        client.predict(prompt="a drum solo", duration=0.3, api_name="/generate_video")
    assert "\n" not in str(error.value) and "demo-ltxv" in str(error.value)


def test_the_api_lists_the_spaces_endpoints_with_their_parameter_names_in_order(client):
    api = client.view_api(return_format="dict", print_info=False)["named_endpoints"]
    assert {"/draft", "/upscale", "/compare"} <= set(api)  # the studio's own endpoints stay
    for name in ("/text_to_video", "/image_to_video", "/video_to_video"):
        params = api[name]["parameters"]
        assert [p["parameter_name"] for p in params] == DISTILLED_PARAMETERS
        defaults = {p["parameter_name"]: p["parameter_default"] for p in params if p["parameter_has_default"]}
        assert defaults == {
            "negative_prompt": SPACE_NEGATIVE,
            "input_image_filepath": None,
            "input_video_filepath": None,
            "height_ui": 512,
            "width_ui": 704,
            "mode": name.strip("/").replace("_", "-"),
            "duration_ui": 2.0,
            "ui_frames_to_use": 9,
            "seed_ui": 42,
            "randomize_seed": True,
            "ui_guidance_scale": 1.0,
            "improve_texture_flag": True,
        }
        assert len(api[name]["returns"]) == 2  # (video, seed)
    params = api["/generate_video"]["parameters"]
    assert [p["parameter_name"] for p in params] == LTX23_PARAMETERS
    assert {p["parameter_name"]: p["parameter_default"] for p in params}["duration"] == 3.0
    assert len(api["/generate_video"]["returns"]) == 2


def test_each_endpoint_describes_itself_for_agents():
    """Gradio's MCP server reads the first paragraph as the tool's description and Args: per parameter."""
    import gradio as gr
    from gradio.utils import get_function_description

    from ltx_studio.ui.server import spaces

    with gr.Blocks() as page:
        spaces.add_space_endpoints(studio=None)
    for fn in (page.fns[i].fn for i in page.fns):
        description, parameters, returns = get_function_description(fn)
        assert description and returns, fn.__name__
        assert all(parameters.values()), f"{fn.__name__}: undocumented {[p for p, d in parameters.items() if not d]}"
