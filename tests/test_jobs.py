"""Server-owned jobs: the queue in SQLite, its order and cancel, a restart that re-runs what was
interrupted, batches of seeds and prompt lists, and the `jobs` and `batch` commands."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import FIRST_FRAMES, ROOT, free_port, small

from ltx_studio.core.errors import BadInput
from ltx_studio.core.events import TakeDone
from ltx_studio.jobs.ops import Batch, Draft
from ltx_studio.jobs.queue import JobQueue
from ltx_studio.library.takes import TakeStore


def wait_for(condition, timeout=60.0, what="the condition"):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_jobs_run_in_order_show_their_position_and_a_cancelled_queued_job_never_runs(studio):
    with studio.renderer.device_lock:  # the device is busy: the first job runs (waiting for it), the rest queue
        first = studio.submit(Draft(small(seed=1), preview=False))
        wait_for(lambda: studio.jobs.get(first.id).state == "running", what="the first job to start")
        second = studio.submit(Draft(small(seed=2), preview=False))
        doomed = studio.submit(Draft(small(seed=3), preview=False))
        last = studio.submit(Draft(small(seed=4), preview=False))
        assert [j.state for j in studio.jobs.list()][:4] == ["running", "queued", "queued", "queued"]
        assert [studio.jobs.queue.position(j.id) for j in (first, second, doomed, last)] == [None, 1, 2, 3]
        assert studio.cancel(doomed.id).state == "cancelled"
        assert studio.jobs.queue.position(last.id) == 2
    assert [t.seed for t in studio.wait(last.id)] == [4]
    assert [studio.jobs.get(j.id).state for j in (first, second, doomed, last)] == ["done", "done", "cancelled", "done"]
    assert sorted(t.seed for t in studio.takes()) == [1, 2, 4]  # the cancelled one never ran
    assert list(studio.follow(doomed.id))[-1].cancelled
    with pytest.raises(BadInput, match="has already ended"):
        studio.cancel(first.id)


def test_a_job_outlives_whoever_follows_it_and_a_later_follower_gets_its_take(studio):
    job = studio.submit(Draft(small()))
    events = job.events()
    next(events)
    events.close()  # the page went away one event in
    takes = studio.wait(job.id)  # a page opened later
    assert len(takes) == 1 and takes[0].status == "ok"
    assert [type(e) for e in studio.follow(job.id)] == [TakeDone]  # finished: its take at once
    record = studio.jobs.get(job.id)
    assert record.state == "done" and record.take_ids == [takes[0].id] and record.progress == 1.0
    assert not (studio.jobs.queue.folder / job.id).exists()  # its inputs went with it


def test_inputs_are_kept_with_the_job_so_a_restart_can_run_it(studio, tmp_path):
    photo = tmp_path / "first.png"
    photo.write_bytes((FIRST_FRAMES / "coffee.png").read_bytes())
    with studio.renderer.device_lock:
        blocker = studio.submit(Draft(small(), preview=False))
        wait_for(lambda: studio.jobs.get(blocker.id).state == "running")
        job = studio.submit(Draft(small(image=str(photo), seed=-1), preview=False))
        photo.unlink()  # the upload goes away (Gradio's temp folder, a restart)
        frozen = studio.jobs.get(job.id).params["request"]
        assert frozen["image"].endswith("/first.png") and os.path.exists(frozen["image"])
        assert 0 <= frozen["seed"] < 2**32  # drawn once: a re-run makes the same take
    (take,) = studio.wait(job.id)
    assert take.seed == frozen["seed"] and take.image


def test_a_batch_of_four_seeds_encodes_the_prompt_once_and_tags_each_take(studio):
    requests, problems = studio.prepare_batch(small(seed=100), seeds=4)
    assert problems == [] and [r.seed for r in requests] == [100, 101, 102, 103]
    studio.manager.prompt_cache.clear()
    encoded = studio.manager.prompt_sources["encoder"] + studio.manager.prompt_sources["disk"]
    takes = studio.wait(studio.submit(Batch(requests)).id)
    assert sorted(t.seed for t in takes) == [100, 101, 102, 103]
    assert studio.manager.prompt_sources["encoder"] + studio.manager.prompt_sources["disk"] == encoded + 1  # once
    assert all(t.settings["seeds_call"]["seeds"] == [100, 101, 102, 103] for t in takes)  # one denoise call
    batch = [t.settings["batch"] for t in takes]
    assert {b["id"] for b in batch} == {studio.jobs.list()[0].id} and sorted(b["index"] for b in batch) == [0, 1, 2, 3]


def test_a_csv_batch_names_its_bad_rows_and_runs_the_rest(studio, tmp_path):
    from ltx_studio.render.prompts import read_prompts

    (tmp_path / "frame.png").write_bytes((FIRST_FRAMES / "coffee.png").read_bytes())
    text = (
        "prompt,seed,seconds,first_frame\n"
        '"a cat, walking",5,0.4,\n'
        "a dog,not-a-seed,0.4,\n"
        "a cup of coffee,9,0.4,frame.png\n"
        "a bird,3,0.4,missing.png\n"
        "a fish,4,999,\n"
    )
    rows, problems = read_prompts(text, base=tmp_path)
    assert problems == [
        "row 3: seed must be a whole number, not 'not-a-seed'",
        "row 5: first frame not found: missing.png",
    ]
    requests, refused = studio.prepare_batch(small(frames=None), rows)
    assert len(refused) == 1 and refused[0].startswith("row 6: ")  # 999 s is past the variant's length
    takes = studio.wait(studio.submit(Batch(requests)).id)
    assert [(t.prompt, t.seed, bool(t.image)) for t in sorted(takes, key=lambda t: t.seed)] == [
        ("a cat, walking", 5, False),
        ("a cup of coffee", 9, True),
    ]
    assert read_prompts("a cat\n\na dog\n")[0] == [{"prompt": "a cat", "row": 1}, {"prompt": "a dog", "row": 2}]
    with pytest.raises(BadInput, match="^row 1: prompt is empty"):
        studio.submit(Batch([small(prompt="")]))


def test_jobs_list_and_cancel_from_the_command_line(studio, tmp_path, capsys):
    from ltx_studio.cli import main

    def cli(*args) -> tuple[int, str, str]:
        """The command in this process (what it reads and writes goes through the outputs' database)."""
        code = main(["jobs", *args, "--outputs", str(studio.store.root)])
        out, err = capsys.readouterr()
        return code, out, err

    with studio.renderer.device_lock:
        running = studio.submit(Draft(small(seed=1), preview=False))
        wait_for(lambda: studio.jobs.get(running.id).state == "running")
        queued = studio.submit(Draft(small(seed=2), preview=False))
        code, out, err = cli("list", "--json")
        assert code == 0, err
        assert [(j["id"], j["state"]) for j in json.loads(out)] == [(running.id, "running"), (queued.id, "queued")]
        assert "queued #1" in cli("list")[1]
        assert cli("cancel", queued.id)[:2] == (0, f"{queued.id}: cancelled\n")
        stop = subprocess.run(  # from another process, as a person at a terminal would
            [sys.executable, "-m", "ltx_studio", "jobs", "cancel", running.id, "--outputs", str(studio.store.root)],
            capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)}, cwd=tmp_path,
        )  # fmt: skip
        assert stop.returncode == 0 and "stopping" in stop.stdout
    wait_for(lambda: studio.jobs.get(running.id).state == "cancelled", what="the running job to stop")
    assert studio.takes() == []
    code, _, err = cli("cancel", "job-nope")
    assert code == 2 and err.startswith("error: no job with id 'job-nope'")


