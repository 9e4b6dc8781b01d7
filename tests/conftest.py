"""Shared fixtures: the real demo set (tiny random LTX-Video models), built once per test session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FIRST_FRAMES = ROOT / "assets" / "first-frames"


@pytest.fixture(scope="session", autouse=True)
def studio_cache(tmp_path_factory):
    """One cache folder for the session: the demo set is built once into it, offline."""
    cache = tmp_path_factory.mktemp("ltx-cache")
    os.environ["LTX_STUDIO_CACHE"] = str(cache)
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    from ltx_studio.cli import quiet_libraries

    quiet_libraries()
    return cache


@pytest.fixture(scope="session")
def registry():
    from ltx_studio.variants import load_registry

    return load_registry()


@pytest.fixture(scope="session")
def demo(registry):
    return registry["demo"]


@pytest.fixture(scope="session")
def shared_manager(demo):
    """One real PipelineManager over the demo set, shared by tests that don't count loads."""
    from ltx_studio.manager import PipelineManager

    return PipelineManager(demo)


@pytest.fixture
def studio(tmp_path, shared_manager):
    """A Studio over a fresh outputs folder (models shared across tests, takes not)."""
    from ltx_studio.studio import Studio

    return Studio(model_set_name="demo", outputs=tmp_path / "outputs", manager=shared_manager)


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def served(tmp_path_factory, shared_manager):
    """The real app (ui.launch) serving a Studio over a fresh outputs folder: (studio, url)."""
    from ltx_studio.studio import Studio
    from ltx_studio.ui import launch

    studio = Studio(model_set_name="demo", outputs=tmp_path_factory.mktemp("served"), manager=shared_manager)
    port = free_port()
    page = launch(studio, host="127.0.0.1", port=port, block=False)
    yield studio, f"http://127.0.0.1:{port}/"
    page.close()


@pytest.fixture(scope="module")
def client(served):
    from gradio_client import Client

    return Client(served[1], verbose=False)


def small(**changes):
    """A small, quick request: 96x64, 9 frames."""
    from ltx_studio.render import RenderRequest

    base = dict(prompt="a cat walks on the street", width=96, height=64, frames=9, seed=7)
    base.update(changes)
    return RenderRequest(**base)
