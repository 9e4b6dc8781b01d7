"""Fixtures of the parity tests: the reference installed, the tiny checkpoints built once per session."""

from __future__ import annotations

import pytest

from . import reference


@pytest.fixture(scope="package", autouse=True)
def one_thread():
    """Tiny tensors run fastest on one thread: on a busy 2-core machine torch's worker threads spun for
    each small op and this package took 94 s instead of 8 s. Restored after the package."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def reference_code():
    """Lightricks' reference (ltx-core / ltx-pipelines, requirements-parity.txt). Missing: a failure under CI,
    elsewhere a skip that says how to install it."""
    missing = reference.reference_missing()
    if missing:
        if reference.in_ci():
            pytest.fail(f"the parity tests need Lightricks' reference: {missing}")
        pytest.skip(f"the parity tests need Lightricks' reference: {missing}")
    return reference


@pytest.fixture(scope="session")
def audio_reference_code(reference_code):
    """The reference with its audio VAE package, which imports torchaudio (installed by setup.sh --dev in its
    extension-less mode). Missing: a failure under CI, elsewhere a skip that says why and how to install it."""
    missing = reference_code.torchaudio_missing()
    if missing:
        message = f"ltx_core's audio VAE needs torchaudio, and {missing}: bash scripts/setup.sh --dev"
        if reference.in_ci():
            pytest.fail(message)
        pytest.skip(message)
    return reference_code


@pytest.fixture(scope="session")
def checkpoints(reference_code, tmp_path_factory) -> dict:
    """One tiny single-file checkpoint per generation ("2.0": the 19B layout, "2.3": the 22B layout)."""
    folder = tmp_path_factory.mktemp("ltx-parity")
    return {version: reference_code.write_checkpoint(folder, version, seed=0) for version in reference_code.VERSIONS}


@pytest.fixture(scope="session")
def models(checkpoints) -> dict:
    """version -> (ltx_core's LTXModel, our diffusers transformer), both loaded from the same file."""
    return {v: (reference.load_reference(c), reference.load_ours(c)) for v, c in checkpoints.items()}
