"""Workers: one process per device, each with its own PipelineManager, fed by the server's queue;
the server's TakeStore is the one writer. Real child processes on the CPU, tiny models."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import pytest
from conftest import ROOT, cannot_run, small

from ltx_studio.core import faults
from ltx_studio.core.errors import BadInput
from ltx_studio.jobs.ops import Batch, Draft, Upscale
from ltx_studio.jobs.workers import parse_devices


@pytest.fixture
def two_workers(tmp_path, request):
    """A Studio whose queue runs on two CPU worker processes (`python app.py --devices cpu,cpu`)."""
    from ltx_studio.studio import Studio

    studio = Studio(model_set_name="demo", outputs=tmp_path / "outputs")
    studio.start_jobs(["cpu", "cpu"])
    yield studio
    studio.close()


def running_counts(studio, stop: threading.Event) -> list[int]:
    """How many jobs run at once, sampled until `stop`."""
    seen: list[int] = []

    def watch():
        while not stop.is_set():
            seen.append(sum(job.state == "running" for job in studio.jobs.list()))
            time.sleep(0.02)

    threading.Thread(target=watch, daemon=True).start()
    return seen


def test_two_workers_run_four_drafts_two_at_a_time_each_loading_its_pipeline_once(two_workers):
    studio = two_workers
    stop = threading.Event()
    seen = running_counts(studio, stop)
    jobs = [studio.submit(Draft(small(seed=i, frames=17), preview=False)) for i in range(4)]
    takes = [take for job in jobs for take in studio.wait(job.id)]
    stop.set()
    assert sorted(t.seed for t in takes) == [0, 1, 2, 3] and all(t.status == "ok" for t in takes)
    assert max(seen) == 2  # both workers busy at once, never more
    assert {t.worker for t in takes} == {"w0 cpu", "w1 cpu"}
    assert {t.id for t in studio.takes()} == {t.id for t in takes}  # written once, by the server's store
    for worker in studio.workers:
        transformer_loads = [n for key, n in worker.loads.items() if key.startswith("transformer:")]
        assert transformer_loads == [1], worker.loads  # warm from then on
    assert studio.take(takes[0].id).worker == takes[0].worker  # the record keeps it (shown in Takes)


def test_a_draft_goes_to_the_worker_already_holding_its_variant(two_workers):
    studio = two_workers
    first = [studio.submit(Draft(small(variant=v, seed=1), preview=False)) for v in ("fast", "pro")]
    warm = {studio.wait(job.id)[-1].variant: studio.wait(job.id)[-1].worker for job in first}
    assert len(set(warm.values())) == 2  # one variant warm on each worker
    for variant in ("pro", "fast", "pro"):
        (take,) = studio.wait(studio.submit(Draft(small(variant=variant, seed=2), preview=False)).id)
        assert take.worker == warm[variant]


def test_a_worker_killed_mid_job_is_restarted_and_the_job_runs_once_more(tmp_path, monkeypatch):
    from ltx_studio.studio import Studio

    monkeypatch.setenv("LTX_STUDIO_FAULTS", "sleep=2@denoise:1")  # each worker's first denoise pauses
    faults.reset()
    studio = Studio(model_set_name="demo", outputs=tmp_path / "outputs")
    studio.start_jobs(["cpu"])
    try:
        job = studio.submit(Draft(small(seed=9), preview=False))
        deadline = time.monotonic() + 60
        while studio.jobs.get(job.id).state != "running" or not studio.workers[0].busy:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        time.sleep(0.5)  # in the middle of its denoise
        os.kill(studio.workers[0].pid, signal.SIGKILL)
        (take,) = studio.wait(job.id)
    finally:
        studio.close()
        faults.reset()
    record = studio.jobs.get(job.id)
    assert record.state == "done" and record.attempts == 2
    assert "stopped" in record.note and record.note.endswith("run again")
    assert [t.id for t in studio.takes()] == [take.id] and take.seed == 9  # one take, nothing half-written
    assert not [p for p in (tmp_path / "outputs" / ".staging").rglob("*.mp4")]


def test_devices_are_checked_and_a_bad_one_is_one_line(tmp_path, capsys):
    from ltx_studio.app_main import main as app_main

    assert parse_devices("cpu,cpu") == ["cpu", "cpu"] and parse_devices(None) == []
    with pytest.raises(BadInput, match="'gpu7' is not a device"):
        parse_devices("cpu,gpu7")
    if not __import__("torch").cuda.is_available():
        with pytest.raises(BadInput, match="no CUDA device 'cuda:3' here"):
            parse_devices("cuda:3")
    assert app_main(["--devices", "tpu:0", "--no-warmup", "--outputs", str(tmp_path)]) == 2  # before anything loads
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        "error: --devices: 'tpu:0' is not a device (cpu, cuda:0, cuda:1, ..., mps, or all)"
    )


# --- Ray -----------------------------------------------------------------------------------------


def test_ray_actors_run_two_drafts_and_the_takes_land_in_the_head_store(tmp_path, report):
    """Ray runs in a child pytest: a Ray driver's threads and handlers stay out of this process."""
    if os.environ.get("LTX_STUDIO_RAY_CHILD"):
        return _ray_story(tmp_path, report)
    child = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider", "--basetemp", str(tmp_path / "child"),
         f"{__file__}::test_ray_actors_run_two_drafts_and_the_takes_land_in_the_head_store"],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
        env={**os.environ, "LTX_STUDIO_RAY_CHILD": "1", "LTX_STUDIO_TEST_CACHE": os.environ["LTX_STUDIO_CACHE"]},
    )  # fmt: skip
    if "Ray cannot start" in child.stdout or "Ray is not installed" in child.stdout:
        cannot_run(child.stdout.strip().splitlines()[-1])
    assert child.returncode == 0, child.stdout[-3000:] + child.stderr[-2000:]
    report(next(line for line in child.stdout.splitlines() if line.startswith("ray: ")))


