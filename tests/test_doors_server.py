"""The server's doors, probed over HTTP against the real launch: a page on another site cannot
reach the studio through a rebound name, a stranger cannot guess passwords at speed, MCP and cancel
need credentials under --auth and MCP works with them, and Ray actors never see HF_TOKEN."""

from __future__ import annotations

import asyncio
import re

import httpx
import pytest
from conftest import free_port

FOREIGN = "rebind.attacker.example"
ALLOWED = "studio.lan"  # added with --allow-host
USERS_FILE = "# who may sign in\nada:correct horse:admin\n\nbob:pa:ss\n"  # bob's password holds a colon


def serve(tmp_path_factory, shared_manager, **options):
    from ltx_studio.studio import Studio
    from ltx_studio.ui.page import launch

    studio = Studio(model_set_name="demo", outputs=tmp_path_factory.mktemp("doors"), manager=shared_manager)
    port = free_port()
    page = launch(studio, host="127.0.0.1", port=port, block=False, mcp=True, **options)
    return studio, page, port


@pytest.fixture(scope="module")
def open_studio(tmp_path_factory, shared_manager):
    """Loopback, no password, MCP on, one extra name allowed: (studio, base url, port)."""
    studio, page, port = serve(tmp_path_factory, shared_manager, allow_hosts=[ALLOWED])
    yield studio, f"http://127.0.0.1:{port}", port
    page.close()
    studio.close()


@pytest.fixture(scope="module")
def locked_studio(tmp_path_factory, shared_manager):
    """Loopback, `--auth FILE` with an admin and a user, MCP on: (studio, base url)."""
    from ltx_studio.ui.server.doors import Users

    users_file = tmp_path_factory.mktemp("users") / "users.txt"
    users_file.write_text(USERS_FILE)
    studio, page, port = serve(tmp_path_factory, shared_manager, auth=Users.parse(str(users_file)))
    yield studio, f"http://127.0.0.1:{port}"
    page.close()
    studio.close()


def from_address(address: str) -> httpx.Client:
    """A client whose connections come from `address` (all of 127.0.0.0/8 is this machine)."""
    return httpx.Client(transport=httpx.HTTPTransport(local_address=address), timeout=30)


def mcp_session(url: str, work, auth=None):
    """Run `work(session)` in an MCP client session over streamable HTTP, as an agent would."""
    from mcp import ClientSession
    from mcp.client.streamable_http import streamable_http_client

    async def run():
        async with httpx.AsyncClient(auth=auth, timeout=60) as http:
            async with streamable_http_client(url, http_client=http) as (read, write, _):
                async with ClientSession(read, write) as client:
                    await client.initialize()
                    return await work(client)

    return asyncio.run(run())


# --- our own host only ----------------------------------------------------------------------------


def test_a_rebound_name_is_refused_at_every_door(open_studio):
    _, url, _ = open_studio
    foreign = {"host": FOREIGN}
    probes = {
        "page": httpx.get(url + "/", headers=foreign),
        "config": httpx.get(url + "/config", headers=foreign),
        "api info": httpx.get(url + "/gradio_api/info", headers=foreign),
        "takes call": httpx.post(url + "/gradio_api/call/takes", json={"data": [5]}, headers=foreign),
        "queue join": httpx.post(url + "/gradio_api/queue/join", json={}, headers=foreign),
        "upload": httpx.post(url + "/gradio_api/upload", files={"files": ("a.png", b"x")}, headers=foreign),
        "cancel": httpx.post(url + "/gradio_api/cancel", json={}, headers=foreign),
        "mcp schema": httpx.get(url + "/gradio_api/mcp/schema", headers=foreign),
        "mcp": httpx.post(url + "/gradio_api/mcp/", json={}, headers=foreign),
    }
    for door, answer in probes.items():
        assert answer.status_code == 403, door
        (line,) = answer.text.splitlines()
        assert f"Host '{FOREIGN}'" in line and f"--allow-host {FOREIGN}" in line, door


def test_a_page_from_another_site_is_refused_even_with_our_host(open_studio):
    _, url, port = open_studio
    answer = httpx.post(url + "/gradio_api/call/takes", json={"data": [5]}, headers={"origin": f"http://{FOREIGN}"})
    assert answer.status_code == 403 and FOREIGN in answer.text
    assert httpx.get(url + "/config", headers={"origin": "null"}).status_code == 403
    assert httpx.get(url + "/config", headers={"origin": f"http://localhost:{port}"}).status_code == 200


