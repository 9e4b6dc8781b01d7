"""The x2 latent upsampler step: `LTX2Family.upsample` computes what ltx_core's `upsample_video` computes.

Theirs (ltx-core 1.0.0, as every two-stage pipeline calls it between the stages): un-normalise the stage's
latents with the video encoder's per-channel statistics, `LatentUpsampler`, normalise again; no AdaIN, no
tone mapping. Ours: diffusers' `LTX2LatentUpsamplePipeline` as the family calls it (latents as a pass leaves
them, i.e. un-normalised, `adain_factor` and tone mapping from the model set), compared after the
normalisation the refine stage applies (`_normalize_latents` with the same VAE's statistics).

The same weights on both sides: a tiny upsampler built with ltx_core's own class and saved as Lightricks ships
one (one safetensors file, its architecture as JSON in the `config` metadata), loaded by ltx_core's builder
(as ltx_pipelines' ModelLedger does); for ours, converted as diffusers' own converter does
(scripts/convert_ltx2_to_diffusers.py: `LTX2LatentUpsamplerModel(**config).load_state_dict(file, strict=True)`,
no key renamed, `use_rational_resampler` True for LTX-2.0's upsampler and False for LTX-2.3's), saved as a
diffusers folder and loaded by the family's loader. The two classes are the same architecture: the key names
differ only between the two resampler layouts (`upsampler.conv.*` + the `upsampler.blur_down.kernel` buffer for
the rational resampler, `upsampler.0.*` for conv + pixel shuffle), which ltx_core's `rational_resampler` and
diffusers' `use_rational_resampler` choose alike. The VAE statistics are the demo set's (not 0 and 1).

Tolerance: 1e-5 relative to the reference's largest value (fp32). The teeth: ltx_core's upsampler run on the
normalised latents (no un-normalise / normalise around it) is far off, and so is AdaIN at 1.0 (the factor
the LTX-2 sets used before; reported as the figure a set with it would be off by).
"""

from __future__ import annotations

import json

import pytest
import torch

from . import reference as R

TOLERANCE = 1e-5
MOVES = 1e-3
# (set, ltx_core config): LTX-2.0's spatial x2 upsampler (a rational resampler), LTX-2.3's (conv + pixel shuffle);
# the real ones are 128 -> 1024 channels, 4 blocks per stage.
LAYOUTS = {
    "2.0": {"in_channels": 128, "mid_channels": 32, "num_blocks_per_stage": 1, "dims": 3, "spatial_upsample": True,
            "temporal_upsample": False, "spatial_scale": 2.0, "rational_resampler": True},
    "2.3": {"in_channels": 128, "mid_channels": 32, "num_blocks_per_stage": 1, "dims": 3, "spatial_upsample": True,
            "temporal_upsample": False, "spatial_scale": 2.0, "rational_resampler": False},
}  # fmt: skip


def write_upsampler(folder, version: str, seed: int = 0):
    """A tiny upsampler file in Lightricks' layout, built with ltx_core's class (random weights of a plausible
    scale: norms near 1, convolutions ~ 1/sqrt(fan_in))."""
    from ltx_core.model.upsampler import LatentUpsamplerConfigurator
    from safetensors.torch import save_file

    config = LAYOUTS[version]
    model = LatentUpsamplerConfigurator.from_config(config)
    generator = torch.Generator().manual_seed(seed)
    tensors = {}
    for name, tensor in model.state_dict().items():
        if name.endswith("blur_down.kernel"):  # a fixed binomial kernel, saved with the weights
            tensors[name] = tensor
        elif "norm" in name:
            base = 1.0 if name.endswith("weight") else 0.0
            tensors[name] = base + 0.1 * torch.randn(tensor.shape, generator=generator)
        elif name.endswith("weight"):
            tensors[name] = torch.randn(tensor.shape, generator=generator) / tensor[0].numel() ** 0.5
        else:
            tensors[name] = 0.05 * torch.randn(tensor.shape, generator=generator)
    file = folder / f"ltx-{version}-spatial-upscaler-x2-tiny.safetensors"
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(file), metadata={"config": json.dumps(config)})
    return file


def load_reference_upsampler(file):
    """ltx_core's LatentUpsampler from the file, as ModelLedger's upsampler builder loads it."""
    from ltx_core.loader import SingleGPUModelBuilder
    from ltx_core.model.upsampler import LatentUpsamplerConfigurator

    builder = SingleGPUModelBuilder(model_path=str(file), model_class_configurator=LatentUpsamplerConfigurator)
    model = builder.build(device=torch.device("cpu"), dtype=torch.float32).eval()
    assert not [n for n, p in [*model.named_parameters(), *model.named_buffers()] if p.device.type == "meta"]
    return model


