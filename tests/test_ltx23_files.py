"""The LTX-2.3 set names its own latent upsampler and Pro's distilled refine LoRA, Lightricks' single files in
Lightricks/LTX-2.3; `models check` and `models download` know both, and the upsampler file loads from the HF
cache as the set names it (no download: a tiny file in Lightricks' layout stands in for the real 996 MB one)."""

from __future__ import annotations

import json

import pytest
import torch

from ltx_studio.core.errors import BadInput
from ltx_studio.models import download, set_loras
from ltx_studio.models.variants import Source, parse_registry

UPSAMPLER = Source("Lightricks/LTX-2.3", file="ltx-2.3-spatial-upscaler-x2-1.1.safetensors")
DISTILLED_LORA = "Lightricks/LTX-2.3/ltx-2.3-22b-distilled-lora-384-1.1.safetensors"


def test_ltx23_upsamples_with_its_own_upsampler_and_pro_refines_with_dev_plus_the_distilled_lora(registry):
    mset = registry["ltx2"]
    assert mset.upsampler == UPSAMPLER  # not LTX-2.0's Lightricks/LTX-2 latent_upsampler: another VAE latent space
    pro = mset.variants["pro"].sampling
    assert (pro.refine_lora, pro.refine_lora_weight, pro.refine_variant) == (DISTILLED_LORA, 0.8, "distilled")
    assert not any(mset.variants[v].sampling.refine_lora for v in ("fast", "distilled"))
    assert DISTILLED_LORA in set_loras.offered(mset)  # a server door takes the set's own refine LoRA
    assert registry["ltx2-19b"].upsampler == Source("Lightricks/LTX-2", "latent_upsampler")  # 2.0 keeps its own


def test_models_check_and_download_know_the_ltx23_files(registry, capsys, monkeypatch):
    from ltx_studio.cli import main

    sources = download._sources(registry["ltx2"], "pro")
    assert sources["upsampler"] == UPSAMPLER
    assert sources["refine LoRA (pro)"] == Source("Lightricks/LTX-2.3", file=DISTILLED_LORA.split("/", 2)[2])

    assert main(["models", "check", "--model-set", "ltx2", "--json"]) == 0
    states = json.loads(capsys.readouterr().out)["variants"]
    # conftest's empty HF cache: both files are missing, each where a variant needs it
    assert "upsampler" in states["fast"]["missing"] and "refine LoRA (pro)" in states["pro"]["missing"]

    fetched = []
    monkeypatch.setattr("huggingface_hub.hf_hub_download", lambda repo, file, **_: fetched.append((repo, file)) or file)
    monkeypatch.setattr("huggingface_hub.snapshot_download", lambda repo, **_: repo)
    done = download.download(set_name="ltx2", variant="pro", quiet=True)["components"]
    assert done["upsampler"] == UPSAMPLER.file and done["refine LoRA (pro)"] == DISTILLED_LORA.split("/", 2)[2]
    assert {(UPSAMPLER.repo, UPSAMPLER.file), ("Lightricks/LTX-2.3", DISTILLED_LORA.split("/", 2)[2])} <= set(fetched)


def lightricks_upsampler_file(path, mid_channels: int = 32, seed: int = 0):
    """A tiny x2 spatial upsampler saved as Lightricks ships one: ltx_core's names (diffusers' model has the
    same), the architecture as ltx_core's configurator reads it in the `config` metadata."""
    from diffusers.pipelines.ltx2 import LTX2LatentUpsamplerModel
    from safetensors.torch import save_file

    torch.manual_seed(seed)
    model = LTX2LatentUpsamplerModel(in_channels=128, mid_channels=mid_channels, num_blocks_per_stage=1,
                                     use_rational_resampler=False)  # fmt: skip
    config = {"_class_name": "LatentUpsampler", "in_channels": 128, "mid_channels": mid_channels,
              "num_blocks_per_stage": 1, "dims": 3, "spatial_upsample": True, "temporal_upsample": False,
              "spatial_scale": 2.0, "rational_resampler": False}  # fmt: skip
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(path), metadata={"config": json.dumps(config)})
    return state


def test_the_shipped_upsampler_source_loads_from_the_hf_cache(registry, tmp_path, monkeypatch):
    from huggingface_hub import constants
    from test_ltx2 import hub_cached

    from ltx_studio.models.families.ltx2 import LTX2Family
    from ltx_studio.models.manager import is_on_disk

    hub = tmp_path / "hub"
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(hub))
    source = registry["ltx2"].upsampler
    assert not is_on_disk(source)
    state = lightricks_upsampler_file(hub_cached(hub, source.repo, source.file))
    assert is_on_disk(source)
    model = LTX2Family().load_component("upsampler", source.repo, None, source.file, None, torch.bfloat16)
    assert model.dtype == torch.bfloat16 and model.config.mid_channels == 32 and not model.config.use_rational_resampler
    assert all(torch.equal(p, state[n].to(torch.bfloat16)) for n, p in model.state_dict().items())


def test_an_upsampler_file_must_be_safetensors():
    text = (
        "[sets.x]\nfamily='ltxv'\ntext_encoder={repo='a'}\ntokenizer={repo='a'}\nvae={repo='a'}\nscheduler={repo='a'}\n"
        "upsampler={repo='a', file='up.pt'}\n[sets.x.variants.fast]\ntransformer={repo='a'}\nsteps=4\n"
        "draft_size=[64,64]\nfull_size=[64,64]\nmax_size=[64,64]\ndraft_frames=9\nmax_frames=17\n"
    )
    with pytest.raises(BadInput, match=r"sets\.x\.upsampler\.file must be a \.safetensors file"):
        parse_registry(text, "v.toml")
