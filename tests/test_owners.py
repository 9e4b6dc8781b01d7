"""Jobs and takes have owners, through the real server: a made-up browser id owns nothing, an API key
owns its own jobs, a signed-in user lists only their own (an admin all), and a take keeps its owner.

The page is driven as a browser drives it (queue/join with the event's index and this session's
values), so a client can send any browser id it likes; renders are held mid-denoise with the
`hold=PATH` fault until the test lets them go, never raced with sleeps.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
from pathlib import Path

import httpx
import pytest
from conftest import free_port
from test_service import wait_for

from ltx_studio.core import faults, owners

SMALL = dict(width=96, height=64, frames=9)


@contextlib.contextmanager
def serving(outputs: Path, manager, auth=None):
    """The real app (ui.launch) over `outputs`: (studio, url)."""
    from ltx_studio.studio import Studio
    from ltx_studio.ui.page import launch

    studio = Studio(model_set_name="demo", outputs=outputs, manager=manager)
    port = free_port()
    page = launch(studio, host="127.0.0.1", port=port, auth=auth, block=False)
    try:
        yield studio, f"http://127.0.0.1:{port}/"
    finally:
        page.close()
        studio.close()


@pytest.fixture
def held(tmp_path, monkeypatch):
    """Renders stop in their denoise until `release()`: (gate, release)."""
    gate = tmp_path / "gate"
    monkeypatch.setenv("LTX_STUDIO_FAULTS", f"hold={gate}@denoise")
    faults.reset()
    yield gate, gate.touch
    gate.touch()  # nothing stays held after the test
    faults.reset()


class Page:
    """One browser session of the page, driven the way the page's own JavaScript drives it."""

    def __init__(self, url: str):
        self.url = url
        self.session = secrets.token_hex(6)
        config = httpx.get(url + "config", timeout=30).json()
        self.events = {d["api_name"]: d["id"] for d in config["dependencies"]}

    def call(self, name: str, *data, event_data=None):
        """Run the page's event `name` with these input values: ("ok", outputs) or ("error", message)."""
        with httpx.Client(base_url=self.url, timeout=120) as http:
            joined = http.post(
                "gradio_api/queue/join",
                json={"data": list(data), "fn_index": self.events[name], "session_hash": self.session,
                      "event_data": event_data, "trigger_id": None},
            )  # fmt: skip
            joined.raise_for_status()
            event_id = joined.json()["event_id"]
            with http.stream("GET", "gradio_api/queue/data", params={"session_hash": self.session}) as stream:
                for line in stream.iter_lines():
                    message = json.loads(line[5:]) if line.startswith("data:") else {}
                    if message.get("msg") == "process_completed" and message.get("event_id") == event_id:
                        output = message.get("output") or {}
                        return ("ok", output.get("data")) if message.get("success") else ("error", output.get("error"))
        raise AssertionError(f"the page's {name} never completed")


def test_a_forged_browser_id_cannot_cancel_anothers_job_nor_delete_their_take(tmp_path, shared_manager, held):
    from gradio_client import Client

    gate, release = held
    with serving(tmp_path / "outputs", shared_manager) as (studio, url):
        owner_b = Client(url, verbose=False, headers={"X-Studio-Key": "key-of-b"})
        owner_b.submit(prompt="running", seed=1, **SMALL, api_name="/draft")
        wait_for(lambda: Path(f"{gate}.reached").exists(), 120, "the first render mid-denoise")
        owner_b.submit(prompt="queued", seed=2, **SMALL, api_name="/draft")
        wait_for(
            lambda: [j.state for j in studio.job_list()] == ["running", "queued"], 60, "a running and a queued job"
        )
        running, queued = studio.job_list()
        assert running.owner == queued.owner == owners.api_key_owner(owners.server_key(studio.store.root), "key-of-b")

        page = Page(url)
        fresh = page.call("ensure", "f" * 16 + "." + "0" * 32)[1][0]  # a made-up id is replaced on load
        assert owners.browser_owner(owners.server_key(studio.store.root), fresh).startswith("browser:")
        for forged in ("f" * 16 + "." + "0" * 32, "deadbeefdeadbeef", None):  # forged, unsigned (old), none
            for job in (running, queued):  # a card's Cancel sent by hand (the feed lists only one's own jobs)
                page.call("act", forged, event_data={"act": "cancel", "take": "", "job": job.id})
        assert [studio.job(j.id).state for j in (running, queued)] == ["running", "queued"]
        assert not studio.jobs.queue.cancel_requested(running.id)

        release()
        wait_for(lambda: all(studio.job(j.id).state == "done" for j in (running, queued)), 120, "both takes")
        victim = studio.take(studio.job(running.id).take_ids[0])
        assert victim.owner == running.owner

        page.call("list_takes", False, "f" * 16 + "." + "0" * 32)  # without --auth every take is listed
        row = [t.id for t in studio.takes()].index(victim.id)
        assert page.call("select_in_table", None, event_data={"index": [row, 0], "value": ""})[0] == "ok"
        outcome, message = page.call("delete_selected", None, False, "f" * 16 + "." + "0" * 32)
        assert outcome == "error" and "belongs to someone else" in message
        assert studio.take(victim.id).status == "ok"