def test_this_machine_s_names_and_an_allowed_host_are_served(open_studio):
    _, url, port = open_studio
    for host in (f"localhost:{port}", "localhost", f"127.0.0.1:{port}", f"[::1]:{port}", "LOCALHOST.", ALLOWED):
        assert httpx.get(url + "/config", headers={"host": host}).status_code == 200, host
    made = httpx.post(url + "/gradio_api/call/takes", json={"data": [5]}, headers={"host": ALLOWED})
    assert made.status_code == 200 and made.json()["event_id"]
    uploaded = httpx.post(url + "/gradio_api/upload", files={"files": ("a.txt", b"hello")})
    assert uploaded.status_code == 200 and uploaded.json()[0].endswith("a.txt")
    tools = mcp_session(url + "/gradio_api/mcp/", lambda c: c.list_tools())
    assert "draft" in {tool.name for tool in tools.tools}


def test_hosts_a_studio_serving_other_machines_answers_to():
    from ltx_studio.ui.server.doors import HostRule

    lan = HostRule("0.0.0.0", ["box.lan"])
    assert lan.refusal("192.168.1.20:7860", None) is None  # an address cannot be rebound
    assert lan.refusal("box.lan:7860", "http://box.lan:7860") is None
    assert lan.refusal("[fe80::1]:7860", None) is None
    assert "--allow-host other.lan" in lan.refusal("other.lan", None)
    assert HostRule("127.0.0.1").refusal("192.168.1.20", None) is not None  # loopback: our names only
    shared = HostRule("127.0.0.1")
    shared.allow("abc123.gradio.live")  # what launch does once the share link is known
    assert shared.refusal("abc123.gradio.live", "https://abc123.gradio.live") is None


# --- several users, and a limit on guessing -------------------------------------------------------


def test_a_users_file_signs_in_each_user_and_names_the_admins(locked_studio):
    from ltx_studio.ui.server.doors import Users

    studio, url = locked_studio
    assert studio.admins == frozenset({"ada"})
    for user, password in (("ada", "correct horse"), ("bob", "pa:ss")):
        with from_address("127.0.0.3") as client:
            assert client.post(url + "/login", data={"username": user, "password": password}).status_code == 200
            assert client.get(url + "/gradio_api/info").status_code == 200
    assert Users.parse("solo:pw") == Users({"solo": "pw"}, frozenset({"solo"}))  # the one user is the admin


def test_wrong_passwords_are_refused_after_five_without_slowing_a_correct_login(locked_studio, report):
    import time

    _, url = locked_studio
    with from_address("127.0.0.7") as guesser:
        started = time.perf_counter()
        codes = [guesser.post(url + "/login", data={"username": "ada", "password": f"guess{i}"}) for i in range(50)]
        took = time.perf_counter() - started
        assert [c.status_code for c in codes] == [400] * 5 + [429] * 45
        assert "try again in" in codes[-1].text and int(codes[-1].headers["retry-after"]) >= 1
        # the right password from the locked address waits too (it cannot be told from a guess)...
        locked = guesser.post(url + "/login", data={"username": "ada", "password": "correct horse"})
        assert locked.status_code == 429
        # ...and basic credentials count as guesses alike
        assert guesser.get(url + "/gradio_api/info", auth=("ada", "nope")).status_code == 429
    with from_address("127.0.0.8") as someone_else:
        started = time.perf_counter()
        ok = someone_else.post(url + "/login", data={"username": "ada", "password": "correct horse"})
        correct = time.perf_counter() - started
        assert ok.status_code == 200 and ok.json() == {"success": True}
    report(f"50 wrong logins: 5 answered 400, 45 refused 429, in {took:.2f} s; a correct one elsewhere {correct:.3f} s")


def test_the_wait_doubles_and_ends_and_a_correct_login_clears_it():
    from ltx_studio.ui.server.doors import LoginLimiter

    now = [1000.0]
    limiter = LoginLimiter(clock=lambda: now[0])
    for _ in range(5):
        assert limiter.wait_left("a") == 0
        limiter.failed("a")
    assert limiter.wait_left("a") == 1.0 and limiter.wait_left("b") == 0
    now[0] += 1.0
    assert limiter.wait_left("a") == 0  # the wait is over
    limiter.failed("a")
    assert limiter.wait_left("a") == 2.0
    for _ in range(20):
        limiter.failed("a")
    assert limiter.wait_left("a") == 300.0  # at most five minutes
    limiter.succeeded("a")
    assert limiter.wait_left("a") == 0


