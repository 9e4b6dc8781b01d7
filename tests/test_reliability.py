"""Hardening: bad input at every door, overload, out of memory, kills, full disks, a locked-down server.

Every case runs the real code on the demo set; faults are injected at the real call sites through
the documented LTX_STUDIO_FAULTS switch (ltx_studio/faults.py), never by mocking.
"""

from __future__ import annotations

import os
import shutil
import signal
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path

import pytest
from conftest import FIRST_FRAMES, ROOT, armed_pickle, free_port, small

from ltx_studio.core import faults
from ltx_studio.core.errors import StudioError
from ltx_studio.core.events import Progress
from ltx_studio.library import media
from ltx_studio.library.takes import TakeStore

# --- files that are not what they claim --------------------------------------------------------


def text_file(folder: Path) -> Path:
    path = folder / "notes.png"
    path.write_text("this is not a picture")
    return path


def empty_file(folder: Path) -> Path:
    path = folder / "empty.png"
    path.write_bytes(b"")
    return path


def truncated_png(folder: Path) -> Path:
    path = folder / "cut.png"
    path.write_bytes((FIRST_FRAMES / "chelsea.png").read_bytes()[:3000])
    return path


def bomb_png(folder: Path) -> Path:
    """A 100 kB-sized lie: a PNG header claiming 40000 x 40000 pixels (1.6 gigapixels)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 40000, 40000, 8, 2, 0, 0, 0)
    body = zlib.compress(b"\0" * 100_000)
    path = folder / "bomb.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", body) + chunk(b"IEND", b""))
    return path


# --- the Gradio API: a table of bad requests -----------------------------------------------------


TINY = dict(width=64, height=64, frames=9)
# (endpoint, arguments, words the message must contain). Files are made in a temp folder first.
API_BAD_INPUTS = [
    ("/draft", dict(prompt=""), "prompt is empty"),
    ("/draft", dict(prompt="x" * 5000), "prompt is too long"),
    ("/draft", dict(prompt="x", negative_prompt="y" * 5000), "negative prompt is too long"),
    ("/draft", dict(prompt="x", width="abc"), "width must be a number"),
    ("/draft", dict(prompt="x", width=-5), "width must be between"),
    ("/draft", dict(prompt="x", width=2**40, height=64), "width must be between"),
    ("/draft", dict(prompt="x", width=4096, height=4096), "over Fast"),
    ("/draft", dict(prompt="x", frames=100_000), "over Fast"),
    ("/draft", dict(prompt="x", frames=-1), "frames must be between"),
    ("/draft", dict(prompt="x", frames=None, seconds="long"), "seconds must be a number"),
    ("/draft", dict(prompt="x", seed=2**40), "seed must be between"),
    ("/draft", dict(prompt="x", seed="lucky"), "seed must be a number"),
    ("/draft", dict(prompt="x", fps=0), "fps must be between"),
    ("/draft", dict(prompt="x", steps=10_000), "steps must be between"),
    ("/draft", dict(prompt="x", guidance=-1), "guidance must be between"),
    ("/draft", dict(prompt="x", variant="turbo"), "unknown variant 'turbo'"),
    ("/draft", dict(prompt="x", resolution="8k"), "unknown resolution"),
    ("/draft", dict(prompt="x", image=text_file), "cannot read image"),
    ("/draft", dict(prompt="x", image=empty_file), "cannot read image"),
    ("/draft", dict(prompt="x", image=truncated_png), "cannot read image"),
    ("/draft", dict(prompt="x", image=bomb_png), "image too large"),
    ("/draft", dict(prompt="x", image="/etc/hostname"), "must be a file uploaded with the request"),
    ("/upscale", dict(take_id="../../etc/passwd"), "no take with id"),
    ("/upscale", dict(take_id="20990101-000000-abcdef"), "no take with id"),
    ("/upscale", dict(take_id=""), "no take with id"),
    ("/compare", dict(prompt="x", variants=["fast", "fast"]), "each variant once"),
    ("/compare", dict(prompt="x", variants=["fast", "warp"]), "unknown variant 'warp'"),
    ("/compare", dict(prompt=""), "prompt is empty"),
]


@pytest.mark.parametrize("endpoint, arguments, words", API_BAD_INPUTS, ids=[f"{e} {w}" for e, _, w in API_BAD_INPUTS])
def test_bad_input_through_the_api_is_one_clear_message_and_changes_nothing(
    served, client, tmp_path, endpoint, arguments, words
):
    from gradio_client import handle_file
    from gradio_client.exceptions import AppError

    studio, _ = served
    before = [t.id for t in studio.takes()]
    arguments = {k: handle_file(str(v(tmp_path))) if callable(v) else v for k, v in arguments.items()}
    if endpoint != "/upscale":
        arguments = {**TINY, **arguments}

    with pytest.raises(AppError) as raised:
        client.predict(api_name=endpoint, **arguments)

    message = str(raised.value)
    assert words in message and "\n" not in message.strip() and "Traceback" not in message
    assert [t.id for t in studio.takes()] == before
    _, record = client.predict(prompt="the server keeps serving", api_name="/draft", **TINY)
    studio.delete(record["id"])


def test_an_upload_over_the_size_limit_is_refused_by_the_server(served, client, tmp_path):
    import requests
    from gradio_client import handle_file

    studio, url = served
    before = [t.id for t in studio.takes()]
    big = tmp_path / "huge.png"
    big.write_bytes(b"\0" * (33 * 2**20))  # over the 32 MB upload cap

    # Straight to the upload route, as a browser or curl would (gradio_client checks the size itself first).
    with open(big, "rb") as handle:
        refused = requests.post(url + "gradio_api/upload", files={"files": ("huge.png", handle)}, timeout=60)
    assert refused.status_code == 413 and refused.text.strip().count("\n") == 0  # the door's line, or Gradio's
    assert "too large" in refused.text or "exceeded maximum allowed size of 33554432" in refused.text
    with pytest.raises(ValueError, match=r"^File .*huge\.png exceeds the maximum file size of 33554432 bytes"):
        client.predict(prompt="x", image=handle_file(str(big)), api_name="/draft", **TINY)

    assert [t.id for t in studio.takes()] == before
    _, record = client.predict(prompt="the server keeps serving", api_name="/draft", **TINY)
    studio.delete(record["id"])


# --- overload -------------------------------------------------------------------------------------


def test_many_clients_at_once_each_finish_or_hear_the_queue_is_full_and_no_take_is_lost(tmp_path, shared_manager):
    from gradio_client import Client
    from gradio_client.utils import QueueError

    from ltx_studio.studio import Studio
    from ltx_studio.ui.page import QUEUE_SIZE, launch

    studio = Studio(model_set_name="demo", outputs=tmp_path / "out", manager=shared_manager)
    port = free_port()
    page = launch(studio, host="127.0.0.1", port=port, block=False)
    try:
        clients = 32
        started = time.perf_counter()
        client = Client(f"http://127.0.0.1:{port}/", verbose=False)
        jobs = [
            client.submit(prompt=f"client {i}", width=128, height=96, frames=17, api_name="/draft")
            for i in range(clients)
        ]
        completed, rejected, other = 0, 0, []
        for job in jobs:
            try:
                job.result(timeout=300)  # bounded: nothing hangs
                completed += 1
            except QueueError as exc:
                assert str(exc) == "Queue is full! Please try again."
                rejected += 1
            except Exception as exc:
                other.append(repr(exc))
        elapsed = time.perf_counter() - started
    finally:
        page.close()
    print(
        f"overload: {clients} clients, {completed} completed, {rejected} rejected (queue {QUEUE_SIZE}), {elapsed:.1f} s"
    )
    assert other == []
    assert completed + rejected == clients and completed >= 1
    assert len(TakeStore(tmp_path / "out").list()) == completed  # lost = 0


# --- out of memory ------------------------------------------------------------------------------


@pytest.fixture
def fresh_studio(tmp_path, demo):
    """A Studio with its own manager: out-of-memory handling changes the manager's policy."""
    from ltx_studio.models.manager import PipelineManager
    from ltx_studio.studio import Studio

    return Studio(model_set_name="demo", outputs=tmp_path / "outputs", manager=PipelineManager(demo))