def test_an_api_key_cancels_its_own_jobs_and_not_anothers(tmp_path, shared_manager, held):
    from gradio_client import Client

    gate, release = held
    with serving(tmp_path / "outputs", shared_manager) as (studio, url):
        caller_a = Client(url, verbose=False, headers={"X-Studio-Key": "key-of-a"})
        caller_b = Client(url, verbose=False, headers={"X-Studio-Key": "key-of-b"})
        anonymous = Client(url, verbose=False)
        caller_b.submit(prompt="b's running job", seed=1, **SMALL, api_name="/draft")
        wait_for(lambda: Path(f"{gate}.reached").exists(), 120, "b's render mid-denoise")
        caller_b.submit(prompt="b's queued job", seed=2, **SMALL, api_name="/draft")
        wait_for(lambda: len(studio.job_list(("queued",))) == 1, 60, "b's second job queued")

        listed = caller_a.predict(api_name="/jobs")  # no --auth: everyone's jobs are listed, none is a's
        assert [(j["state"], j["yours"]) for j in listed] == [("running", False), ("queued", False)]
        for job in listed:
            for stranger in (caller_a, anonymous):
                with pytest.raises(Exception, match="belongs to someone else"):
                    stranger.predict(job_id=job["id"], api_name="/cancel")
        assert [j.state for j in studio.job_list()] == ["running", "queued"]

        assert all(j["yours"] for j in caller_b.predict(api_name="/jobs"))
        assert caller_b.predict(job_id=listed[1]["id"], api_name="/cancel")["state"] == "cancelled"
        assert caller_b.predict(job_id=listed[0]["id"], api_name="/cancel")["state"] == "running"  # stops next step
        release()
        wait_for(lambda: studio.job(listed[0]["id"]).state == "cancelled", 60, "b's running job stopped")
        assert studio.takes() == []


def test_under_auth_a_user_lists_only_their_own_jobs_and_takes_and_an_admin_all(tmp_path, shared_manager, held):
    from gradio_client import Client

    from ltx_studio.ui.server.doors import Users

    gate, release = held
    users = Users({"alice": "alice-pw", "bob": "bob-pw", "root": "root-pw"}, frozenset({"root"}))
    with serving(tmp_path / "outputs", shared_manager, auth=users) as (studio, url):
        alice, bob, root = (Client(url, verbose=False, auth=(name, f"{name}-pw")) for name in ("alice", "bob", "root"))
        alice.submit(prompt="alice's", seed=1, **SMALL, api_name="/draft")
        wait_for(lambda: Path(f"{gate}.reached").exists(), 120, "alice's render mid-denoise")
        bob.submit(prompt="bob's", seed=2, **SMALL, api_name="/draft")
        wait_for(lambda: len(studio.job_list()) == 2, 60, "both jobs in the queue")

        assert [j["label"] for j in alice.predict(api_name="/jobs")] == ["alice's"]
        assert [j["label"] for j in bob.predict(api_name="/jobs")] == ["bob's"]
        assert [(j["label"], j["yours"]) for j in root.predict(api_name="/jobs")] == [
            ("alice's", True),
            ("bob's", True),
        ]
        bob_job = studio.job_list(("queued",))[0]
        with pytest.raises(Exception, match="belongs to someone else"):
            alice.predict(job_id=bob_job.id, api_name="/cancel")

        release()
        wait_for(lambda: all(j.state == "done" for j in studio.job_list()), 120, "both takes")
        assert [t["prompt"] for t in alice.predict(api_name="/takes")] == ["alice's"]
        assert sorted(t["prompt"] for t in root.predict(api_name="/takes")) == ["alice's", "bob's"]
        (bobs,) = bob.predict(api_name="/takes")
        with pytest.raises(Exception, match="no take with id"):
            alice.predict(take_id=bobs["id"], api_name="/takes")
        assert bobs["owner"] == "user:bob"


