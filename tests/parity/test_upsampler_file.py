"""A latent upsampler loads from Lightricks' own single file (as `ltx-2.3-spatial-upscaler-x2-1.1.safetensors`
ships: weights under ltx_core's names, the architecture as JSON in the `config` metadata) through the studio's
loader (`LTX2Family.load_component("upsampler", ..., file=...)`, families/ltx2_upsampler_file.py), and computes
what ltx_core's LatentUpsampler, built from the same file by ltx_core's builder, computes.

The tiny files are test_upsampler.py's (built with ltx_core's class, both generations' layouts); the step
compared is that file's: `LTX2Family.upsample` against ltx_core's `upsample_video`, tolerance 1e-5 relative
(fp32). The weights themselves must be the file's, bit for bit.
"""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
import torch

from . import reference as R
from .test_upsampler import LAYOUTS, TOLERANCE, compare, load_reference_upsampler, write_upsampler


def load_ours_from_file(file):
    from ltx_studio.models.families.ltx2 import LTX2Family

    return LTX2Family().load_component("upsampler", str(file.parent), None, file.name, None, torch.float32)


@pytest.mark.parametrize("version", list(LAYOUTS), ids=["ltx-2.0-rational-resampler", "ltx-2.3-conv-pixel-shuffle"])
def test_an_upsampler_file_loads_whole_and_computes_what_ltx_cores_computes(
    version, reference_code, shared_manager, registry, tmp_path, report
):
    file = write_upsampler(tmp_path, version, seed=7)
    theirs, ours = load_reference_upsampler(file), load_ours_from_file(file)
    mine, reference = ours.state_dict(), theirs.state_dict()
    assert mine.keys() == reference.keys() and all(torch.equal(mine[k], reference[k]) for k in mine)
    adain = registry[R.SETS[version]].upsample_adain_factor
    figure, _ = compare(version, {version: (theirs, ours)}, shared_manager, adain)
    report(
        f"parity latent upsampler from a Lightricks single file (LTX-{version} layout): weights bit-equal, max "
        f"relative difference {figure:.2e} (tolerance {TOLERANCE:.0e})"
    )
    assert figure <= TOLERANCE


def test_a_set_naming_an_upsampler_file_loads_it_through_the_manager(reference_code, demo, tmp_path):
    """The set's source ({repo, file}) is found on disk and loaded by the manager as any other upsampler."""
    from ltx_studio.models.manager import PipelineManager, is_on_disk
    from ltx_studio.models.variants import Source

    file = write_upsampler(tmp_path, "2.3", seed=8)
    source = Source(str(tmp_path), file=file.name)
    assert is_on_disk(source) and not is_on_disk(
        Source(str(tmp_path), file="ltx-2.3-spatial-upscaler-x2-1.1.safetensors")
    )
    manager = PipelineManager(replace(demo, upsampler=source))
    loaded = manager.upsampler().latent_upsampler
    reference = load_reference_upsampler(file).state_dict()
    assert all(torch.equal(p.cpu(), reference[n]) for n, p in loaded.state_dict().items())
    assert not loaded.config.use_rational_resampler and loaded.config.mid_channels == LAYOUTS["2.3"]["mid_channels"]


def test_an_upsampler_file_that_is_not_its_config_or_not_x2_is_one_line(reference_code, tmp_path):
    from safetensors import safe_open
    from safetensors.torch import save_file

    file = write_upsampler(tmp_path, "2.3", seed=9)
    with safe_open(str(file), framework="pt") as f:
        tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 (not a dict)

    def saved(name: str, **config):
        path = tmp_path / name
        save_file(tensors, str(path), metadata={"config": json.dumps({**LAYOUTS["2.3"], **config})})
        return path

    with pytest.raises(ValueError, match="its upsampler does not fit the config in its metadata"):
        load_ours_from_file(saved("lies.safetensors", rational_resampler=True))  # 2.0's resampler, 2.3's weights
    with pytest.raises(ValueError, match="not a spatial x2 latent upsampler"):
        load_ours_from_file(saved("x1.5.safetensors", spatial_scale=1.5, rational_resampler=True))