@pytest.fixture
def fault(monkeypatch):
    def set_faults(spec: str) -> None:
        monkeypatch.setenv("LTX_STUDIO_FAULTS", spec)
        faults.reset()

    yield set_faults
    faults.reset()


def test_out_of_memory_retries_once_with_a_lower_memory_policy(fresh_studio, fault):
    fault("oom@denoise:1")
    events = []

    take = fresh_studio.render(small(), on_event=events.append)

    retries = [e for e in events if isinstance(e, Progress) and e.stage == "retry"]
    assert [e.message for e in retries] == ["Out of memory: retrying with VAE tiling"]
    assert fresh_studio.manager.policy.vae_tiling
    assert take.status == "ok" and [t.id for t in fresh_studio.takes()] == [take.id]


def test_out_of_memory_again_is_a_clear_message_and_the_next_render_works(fresh_studio, fault):
    fault("oom@decode:2")
    with pytest.raises(StudioError) as raised:
        fresh_studio.render(small())
    message = str(raised.value)
    assert type(raised.value) is StudioError and "\n" not in message
    assert message.startswith("out of memory rendering 96x64x9") and "try a smaller size" in message
    assert fresh_studio.takes() == []
    take = fresh_studio.render(small())  # the fault fired twice; the studio still works
    assert [t.id for t in fresh_studio.takes()] == [take.id]


