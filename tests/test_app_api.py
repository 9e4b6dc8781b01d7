"""gradio_client against the studio served on a free local port with the demo set."""

from __future__ import annotations

import pytest
from conftest import FIRST_FRAMES

from ltx_studio.library import media


def test_draft_compare_and_upscale_through_the_api(served, client):
    from gradio_client import handle_file

    studio, _ = served
    video, record = client.predict(prompt="a cat walks on a wall", api_name="/draft")
    frames, _ = media.read_mp4(video)
    assert frames.shape == (record["frames"], record["height"], record["width"], 3)
    assert (record["width"], record["height"], record["variant"]) == (384, 256, "fast")

    videos, records = client.predict(
        prompt="a dog runs",
        variants=["fast", "distilled", "pro"],
        width=128,  # two-stage variants need sides on the 64 grid
        height=64,
        frames=9,
        seed=5,
        api_name="/compare",
    )
    assert [r["variant"] for r in records] == ["fast", "distilled", "pro"]
    assert {r["seed"] for r in records} == {5}
    assert all(media.read_mp4(v)[0].shape == (9, 64, 128, 3) for v in videos)

    final_video, final = client.predict(take_id=record["id"], api_name="/upscale")
    assert (final["width"], final["height"], final["parent"]) == (768, 512, record["id"])
    assert media.read_mp4(final_video)[0].shape[1:3] == (512, 768)
    assert studio.take(record["id"]).approved

    _, from_image = client.predict(
        prompt="", image=handle_file(str(FIRST_FRAMES / "astronaut.png")), frames=9, api_name="/draft"
    )
    assert from_image["width"] == from_image["height"]  # a square photo gives a square draft


def test_bad_input_is_a_clear_error_and_the_server_keeps_serving(client):
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError, match="prompt is empty"):
        client.predict(prompt="  ", api_name="/draft")
    with pytest.raises(AppError, match="no take with id"):
        client.predict(take_id="../../etc/passwd", api_name="/upscale")
    with pytest.raises(AppError, match="over Fast"):
        client.predict(prompt="x", width=4096, height=4096, api_name="/draft")
    _, record = client.predict(prompt="still here", frames=9, api_name="/draft")
    assert record["prompt"] == "still here"


def test_the_api_names_are_stable_and_only_prompt_or_take_id_are_required(client):
    api = client.view_api(return_format="dict", print_info=False)["named_endpoints"]
    assert {"/draft", "/upscale", "/compare"} <= set(api)
    for name, required in (("/draft", "prompt"), ("/upscale", "take_id"), ("/compare", "prompt")):
        params = {p["parameter_name"]: p["parameter_has_default"] for p in api[name]["parameters"]}
        assert [p for p, has_default in params.items() if not has_default] == [required]
    assert {"negative_prompt", "image", "variant", "seed", "width", "height", "seconds"} <= set(
        p["parameter_name"] for p in api["/draft"]["parameters"]
    )


def test_batch_and_takes_through_the_api_and_no_server_path_is_read(client):
    videos, records, skipped = client.predict(
        prompts="prompt,seed,first_frame\na kite,3,/etc/hostname\na boat,5,\n",
        seeds=2, width=96, height=64, frames=9, api_name="/batch",
    )  # fmt: skip
    assert [(r["prompt"], r["seed"]) for r in records] == [("a boat", 5), ("a boat", 6)]
    assert len(videos) == 2 and all(r["settings"]["batch"]["count"] == 2 for r in records)
    assert skipped == [
        "row 2: first_frame is not accepted here (send first frames as uploads, or use the command line)"
    ]
    listed = client.predict(limit=2, api_name="/takes")
    assert {t["id"] for t in listed} == {r["id"] for r in records}
    (one,) = client.predict(take_id=records[0]["id"], api_name="/takes")
    assert one["seed"] == 5


def test_a_lora_path_is_refused_alike_whether_it_exists_or_not(client):
    from gradio_client.exceptions import AppError

    messages = []
    for path in ("/etc/hostname", "/no/such/file"):
        with pytest.raises(AppError) as refused:
            client.predict(prompt="x", width=96, height=64, frames=9, loras=[path], api_name="/draft")
        messages.append(str(refused.value))
    assert messages[0] == messages[1] and "not a LoRA this studio offers" in messages[0]


