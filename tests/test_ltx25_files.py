"""The LTX-2.5 set names its own latent upsampler and Pro's distilled refine LoRA, Lightricks' single files in
Lightricks/LTX-2.5 (in subfolders there: `latent_upscale_models/`, `loras/`); Pro runs the dev transformer
(`transformer_full/`) and refines it as Lightricks' two-stage pipeline does, Fast and Distilled the distilled one.
`models check` and `models download` know the files, a server door takes the set's own LoRA, and the upsampler
file loads from the HF cache as the set names it (no download: a tiny file in Lightricks' layout stands in)."""

from __future__ import annotations

import json

import pytest
import torch
from test_ltx23_files import lightricks_upsampler_file

from ltx_studio.core.errors import BadInput, WeightsMissing
from ltx_studio.models import download, loras, set_loras
from ltx_studio.models.variants import Source

UPSAMPLER = Source(
    "Lightricks/LTX-2.5", file="latent_upscale_models/ltx-2.5-latent-spatial-upscaler-x2-bf16-1.0.safetensors"
)
DISTILLED_LORA = "Lightricks/LTX-2.5/loras/ltx-2.5-22b-distilled-lora-450-bf16.safetensors"
LORA_FILE = DISTILLED_LORA.split("/", 2)[2]
DISTILLED_SIGMAS = (1.0, 0.99375, 0.9875, 0.98125, 0.975, 0.909375, 0.725, 0.421875)


def test_ltx25_upsamples_with_its_own_upsampler_and_pro_refines_dev_with_the_distilled_lora(registry):
    mset = registry["ltx25"]
    assert mset.upsampler == UPSAMPLER  # not LTX-2.0's Lightricks/LTX-2 latent_upsampler
    fast, distilled, pro = (mset.variants[v] for v in ("fast", "distilled", "pro"))
    assert fast.transformer == distilled.transformer == Source("Lightricks/LTX-2.5-Diffusers", "transformer")
    assert pro.transformer == Source("Lightricks/LTX-2.5-Diffusers", "transformer_full")  # the dev model
    for v in (fast, distilled):  # the distilled model on its own schedule, no guidance
        assert v.sampling.sigmas == DISTILLED_SIGMAS and v.sampling.num_steps == 8
        assert (v.sampling.guidance, v.sampling.audio_guidance, v.sampling.refine_lora) == (1.0, 1.0, None)
    s = pro.sampling
    assert (s.refine_lora, s.refine_lora_weight, s.refine_variant) == (DISTILLED_LORA, 0.8, "distilled")
    assert (s.steps, s.guidance, s.stg_scale, s.stg_blocks, s.modality_scale, s.audio_guidance) == (
        30,
        3.0,
        1.0,
        (28,),
        3.0,
        7.0,
    )
    # what the set said before stays: the diffusion decoder on Distilled and Pro, the VAE on Fast; CRF 18
    assert [mset.variants[v].sampling.decoder for v in ("fast", "distilled", "pro")] == [
        "vae",
        "diffusion",
        "diffusion",
    ]
    assert {v.sampling.image_crf for v in mset.variants.values()} == {18}
    assert registry["demo-ltx25"].upsampler.repo == "tiny:ltx2"  # the demo set stays offline


def test_a_server_door_takes_the_ltx25_sets_own_refine_lora_and_no_other_hub_file(registry):
    offered = set_loras.offered(registry["ltx25"])
    assert DISTILLED_LORA in offered
    assert loras.served([(DISTILLED_LORA, 0.8)], None, offered) == [(DISTILLED_LORA, 0.8)]
    with pytest.raises(BadInput, match="is not a LoRA this studio offers"):
        loras.served([("Lightricks/LTX-2.5/loras/other.safetensors", 1.0)], None, offered)
    assert DISTILLED_LORA not in set_loras.offered(registry["ltx2"])  # each set offers its own