# --- MCP and cancel under --auth ------------------------------------------------------------------


def test_mcp_and_cancel_need_credentials_under_auth(locked_studio):
    _, url = locked_studio
    for answer in (
        httpx.get(url + "/gradio_api/mcp/schema"),
        httpx.post(url + "/gradio_api/mcp/", json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"}),
        httpx.get(url + "/gradio_api/mcp/sse"),
        httpx.post(url + "/gradio_api/cancel", json={"session_hash": "s", "fn_index": 0, "event_id": "e"}),
    ):
        assert answer.status_code == 401 and answer.headers["www-authenticate"].startswith("Basic")
        assert "sign in first" in answer.text
    with from_address("127.0.0.4") as client:
        assert client.get(url + "/gradio_api/mcp/schema", auth=("bob", "wrong")).status_code == 401
        schema = client.get(url + "/gradio_api/mcp/schema", auth=("bob", "pa:ss"))
        assert schema.status_code == 200 and "draft" in {tool["name"] for tool in schema.json()}
        # a browser session (Gradio's cookie) is good too
        assert client.post(url + "/login", data={"username": "bob", "password": "pa:ss"}).status_code == 200
        assert client.get(url + "/gradio_api/mcp/schema").status_code == 200
        assert (
            client.post(
                url + "/gradio_api/cancel", json={"session_hash": "s", "fn_index": 0, "event_id": "e"}
            ).status_code
            == 200
        )


def test_an_agent_with_credentials_drafts_through_mcp_under_auth(locked_studio):
    studio, url = locked_studio

    async def work(client):
        return await client.call_tool("draft", {"prompt": "a kite", "width": 96, "height": 64, "frames": 9, "seed": 3})

    made = mcp_session(url + "/gradio_api/mcp/", work, auth=("bob", "pa:ss"))
    assert not made.isError, made.content
    text = " ".join(c.text for c in made.content if c.type == "text")
    take_id = re.search(r"\d{8}-\d{6}-[0-9a-f]{6}", text).group(0)
    assert studio.take(take_id).prompt == "a kite"
    with pytest.raises(Exception):  # noqa: B017 - the mcp client wraps the 401 in its own exception group
        mcp_session(url + "/gradio_api/mcp/", lambda c: c.list_tools())


# --- Ray ------------------------------------------------------------------------------------------


def test_ray_actors_get_the_cache_settings_but_never_a_token():
    from ltx_studio.jobs.ray_workers import actor_env

    head = {
        "HF_HOME": "/models/hf",
        "HF_HUB_CACHE": "/models/hf/hub",
        "HF_HUB_OFFLINE": "1",
        "HF_TOKEN": "hf_secret",
        "HUGGING_FACE_HUB_TOKEN": "hf_old_secret",
        "HF_TOKEN_PATH": "/root/.cache/huggingface/token",
        "LTX_STUDIO_CACHE": "/cache",
        "LTX_STUDIO_CHECKPOINTS": "/head/only.safetensors",
        "AWS_SECRET_ACCESS_KEY": "x",
    }
    env = actor_env(head)
    assert {k: env[k] for k in ("HF_HOME", "HF_HUB_CACHE", "HF_HUB_OFFLINE", "LTX_STUDIO_CACHE")} == {
        "HF_HOME": "/models/hf",
        "HF_HUB_CACHE": "/models/hf/hub",
        "HF_HUB_OFFLINE": "1",
        "LTX_STUDIO_CACHE": "/cache",
    }
    assert not {"HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_TOKEN_PATH", "LTX_STUDIO_CHECKPOINTS"} & set(env)
    assert "AWS_SECRET_ACCESS_KEY" not in env and "PYTHONPATH" in env


def test_the_command_line_takes_a_users_file_and_allowed_hosts(tmp_path, capsys):
    from ltx_studio.app_main import build_parser, main

    args = build_parser().parse_args(["--allow-host", "box.lan", "--allow-host", "proxy.example"])
    assert args.allow_host == ["box.lan", "proxy.example"] and build_parser().parse_args([]).allow_host == []
    bad = tmp_path / "users.txt"
    bad.write_text("# one user, no password\nada\n")
    assert main(["--auth", str(bad), "--model-set", "demo", "--no-warmup"]) == 2  # before anything loads
    (line,) = capsys.readouterr().err.splitlines()
    assert line == f"error: {bad}, line 2: expected user:password or user:password:admin"