def test_soundtrack_retake_and_add_sound_through_the_api(client, tmp_path):
    from gradio_client import handle_file
    from test_sound_edits import beat

    track = beat(tmp_path / "beat.wav", seconds=1.0)
    _, record = client.predict(
        prompt="a drummer", soundtrack=handle_file(str(track)), width=96, height=64, api_name="/draft"
    )
    assert record["frames"] == 25 and record["settings"]["soundtrack"]["file"] == "beat.wav"
    _, retake = client.predict(take_id=record["id"], start=0.4, end=0.8, what="video", api_name="/retake")
    assert retake["parent"] == record["id"] and retake["settings"]["retake"]["end"] == 1.042
    _, silent = client.predict(prompt="rain", frames=9, width=96, height=64, audio=False, api_name="/draft")
    _, sounded = client.predict(take_id=silent["id"], prompt="rain on a roof", api_name="/soundtrack")
    assert sounded["audio"] and sounded["parent"] == silent["id"] and sounded["kind"] == "sound"
    with pytest.raises(Exception, match="the retake range is reversed"):
        client.predict(take_id=record["id"], start=0.8, end=0.2, api_name="/retake")


def test_a_finishing_pass_through_the_api(client):
    passes = client.predict(api_name="/passes")
    assert {p["pass"] for p in passes} >= {"frame-rate", "hdr", "alpha"}
    _, record = client.predict(prompt="a drummer", frames=9, width=96, height=64, api_name="/draft")
    video, master, exr, faster = client.predict(
        pass_name="frame-rate", take_id=record["id"], factor=2, api_name="/finish"
    )
    assert faster["parent"] == record["id"] and (faster["fps"], faster["frames"]) == (48, 17)
    assert video.endswith(".mp4") and master is None and exr is None
    _, master, exr, graded = client.predict(pass_name="hdr", take_id=faster["id"], exr=True, api_name="/finish")
    assert master.endswith("hdr.mp4") and exr.endswith(".zip") and graded["parent"] == faster["id"]
    with pytest.raises(Exception, match="the frame-rate factor is 2 or 4"):
        client.predict(pass_name="frame-rate", take_id=record["id"], factor=3, api_name="/finish")


# Every endpoint's parameters (by name, in order) and number of returns, as the page served them before
# its redesign for creators: scripts and MCP clients written against it keep working.
API = {
    "/batch": [["prompts", "seeds", "negative_prompt", "variant", "seed", "width", "height", "seconds", "frames", "audio"], 1],
    "/cancel": [["job_id"], 1],
    "/compare": [["prompt", "variants", "negative_prompt", "image", "seed", "width", "height", "seconds", "frames", "audio", "loras"], 1],
    "/draft": [["prompt", "negative_prompt", "image", "variant", "seed", "width", "height", "resolution", "seconds", "frames", "fps", "steps", "guidance", "audio", "keyframes", "video", "video_strength", "loras", "reference", "reference_strength", "camera", "soundtrack", "audio_start"], 1],
    "/enhance": [["prompt_text", "image_path", "seed_value"], 1],
    "/extend": [["take_id", "seconds", "prompt", "backward"], 1],
    "/film": [["shots", "soundtrack", "references", "title", "fps", "variant", "resolution", "width", "height", "film_id", "rerender", "stale"], 1],
    "/film_export": [["film_id", "version"], 1],
    "/finish": [["pass_name", "take_id", "video", "factor", "prompt", "exr", "seed"], 1],
    "/generate_video": [["input_image", "prompt", "duration", "enhance_prompt", "seed", "randomize_seed", "height", "width"], 2],
    "/jobs": [["limit"], 1],
    "/passes": [[], 1],
    "/retake": [["take_id", "start", "end", "prompt", "what", "seed"], 1],
    "/soundtrack": [["take_id", "video", "prompt", "seed"], 1],
    "/takes": [["take_id", "limit"], 1],
    "/upscale": [["take_id", "mode", "width", "height"], 1],
    **{
        name: [["prompt", "negative_prompt", "input_image_filepath", "input_video_filepath", "height_ui", "width_ui", "mode", "duration_ui", "ui_frames_to_use", "seed_ui", "randomize_seed", "ui_guidance_scale", "improve_texture_flag"], 2]
        for name in ("/image_to_video", "/text_to_video", "/video_to_video")
    },
}  # fmt: skip


def test_the_api_is_the_one_scripts_were_written_against(studio):
    from ltx_studio.ui.page import build

    served = build(studio).get_api_info()
    assert not served["unnamed_endpoints"]
    found = {name: [[p["parameter_name"] for p in e["parameters"]], len(e["returns"])]
             for name, e in served["named_endpoints"].items()}  # fmt: skip
    assert found == API