def test_a_take_keeps_its_owner_across_a_restart_and_old_takes_stay_ownerless(tmp_path, shared_manager):
    from gradio_client import Client

    outputs = tmp_path / "outputs"
    with serving(outputs, shared_manager) as (studio, url):
        _, made = Client(url, verbose=False, headers={"X-Studio-Key": "k"}).predict(
            prompt="mine", seed=3, **SMALL, api_name="/draft"
        )
        key_owner = owners.api_key_owner(owners.server_key(studio.store.root), "k")
        old = studio.render(_small(prompt="from before owners"))  # no job: no owner, as takes made before
    assert made["owner"] == key_owner and old.owner == ""
    os.remove(outputs / "takes.db")  # the index is rebuilt from the records on the next start

    with serving(outputs, shared_manager) as (studio, url):
        assert studio.take(made["id"]).owner == key_owner
        assert [t.id for t in studio.takes(owner=key_owner)] == [made["id"]]
        with pytest.raises(Exception, match="belongs to someone else"):
            studio.delete(old.id, owner=key_owner)  # an ownerless take: admins and the command line only
        studio.delete(old.id)  # Python (this process) may
        listed = Client(url, verbose=False).predict(api_name="/takes")  # no --auth: listed to anyone
        assert [t["owner"] for t in listed] == [key_owner]


def _small(**changes):
    from conftest import small

    return small(**changes)


def test_a_live_draft_is_its_browsers_and_a_take_in_use_is_not_deleted(studio, held):
    from ltx_studio.jobs.ops import Upscale

    gate, release = held
    job = studio.live_job("session-a", _small(seed=3), owner="browser:abc")
    release()
    assert job.wait(120) and job.result.owner == "browser:abc"  # the Takes tab lets that browser delete it
    draft = studio.render(_small(seed=4))
    gate.unlink()  # the next render holds again
    Path(f"{gate}.reached").unlink(missing_ok=True)
    upscaling = studio.submit(Upscale(draft.id), owner="browser:abc")
    wait_for(lambda: Path(f"{gate}.reached").exists(), what="the upscale mid-denoise")
    with pytest.raises(Exception, match=f"take {draft.id} is in use by job {upscaling.id}"):
        studio.delete(draft.id)  # the final would lose its parent
    release()
    [final] = studio.wait(upscaling.id, timeout=300)
    assert final.parent == draft.id
    studio.delete(draft.id)  # free now


def test_a_click_before_the_page_has_stored_its_id_still_belongs_to_that_browser(tmp_path, shared_manager):
    """On a first visit the browser id arrives with the page's load event; a click may come first (a
    busy machine). It asks as the id its session is being given, so the reopened page finds its job."""
    with serving(tmp_path / "outputs", shared_manager) as (studio, url):
        source = studio.render(_small(seed=5))
        page = Page(url)
        page.call("list_takes", False, None)  # the Takes tab, and the take picked in it
        assert page.call("select_in_table", None, event_data={"index": [0, 0], "value": ""})[0] == "ok"
        clicked = page.call("act", None, event_data={"act": "upscale", "take": source.id, "job": ""})  # a card's
        assert clicked[0] == "ok"  # Approve & upscale, before the page has stored its id
        [job] = [j for j in studio.job_list() if j.kind == "upscale"]
        given = page.call("ensure", None)[1][0]  # the load event comes back now
        key = owners.server_key(studio.store.root)
        assert job.owner == owners.browser_owner(key, given) != owners.NOBODY
        assert studio.resume(job.owner, ("upscale",)).id == job.id  # what a reopened page shows
        assert studio.take(job.take_ids[0]).owner == job.owner  # and the Takes tab lets it act on