# --- a process killed mid-render -----------------------------------------------------------------


def test_a_render_killed_mid_write_leaves_no_take_and_no_stray_files(tmp_path):
    outputs = tmp_path / "outputs"
    gate = tmp_path / "never"  # the render holds after its video file until this exists: it never does
    env = {**os.environ, "LTX_STUDIO_FAULTS": f"hold={gate}@write"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "ltx_studio", "render", "--prompt", "doomed", "--model-set", "demo", "--outputs", str(outputs), "--quiet"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 300
        while not Path(f"{gate}.reached").exists():
            assert proc.poll() is None and time.monotonic() < deadline, "the render should hold after its video"
            time.sleep(0.1)
        assert list((outputs / ".staging").glob("*/*/video.mp4"))  # mid-write: the video is there, the rest not
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()

    store = TakeStore(outputs)  # a restart

    assert store.list() == []
    assert list(store.takes_dir.iterdir()) == []
    leftovers = [p for p in (outputs / ".staging").rglob("*") if p.is_file() and p.name != ".lock"]
    assert leftovers == []
    assert [p.parent for p in (outputs / ".staging").rglob(".lock")] == [store.staging_dir]  # only the live store's


# --- a full disk ----------------------------------------------------------------------------------


DISK = "size=24m"  # the tmpfs the full-disk test fills


def mount_tmpfs(where: Path, *, options: str = DISK, prefix: tuple[str, ...] = ()) -> bool:
    """Mount a tmpfs at `where` (run under `prefix`, e.g. unshare); whether it worked."""
    where.mkdir(exist_ok=True)
    done = subprocess.run([*prefix, "mount", "-t", "tmpfs", "-o", options, "tmpfs", str(where)], capture_output=True)
    return done.returncode == 0


def full_disk_path(probe: Path) -> str:
    """How this machine lets the test fill a disk: "mount" (root, or CAP_SYS_ADMIN), "unshare" (a user
    namespace: `unshare -rm`, no root needed), or "inject" (neither: ENOSPC through the fault switch).
    LTX_STUDIO_TEST_DISK picks one by hand."""
    if os.environ.get("LTX_STUDIO_TEST_DISK"):
        return os.environ["LTX_STUDIO_TEST_DISK"]
    if mount_tmpfs(probe, options="size=1m"):
        subprocess.run(["umount", str(probe)], capture_output=True)
        return "mount"
    if shutil.which("unshare") and mount_tmpfs(probe, options="size=1m", prefix=("unshare", "-rm")):
        return "unshare"  # the mount went away with the namespace
    return "inject"


def test_a_full_disk_is_a_clear_error_and_earlier_takes_stay_intact(tmp_path, shared_manager, fault, report):
    path = full_disk_path(tmp_path / "probe")
    if path == "unshare":
        # This process cannot mount; a child pytest inside a user namespace (where it is root) runs
        # this same test on a real tmpfs, reusing the session's demo set.
        child = subprocess.run(
            ["unshare", "-rm", sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
             "--basetemp", str(tmp_path / "child"), f"{__file__}::test_a_full_disk_is_a_clear_error_and_earlier_takes_stay_intact"],
            cwd=ROOT,
            env={**os.environ, "LTX_STUDIO_TEST_DISK": "mount", "LTX_STUDIO_TEST_CACHE": os.environ["LTX_STUDIO_CACHE"]},
            capture_output=True,
            text=True,
            timeout=300,
        )  # fmt: skip
        assert child.returncode == 0 and "full disk: a real 24 MB tmpfs" in child.stdout, child.stdout[-3000:]
        report("full disk: a real 24 MB tmpfs filled to the brim, mounted in a user namespace (unshare -rm)")
        return

    disk = tmp_path / "disk"
    if path == "mount":
        assert mount_tmpfs(disk), "LTX_STUDIO_TEST_DISK=mount, but mounting a tmpfs failed"
    try:
        fill_a_disk_and_render(disk, shared_manager, fault if path == "inject" else None)
    finally:
        if path == "mount":
            subprocess.run(["umount", "-l", str(disk)], capture_output=True)
    report(
        "full disk: a real 24 MB tmpfs filled to the brim (mount)"
        if path == "mount"
        else "full disk: ENOSPC injected at the write (this machine may not mount a tmpfs: no root, no unshare -rm)"
    )


def fill_a_disk_and_render(disk: Path, manager, fault) -> None:
    """Render, fill `disk` (or inject ENOSPC with `fault`), render again, then free space and render."""
    from ltx_studio.studio import Studio

    outputs = disk / "outputs"
    studio = Studio(model_set_name="demo", outputs=outputs, manager=manager)
    earlier = studio.render(small(seed=1))
    filler = disk / "filler"
    if fault is None:
        with open(filler, "wb") as handle:  # fill the disk to the brim
            try:
                while True:
                    handle.write(b"\0" * 2**16)
                    handle.flush()
            except OSError:
                pass
        assert shutil.disk_usage(disk).free < 2**16
    else:
        fault("enospc@write:1")

    with pytest.raises(StudioError) as raised:
        studio.render(small(seed=2))

    message = str(raised.value)
    assert type(raised.value) is StudioError and "\n" not in message
    assert (
        message.startswith(f"the disk holding {studio.store.root} is full") and "earlier takes are untouched" in message
    )
    assert [t.id for t in studio.takes()] == [earlier.id]
    assert media.read_mp4(earlier.path("video"))[0].shape == (9, 64, 96, 3)
    assert [p for p in outputs.joinpath(".staging").rglob("*") if p.is_file() and p.name != ".lock"] == []
    filler.unlink(missing_ok=True)
    later = studio.render(small(seed=3))  # space again: rendering works again
    assert [t.id for t in TakeStore(outputs).list()] == [later.id, earlier.id]


# --- a locked-down server -------------------------------------------------------------------------


def test_auth_protects_the_page_and_the_api(tmp_path, shared_manager):
    import requests
    from gradio_client import Client
    from gradio_client.exceptions import AuthenticationError

    from ltx_studio.studio import Studio
    from ltx_studio.ui.page import launch

    studio = Studio(model_set_name="demo", outputs=tmp_path / "out", manager=shared_manager)
    port = free_port()
    page = launch(studio, host="127.0.0.1", port=port, block=False, auth=("ada", "s3cret"))
    url = f"http://127.0.0.1:{port}/"
    try:
        assert requests.get(url + "gradio_api/info", timeout=10).status_code == 401
        assert requests.post(url + "gradio_api/queue/join", json={}, timeout=10).status_code == 401
        with pytest.raises(AuthenticationError) as raised:
            Client(url, verbose=False)
        assert str(raised.value) == f"Could not load {url} as credentials were not provided. Please login."
        with pytest.raises(ValueError) as raised:
            Client(url, auth=("ada", "wrong"), verbose=False)
        assert str(raised.value) == f"Could not login to {url}."
        assert studio.takes() == []
        _, record = Client(url, auth=("ada", "s3cret"), verbose=False).predict(prompt="x", api_name="/draft", **TINY)
        assert record["prompt"] == "x" and [t.id for t in studio.takes()] == [record["id"]]
    finally:
        page.close()


def test_only_take_files_and_example_photos_are_served(served, client):
    import requests

    studio, url = served
    _, record = client.predict(prompt="served", api_name="/draft", **TINY)
    base = url + "gradio_api/file="
    assert record["video"] == "video.mp4"  # the record names its files, never a server path
    assert requests.get(base + str(studio.take(record["id"]).path("video")), timeout=10).status_code == 200
    assert requests.get(base + str(FIRST_FRAMES / "chelsea.png"), timeout=10).status_code == 200
    for path in (
        "/etc/passwd",
        str(studio.store.db_path),
        str(ROOT / "app.py"),
        "../../etc/passwd",
        "%2e%2e/%2e%2e/etc/passwd",
    ):
        assert requests.get(base + path, timeout=10).status_code in (403, 404), path


def test_the_studio_binds_locally_and_warns_when_exposed_without_a_password():
    from ltx_studio.app_main import build_parser, exposure_warning

    assert build_parser().parse_args([]).host == "127.0.0.1"
    assert exposure_warning("127.0.0.1", False, None) is None
    assert exposure_warning("localhost", False, None) is None
    assert "without --auth" in exposure_warning("0.0.0.0", False, None)
    assert "public share link" in exposure_warning("127.0.0.1", True, None)
    assert exposure_warning("0.0.0.0", False, ("u", "p")) is None


def test_pickle_weights_are_refused_never_unpickled(tmp_path):
    from ltx_studio.models.manager import PipelineManager
    from ltx_studio.models.tiny import ensure_demo_set
    from ltx_studio.models.variants import load_registry

    marker = tmp_path / "ran"
    demo = ensure_demo_set(family="ltx2") / "transformer-fast"
    shipped = (ROOT / "ltx_studio" / "models" / "variants.toml").read_text()
    registry = tmp_path / "variants.toml"

    def demo_with_fast_transformer_in(folder: Path):
        registry.write_text(
            shipped.replace(
                'transformer = { repo = "tiny:ltx2", subfolder = "transformer-fast" }',
                f'transformer = {{ repo = "{folder}" }}',
            )
        )
        return PipelineManager(load_registry(registry)["demo"])

    # Only a pickle checkpoint beside the config: refused before anything reads it.
    pickled = tmp_path / "pickled"
    pickled.mkdir()
    shutil.copy(demo / "config.json", pickled)
    armed_pickle(pickled / "diffusion_pytorch_model.bin", marker)
    with pytest.raises(StudioError) as raised:
        demo_with_fast_transformer_in(pickled).get("fast")
    message = str(raised.value)
    assert f"transformer at {pickled} has only pickle" in message and "safetensors only" in message
    assert type(raised.value) is StudioError and "\n" not in message
    assert not marker.exists()

    # Safetensors with a pickle beside them: the safetensors load, the pickle is never opened.
    both = tmp_path / "both"
    shutil.copytree(demo, both)
    armed_pickle(both / "diffusion_pytorch_model.bin", marker)
    assert demo_with_fast_transformer_in(both).get("fast") is not None
    assert not marker.exists()

    # A pickle single-file checkpoint is refused when the variants file is read.
    armed_pickle(tmp_path / "ltxv-2b.ckpt", marker)
    registry.write_text(shipped.replace("ltxv-2b-0.9.8-distilled.safetensors", str(tmp_path / "ltxv-2b.ckpt")))
    with pytest.raises(StudioError, match=r"transformer\.file must be a \.safetensors file \(pickle can run code\)$"):
        load_registry(registry)
    assert not marker.exists()


def test_the_package_never_asks_for_remote_code():
    # A scan, not a behaviour test: remote code needs the Hub, which tests never reach.
    source = "\n".join(path.read_text() for path in (ROOT / "ltx_studio").rglob("*.py"))
    assert "trust_remote_code=True" not in source