def convert_and_load_ours(file, folder):
    """diffusers' conversion of the file (its config mapped, the state dict as is, strict), saved as a diffusers
    folder, then the family's own loader."""
    from diffusers.pipelines.ltx2 import LTX2LatentUpsamplerModel
    from safetensors import safe_open
    from safetensors.torch import load_file

    from ltx_studio.models.families.ltx2 import LTX2Family

    with safe_open(str(file), framework="pt") as f:
        config = json.loads(f.metadata()["config"])
    converted = LTX2LatentUpsamplerModel(
        in_channels=config["in_channels"],
        mid_channels=config["mid_channels"],
        num_blocks_per_stage=config["num_blocks_per_stage"],
        dims=config["dims"],
        spatial_upsample=config["spatial_upsample"],
        temporal_upsample=config["temporal_upsample"],
        rational_spatial_scale=config["spatial_scale"],
        use_rational_resampler=config["rational_resampler"],
    )
    tensors = load_file(str(file))
    assert set(tensors) == set(converted.state_dict())  # the same names: no renaming to do
    converted.load_state_dict(tensors, strict=True)
    converted.save_pretrained(str(folder / "latent_upsampler"), safe_serialization=True)
    return LTX2Family().load_component("upsampler", str(folder), "latent_upsampler", None, None, torch.float32)


@pytest.fixture(scope="module")
def upsamplers(reference_code, tmp_path_factory) -> dict:
    """version -> (ltx_core's LatentUpsampler, ours), the same tiny file."""
    made = {}
    for version in LAYOUTS:
        folder = tmp_path_factory.mktemp(f"ltx-upsampler-{version}")
        file = write_upsampler(folder, version, seed=list(LAYOUTS).index(version))
        made[version] = (load_reference_upsampler(file), convert_and_load_ours(file, folder))
    return made


def compare(version, upsamplers, shared_manager, adain: float) -> tuple[float, float]:
    """(ours vs upsample_video, upsample_video vs the upsampler without the statistics around it)."""
    from types import SimpleNamespace

    from diffusers import LTX2ConditionPipeline
    from ltx_core.model.upsampler import upsample_video
    from ltx_core.model.video_vae.ops import PerChannelStatistics

    from ltx_studio.models.families.base import Latents
    from ltx_studio.models.families.ltx2 import LTX2Family

    theirs, ours = upsamplers[version]
    vae = shared_manager.shared()["vae"]
    family = LTX2Family()
    up_pipe = family.assemble_upsampler({"vae": vae}, ours)
    statistics = PerChannelStatistics(latent_channels=vae.config.latent_channels)
    statistics.get_buffer("mean-of-means").copy_(vae.latents_mean)  # the converter's latents_mean / latents_std
    statistics.get_buffer("std-of-means").copy_(vae.latents_std)
    encoder = SimpleNamespace(per_channel_statistics=statistics)
    generator = torch.Generator().manual_seed(0)
    stage = torch.randn(1, vae.config.latent_channels, 3, 2, 3, generator=generator)  # a pass's output, normalised
    raw = statistics.un_normalize(stage)  # as the family holds it (`Latents`: as diffusers returns them)
    with torch.no_grad():
        expected = upsample_video(stage, encoder, theirs)
        bare = theirs(stage)
    upsampled = family.upsample(up_pipe, Latents(raw, None), adain, 0.0, generator).video
    normalise = LTX2ConditionPipeline._normalize_latents  # what the refine stage's prepare_latents applies
    ours_normal = normalise(upsampled, vae.latents_mean, vae.latents_std, vae.config.scaling_factor)
    assert ours_normal.shape == expected.shape == (1, vae.config.latent_channels, 3, 4, 6)
    return R.max_relative(ours_normal, expected), R.max_relative(bare, expected)


@pytest.mark.parametrize("version", list(LAYOUTS), ids=["ltx-2.0-rational-resampler", "ltx-2.3-conv-pixel-shuffle"])
def test_the_latent_upsampler_step_is_ltx_cores(version, upsamplers, shared_manager, registry, report):
    model_set = registry[R.SETS[version]]
    assert model_set.upsample_adain_factor == 0.0 and model_set.upsample_tone_map_compression_ratio == 0.0
    figure, bare = compare(version, upsamplers, shared_manager, model_set.upsample_adain_factor)
    before, _ = compare(version, upsamplers, shared_manager, 1.0)
    report(
        f"parity latent upsampler (LTX-{version} layout): max relative difference {figure:.2e} with the set's AdaIN "
        f"0.0 (tolerance {TOLERANCE:.0e}); AdaIN 1.0 (before) {before:.2e}; without the statistics around it "
        f"{bare:.2e}"
    )
    assert min(before, bare) > MOVES
    assert figure <= TOLERANCE