def test_the_batch_command_prints_a_json_line_per_take_and_names_a_bad_row(tmp_path, capsys):
    from ltx_studio.cli import main

    (tmp_path / "prompts.csv").write_text("prompt,seed\na red kite,11\nbad,x\na blue kite,\n", encoding="utf-8")
    code = main(["batch", "--prompts", str(tmp_path / "prompts.csv"), "--seeds", "2", "--width", "96", "--height",
                 "64", "--frames", "9", "--model-set", "demo", "--outputs", str(tmp_path / "out"), "--json"])  # fmt: skip
    out, err = capsys.readouterr()
    assert code == 2  # a row was skipped: said on stderr, the rest rendered
    assert "skipped row 3: seed must be a whole number, not 'x'" in err
    takes = [json.loads(line) for line in out.splitlines()]
    assert [(t["prompt"], t["frames"]) for t in takes] == [("a red kite", 9)] * 2 + [("a blue kite", 9)] * 2
    assert [t["seed"] for t in takes[:2]] == [11, 12] and takes[2]["seed"] != takes[3]["seed"]
    assert all(os.path.exists(t["video"]) for t in takes)
    assert len({t["settings"]["batch"]["id"] for t in takes}) == 1


# --- a server killed with work in its queue -------------------------------------------------------


def _serve(outputs, port, faults=""):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "LTX_STUDIO_FAULTS": faults, "GRADIO_ANALYTICS_ENABLED": "False"}
    return subprocess.Popen(
        [sys.executable, "app.py", "--model-set", "demo", "--outputs", str(outputs), "--port", str(port),
         "--no-warmup"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


def _client(port, timeout=90):
    from gradio_client import Client

    deadline = time.monotonic() + timeout
    while True:
        try:
            return Client(f"http://127.0.0.1:{port}/", verbose=False)
        except Exception:
            assert time.monotonic() < deadline, "the studio did not start"
            time.sleep(0.3)


def test_a_killed_server_runs_its_queue_after_a_restart_and_the_interrupted_job_once_more(tmp_path):
    outputs = tmp_path / "outputs"
    port = free_port()
    gate = tmp_path / "never"  # the first render holds in its denoise until this file exists: it never does
    server = _serve(outputs, port, faults=f"hold={gate}@denoise")
    try:
        client = _client(port)
        for i in range(4):
            client.submit(prompt=f"take {i}", width=96, height=64, frames=9, seed=i, api_name="/draft")
            if i == 0:
                wait_for(lambda: Path(f"{gate}.reached").exists(), 120, "the first render mid-denoise")
        jobs = JobQueue(TakeStore(outputs))
        wait_for(lambda: [j.state for j in jobs.list()] == ["running", "queued", "queued", "queued"], 120)
        interrupted = jobs.list()[0].id
        server.send_signal(signal.SIGKILL)
        server.wait(timeout=30)
    finally:
        if server.poll() is None:
            server.kill()
    assert TakeStore(outputs).list() == []  # nothing half-written is visible

    server = _serve(outputs, free_port())
    try:
        jobs = JobQueue(TakeStore(outputs))
        wait_for(lambda: all(j.state == "done" for j in jobs.list()) and len(jobs.list()) == 4, 120, "four takes")
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
    records = {j.id: j for j in jobs.list()}
    assert records[interrupted].attempts == 2 and records[interrupted].note.startswith("interrupted")
    assert sorted(j.attempts for j in records.values()) == [1, 1, 1, 2]
    takes = TakeStore(outputs).list()
    assert sorted(t.seed for t in takes) == [0, 1, 2, 3] and all(t.status == "ok" for t in takes)
    assert sorted(t for j in records.values() for t in j.take_ids) == sorted(t.id for t in takes)


def test_a_second_studio_on_the_same_outputs_cannot_run_its_jobs(studio):
    from ltx_studio.studio import Studio

    studio.start_jobs()
    other = Studio(model_set_name="demo", outputs=studio.store.root, manager=studio.manager)
    with pytest.raises(Exception, match="another studio is serving the jobs of"):
        other.start_jobs()


def test_a_source_video_given_as_frames_in_memory_is_kept_with_the_job(studio):
    import numpy as np

    frames = [np.full((64, 96, 3), 40 * i % 255, np.uint8) for i in range(9)]
    job = studio.submit(Draft(small(video=frames, video_strength=0.8), preview=False))
    (take,) = studio.wait(job.id)
    assert take.settings["video"]["strength"] == 0.8 and take.frames == 9


def test_a_job_asked_to_stop_stays_stopped_after_a_restart(tmp_path):
    store = TakeStore(tmp_path / "outputs")
    jobs = JobQueue(store)
    record = jobs.add("draft", {"request": {"prompt": "x"}}, owner="cli")
    assert jobs.claim().id == record.id  # running when the process dies
    assert jobs.request_cancel(record.id).state == "running"  # `jobs cancel` from another process
    assert jobs.recover() == [] and jobs.get(record.id).state == "cancelled"
    with pytest.raises(BadInput, match="has already ended"):
        jobs.request_cancel(record.id)
