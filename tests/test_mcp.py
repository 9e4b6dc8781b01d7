"""The studio as an MCP server (`python app.py --mcp`): an agent lists the tools, reads what each
takes, drafts a take and finds it in the studio, over the `mcp` package's own client."""

from __future__ import annotations

import asyncio
import re

import pytest
from conftest import free_port

TOOLS = {
    "draft", "upscale", "compare", "extend", "retake", "soundtrack", "batch", "takes", "film", "film_export", "finish",
    "passes",
}  # fmt: skip


@pytest.fixture(scope="module")
def mcp_url(tmp_path_factory, shared_manager):
    from ltx_studio.studio import Studio
    from ltx_studio.ui.page import launch

    studio = Studio(model_set_name="demo", outputs=tmp_path_factory.mktemp("mcp"), manager=shared_manager)
    port = free_port()
    page = launch(studio, host="127.0.0.1", port=port, block=False, mcp=True)
    yield studio, f"http://127.0.0.1:{port}/gradio_api/mcp/"
    page.close()
    studio.close()


def session(url, work):
    """Run `work(session)` in an MCP client session over streamable HTTP."""
    from mcp import ClientSession
    from mcp.client.streamable_http import streamable_http_client

    async def run():
        async with streamable_http_client(url) as (read, write, _):
            async with ClientSession(read, write) as client:
                await client.initialize()
                return await work(client)

    return asyncio.run(run())


def test_an_agent_lists_the_studio_tools_with_descriptions_it_can_act_on(mcp_url):
    tools = {t.name: t for t in session(mcp_url[1], lambda c: _tools(c))}
    assert set(tools) >= TOOLS
    assert {"text_to_video", "image_to_video", "video_to_video", "generate_video"} <= set(tools)  # the Spaces' API
    draft = tools["draft"]
    assert draft.description.startswith("Render a draft video take from a text prompt")
    props = draft.inputSchema["properties"]
    assert "pixels" in props["width"]["description"] and "seconds" in props["seconds"]["description"]
    assert draft.inputSchema.get("required") == ["prompt"]
    assert not any(name.startswith(("lambda", "refresh", "run_", "ensure", "resume")) for name in tools)  # UI stays in


def test_an_agent_drafts_a_take_and_finds_it_in_the_studio(mcp_url):
    studio, url = mcp_url

    async def work(client):
        made = await client.call_tool("draft", {"prompt": "a red kite over a beach", "width": 96, "height": 64,
                                                 "frames": 9, "seed": 5})  # fmt: skip
        listed = await client.call_tool("takes", {"limit": 5})
        return made, listed

    made, listed = session(url, work)
    assert not made.isError, made.content
    text = " ".join(c.text for c in made.content if c.type == "text")
    take_id = re.search(r"\d{8}-\d{6}-[0-9a-f]{6}", text).group(0)
    take = studio.take(take_id)
    assert (take.prompt, take.seed, take.width, take.height, take.frames) == ("a red kite over a beach", 5, 96, 64, 9)
    assert take.path("video").exists() and ".mp4" in text
    assert take_id in " ".join(c.text for c in listed.content if c.type == "text")
    assert [job.kind for job in studio.jobs.list() if take_id in job.take_ids] == ["draft"]  # an ordinary job


def test_a_bad_call_is_an_error_result_with_the_studio_s_one_line(mcp_url):
    result = session(mcp_url[1], lambda c: c.call_tool("draft", {"prompt": "x", "width": 4000, "height": 64}))
    assert result.isError
    (line,) = [c.text for c in result.content if c.type == "text"]
    assert "is over" in line and "limit of" in line and "\n" not in line


async def _tools(client):
    return (await client.list_tools()).tools


def test_an_agent_sends_a_first_frame_as_a_data_uri_and_a_url_is_refused(mcp_url):
    import base64
    import io

    import numpy as np
    from PIL import Image

    from ltx_studio.library import media

    studio, url = mcp_url
    red = io.BytesIO()
    Image.new("RGB", (96, 64), (220, 20, 20)).save(red, "PNG")
    inline = "data:image/png;base64," + base64.b64encode(red.getvalue()).decode()

    async def work(client):
        args = {"prompt": "a red wall", "width": 96, "height": 64, "frames": 9, "seed": 3}
        made = await client.call_tool("draft", {**args, "image": inline})
        fetched = await client.call_tool("draft", {**args, "image": "http://127.0.0.1:9/elsewhere.png"})
        return made, fetched

    made, fetched = session(url, work)
    assert not made.isError, made.content
    take_id = re.search(r"\d{8}-\d{6}-[0-9a-f]{6}", " ".join(c.text for c in made.content if c.type == "text"))
    take = studio.take(take_id.group(0))
    assert take.image and np.asarray(media.load_image(take.path("image")))[..., 0].mean() > 200  # the red frame
    assert fetched.isError and "uploaded with the request" in " ".join(c.text for c in fetched.content)


def test_an_agent_makes_a_film_of_two_shots_and_gets_it_back_as_one_mp4(mcp_url):
    studio, url = mcp_url
    shots = [
        {"prompt": "a kite rises", "seconds": 0.4},
        {"prompt": "it climbs on", "seconds": 0.4, "begins": "continue"},
    ]
    result = session(url, lambda c: c.call_tool("film", {"shots": shots, "width": 96, "height": 64}))
    assert not result.isError, result.content
    text = " ".join(c.text for c in result.content if c.type == "text")
    film_id = re.search(r"film-\d{8}-\d{6}-[0-9a-f]{6}", text).group(0)
    film = studio.film(film_id)
    assert film["frames"] == 20 and all(shot["take"] for shot in film["shots"]) and ".mp4" in text