def test_pro_refines_on_its_own_dev_transformer_at_the_distilled_schedule_without_guidance(registry, monkeypatch):
    """Stage 1 on dev with Pro's guidance; stage 2 on dev + the distilled LoRA, at Distilled's 3 sigmas and
    guidance 1, as ltx_pipelines' ti2vid_two_stages (SimpleDenoiser). Without the LoRA file: one line with the
    `hf download` command that fetches it."""
    from ltx_studio.render import story
    from ltx_studio.render.plan import RenderPlan

    mset = registry["ltx25"]
    pro = mset.variants["pro"]
    plan = RenderPlan("a harbour", "", pro, 1, 1280, 704, 121, 24, None, pro.sampling.guidance)
    with pytest.raises(WeightsMissing, match=f"hf download Lightricks/LTX-2.5 {LORA_FILE}"):
        story._stages(plan, mset, refine=False)

    monkeypatch.setattr(story, "refine_loras", lambda variant, model_set: ("the distilled LoRA",))
    first, finish = story._stages(plan, mset, refine=False)
    assert (first.variant, first.transformer, first.guidance, first.refine) == (pro, pro, 3.0, False)
    assert (first.plan.width, first.plan.height) == (640, 352)
    assert finish.variant is mset.variants["distilled"] and finish.transformer is pro and finish.refine
    assert finish.guidance == 1.0 and finish.steps == 3 and finish.upsample_first
    assert finish.loras == ("the distilled LoRA",)


def test_models_check_and_download_know_the_ltx25_files(registry, capsys, monkeypatch):
    from ltx_studio.cli import main

    sources = download._sources(registry["ltx25"], "pro")
    assert sources["upsampler"] == UPSAMPLER
    assert sources["refine LoRA (pro)"] == Source("Lightricks/LTX-2.5", file=LORA_FILE)
    assert sources["transformer (pro)"].subfolder == "transformer_full"

    assert main(["models", "check", "--model-set", "ltx25", "--json"]) == 0
    states = json.loads(capsys.readouterr().out)["variants"]
    # conftest's empty HF cache: both files are missing, each where a variant needs it
    assert "upsampler" in states["fast"]["missing"] and "refine LoRA (pro)" in states["pro"]["missing"]
    assert "refine LoRA (pro)" not in states["distilled"]["missing"]

    fetched = []
    monkeypatch.setattr("huggingface_hub.hf_hub_download", lambda repo, file, **_: fetched.append((repo, file)) or file)
    monkeypatch.setattr(
        "huggingface_hub.snapshot_download",
        lambda repo, allow_patterns=None, **_: fetched.append((repo, tuple(allow_patterns or ()))),
    )
    done = download.download(set_name="ltx25", variant="pro", quiet=True)["components"]
    assert done["upsampler"] == UPSAMPLER.file and done["refine LoRA (pro)"] == LORA_FILE
    assert {(UPSAMPLER.repo, UPSAMPLER.file), ("Lightricks/LTX-2.5", LORA_FILE)} <= set(fetched)
    assert ("Lightricks/LTX-2.5-Diffusers", ("transformer_full/*",)) in fetched


def test_the_shipped_ltx25_upsampler_source_loads_from_its_subfolder_in_the_hf_cache(registry, tmp_path, monkeypatch):
    from huggingface_hub import constants
    from test_ltx2 import hub_cached

    from ltx_studio.models.families.ltx2 import LTX2Family
    from ltx_studio.models.manager import is_on_disk

    hub = tmp_path / "hub"
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(hub))
    source = registry["ltx25"].upsampler
    assert not is_on_disk(source)
    state = lightricks_upsampler_file(hub_cached(hub, source.repo, source.file), seed=25)
    assert is_on_disk(source)
    model = LTX2Family().load_component("upsampler", source.repo, None, source.file, None, torch.bfloat16)
    assert model.dtype == torch.bfloat16 and model.config.mid_channels == 32 and not model.config.use_rational_resampler
    assert all(torch.equal(p, state[n].to(torch.bfloat16)) for n, p in model.state_dict().items())
