"""Shared fixtures: the real demo set (tiny random LTX-2 models), built once per test session.

The session is hermetic: its own studio cache and its own, empty Hugging Face cache, so no test
depends on what happens to be downloaded on this machine.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FIRST_FRAMES = ROOT / "assets" / "first-frames"
HF_CACHE_VARIABLES = ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "HF_ASSETS_CACHE", "HF_XET_CACHE", "TRANSFORMERS_CACHE")
REPORTS: list[str] = []  # lines for the run's summary: which path a test exercised


def in_ci() -> bool:
    """Whether this run is CI (`.ci/run` exports CI=true): there, a test that cannot run is a failure, not a skip."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def cannot_run(reason: str):
    """A test that cannot run here: a skip that says why, or under CI, where every test must run, a failure."""
    if in_ci():
        pytest.fail(f"cannot run under CI: {reason}")
    pytest.skip(reason)


def pytest_configure(config):
    # Before any test module imports huggingface_hub, which reads these once at import.
    config._ltx_hf_home = tempfile.mkdtemp(prefix="ltx-test-hf-home-")
    os.environ["HF_HOME"] = config._ltx_hf_home
    for name in HF_CACHE_VARIABLES:
        os.environ.pop(name, None)


def pytest_unconfigure(config):
    shutil.rmtree(getattr(config, "_ltx_hf_home", ""), ignore_errors=True)


def pytest_terminal_summary(terminalreporter):
    if REPORTS:
        terminalreporter.section("paths exercised")
        for line in REPORTS:
            terminalreporter.write_line(line)


@pytest.fixture
def report(record_property):
    """Tell the run's summary (and the junit XML) something a reader must know, e.g. which path a test took."""

    def say(line: str) -> None:
        REPORTS.append(line)
        record_property("exercised", line)
        print(line)

    return say


@pytest.fixture(scope="session", autouse=True)
def studio_cache(tmp_path_factory):
    """One cache folder for the session: the demo set is built once into it, offline.

    A test that re-runs itself in a child pytest passes its cache on in LTX_STUDIO_TEST_CACHE.
    """
    inherited = os.environ.get("LTX_STUDIO_TEST_CACHE")
    cache = Path(inherited) if inherited else tmp_path_factory.mktemp("ltx-cache")
    os.environ["LTX_STUDIO_CACHE"] = str(cache)
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    from ltx_studio.core.commandline import quiet_libraries

    quiet_libraries()
    return cache


@pytest.fixture(scope="session")
def registry():
    from ltx_studio.models.variants import load_registry

    return load_registry()


@pytest.fixture(scope="session")
def demo(registry):
    return registry["demo"]


@pytest.fixture(scope="session")
def shared_manager(demo):
    """One real PipelineManager over the demo set, shared by tests that don't count loads."""
    from ltx_studio.models.manager import PipelineManager

    return PipelineManager(demo)


@pytest.fixture
def studio(tmp_path, shared_manager):
    """A Studio over a fresh outputs folder (models shared across tests, takes not)."""
    from ltx_studio.studio import Studio

    studio = Studio(model_set_name="demo", outputs=tmp_path / "outputs", manager=shared_manager)
    yield studio
    studio.close()


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def served(tmp_path_factory, shared_manager):
    """The real app (ui.launch) serving a Studio over a fresh outputs folder: (studio, url)."""
    from ltx_studio.studio import Studio
    from ltx_studio.ui.page import launch

    studio = Studio(model_set_name="demo", outputs=tmp_path_factory.mktemp("served"), manager=shared_manager)
    port = free_port()
    page = launch(studio, host="127.0.0.1", port=port, block=False)
    yield studio, f"http://127.0.0.1:{port}/"
    page.close()
    studio.close()


@pytest.fixture(scope="module")
def client(served):
    from gradio_client import Client

    return Client(served[1], verbose=False)


class _Trap:
    """Unpickling this object opens (creates) a file: proof that someone ran a pickle's code."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def armed_pickle(path: Path, marker: Path) -> Path:
    """Write a real pickle checkpoint (torch.save's format, like any .bin/.pt/.ckpt) whose loading creates `marker`."""
    import torch

    torch.save({"weight": _Trap(marker)}, str(path))
    return path


def small(**changes):
    """A small, quick request: 96x64, 9 frames."""
    from ltx_studio.render.request import RenderRequest

    base = dict(prompt="a cat walks on the street", width=96, height=64, frames=9, seed=7)
    base.update(changes)
    return RenderRequest(**base)


def same_picture(first, second) -> bool:
    """Two takes show the same picture: identical latents and poster (decoded pixels, lossless PNG),
    and mp4 frames equal up to the encoder: libx264 here is occasionally not bit-exact at tiny frame
    sizes (identical input frames, a few different pixels), so the mp4s are compared by mean error."""
    import numpy as np
    from PIL import Image
    from safetensors.torch import load_file

    from ltx_studio.library import media

    latents = [load_file(str(t.path("latents")))["latents"] for t in (first, second)]
    posters = [np.asarray(Image.open(t.path("poster"))) for t in (first, second)]
    frames = [media.read_mp4(t.path("video"))[0].astype(np.int16) for t in (first, second)]
    return (
        latents[0].equal(latents[1])
        and np.array_equal(posters[0], posters[1])
        and frames[0].shape == frames[1].shape
        and float(np.abs(frames[0] - frames[1]).mean()) < 1.0
    )