def _ray_story(tmp_path, report):
    import ray

    try:
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    except Exception as exc:
        pytest.skip(f"Ray cannot start on this machine: {str(exc).splitlines()[0][:200]}")  # the parent says it
    try:
        _ray_drafts(tmp_path, report)
    finally:
        ray.shutdown()


def _ray_drafts(tmp_path, report):
    from ltx_studio.studio import Studio

    started = time.perf_counter()
    studio = Studio(model_set_name="demo", outputs=tmp_path / "head")
    studio.start_jobs(["cpu", "cpu"], ray="local")
    try:
        assert [w.name for w in studio.workers] == ["r0 cpu", "r1 cpu"]
        jobs = [studio.submit(Draft(small(seed=i), preview=False)) for i in range(2)]
        takes = [take for job in jobs for take in studio.wait(job.id)]
        (final,) = studio.wait(studio.submit(Upscale(takes[0].id)).id)  # the draft's files travel to its actor
    finally:
        studio.close()
    assert sorted(t.seed for t in takes) == [0, 1] and {t.worker for t in takes} == {"r0 cpu", "r1 cpu"}
    assert final.parent == takes[0].id and final.width == 2 * takes[0].width and final.worker.startswith("r")
    head = {t.id: t for t in studio.takes()}
    assert set(head) == {takes[0].id, takes[1].id, final.id}
    for take in head.values():  # in the head's store, whole
        assert take.status == "ok" and take.path("latents").exists() and take.path("poster").exists()
        assert take.folder.startswith(str(tmp_path / "head"))
    report(f"ray: two actors, two drafts and an upscale in {time.perf_counter() - started:.0f} s")


def test_bench_workers_prints_drafts_per_minute_with_one_and_two_workers(capsys):
    from ltx_studio.cli import main

    code = main(["bench", "--workers", "2", "--drafts", "2", "--repeat", "1", "--width", "96", "--height", "64",
                 "--frames", "9", "--json"])  # fmt: skip
    out = capsys.readouterr()
    assert code == 0, out.err
    data = __import__("json").loads(out.out)
    assert data["bench"] == "workers" and data["devices"] == ["cpu", "cpu"] and data["threads_per_worker"] == 1
    assert len(data["per_minute"]["1"]) == len(data["per_minute"]["2"]) == 1 and data["ratio"] > 0
    assert main(["bench", "--workers", "1"]) == 2


def test_a_parallel_final_is_checked_before_anything_runs(tmp_path, capsys):
    import torch

    from ltx_studio.app_main import main as app_main
    from ltx_studio.jobs.parallel import check_parallel_final
    from ltx_studio.models.families import get_family

    for name in ("ltxv", "ltx2"):  # both transformers can split their sequence (diffusers' _cp_plan)
        assert get_family(name).component_class("transformer")._cp_plan
    family = get_family("ltx2")
    with pytest.raises(BadInput, match="needs 2 or more GPUs, not 1"):
        check_parallel_final(1, family)
    if torch.cuda.device_count() < 2:
        with pytest.raises(BadInput, match=r"^--parallel-final 2 needs 2 CUDA GPUs; this machine has "):
            check_parallel_final(2, family)
    code = app_main(["--parallel-final", "2", "--devices", "cpu", "--no-warmup", "--outputs", str(tmp_path)])
    assert code == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        "error: --parallel-final goes without --devices and --ray (it uses the GPUs itself)"
    )


def test_on_a_worker_a_batch_row_that_fails_is_noted_and_a_cancel_at_once_is_heard(tmp_path, monkeypatch):
    from ltx_studio.studio import Studio

    # The worker's first write finds the disk full: a seeds call writes its items on two threads, so which
    # row's write is first is theirs to decide; the other row lands.
    monkeypatch.setenv("LTX_STUDIO_FAULTS", "enospc@write:1")
    faults.reset()
    studio = Studio(model_set_name="demo", outputs=tmp_path / "outputs")
    studio.start_jobs(["cpu"])
    try:
        requests, _ = studio.prepare_batch(small(seed=20), seeds=2)
        job = studio.submit(Batch(requests))
        (take,) = studio.wait(job.id)
        record = studio.jobs.get(job.id)
        assert record.state == "done" and take.seed in (20, 21)
        failed_row = 1 if take.seed == 21 else 2
        assert record.note.startswith(f"row {failed_row}: the disk holding") and "is full" in record.note
        stopped = studio.submit(Draft(small(seed=30), preview=False))
        studio.cancel(stopped.id)  # at once: queued, or just sent to the worker
        with pytest.raises(Exception, match="was cancelled"):
            studio.wait(stopped.id)
        assert studio.jobs.get(stopped.id).state == "cancelled"
        assert not [t for t in studio.takes() if t.seed == 30]
    finally:
        studio.close()
        faults.reset()
