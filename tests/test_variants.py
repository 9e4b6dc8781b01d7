"""The variants registry and the size/frame grid."""

from __future__ import annotations

from pathlib import Path

import pytest

from ltx_studio.core import sizing
from ltx_studio.core.errors import BadInput
from ltx_studio.models import variants
from ltx_studio.models.variants import load_registry, parse_registry


def test_the_shipped_registry_has_ltxv_and_demo_with_three_variants(registry):
    for name in ("ltxv", "demo"):
        assert set(registry[name].variants) == {"fast", "distilled", "pro"}
    ltxv = registry["ltxv"]
    assert ltxv.variants["distilled"].sampling.timesteps == (1000, 993, 987, 981, 975, 909, 725, 0.03)
    assert ltxv.variants["pro"].sampling.steps == 30 and ltxv.variants["pro"].sampling.guidance == 5.0
    assert ltxv.components["vae"].repo == "Lightricks/LTX-Video-0.9.8-13B-distilled"
    assert registry["demo"].is_demo and not ltxv.is_demo


def test_a_user_file_replaces_a_shipped_set(tmp_path, registry):
    path = tmp_path / "v.toml"
    shipped = Path(variants.__file__).with_name("variants.toml").read_text()
    path.write_text(shipped.replace('label = "Fast (tiny, 1 block)"', 'label = "My fast"'))
    assert load_registry(path)["demo"].variants["fast"].label == "My fast"


@pytest.mark.parametrize(
    "toml, message",
    [
        ("[sets.x]\nfamily = 1\n", "sets.x.family must be str"),
        ("[sets.x]\nfamily = 'ltxv'\n", "sets.x.variants is missing"),
        ("sets = 3", "sets must be a table"),
        ("[sets.x\n", "not valid TOML"),
        (
            "[sets.x]\nfamily='ltxv'\ntext_encoder={repo='a'}\ntokenizer={repo='a'}\nvae={repo='a'}\nscheduler={repo='a'}\n"
            "[sets.x.variants.fast]\ntransformer={repo='a'}\nsteps=4\ndraft_frames=9\nmax_frames=17\ndraft_size=[64]\n",
            "draft_size must have 2 numbers",
        ),
        (
            "[sets.x]\nfamily='ltxv'\ntext_encoder={repo='a'}\ntokenizer={repo='a'}\nvae={repo='a'}\nscheduler={repo='a'}\n"
            "[sets.x.variants.fast]\ntransformer={repo='a'}\ndraft_size=[64,64]\n",
            "needs steps, timesteps or sigmas",
        ),
        (
            "[sets.x]\nfamily='ltxv'\ntext_encoder={repo='a'}\ntokenizer={repo='a'}\nvae={repo='a'}\nscheduler={repo='a'}\n"
            "[sets.x.variants.fast]\ntransformer={repo=3}\nsteps=4\n",
            "transformer.repo must be str",
        ),
        (
            "[sets.x]\nfamily='ltxv'\ntext_encoder={repo='a'}\ntokenizer={repo='a'}\nvae={repo='a'}\nscheduler={repo='a'}\n[sets.x.variants.fast]\ntransformer={repo='a'}\nsteps=0\n",
            "steps must be between 1 and 200",
        ),
        (
            "[sets.x]\nfamily='ltxv'\ntext_encoder={repo='a'}\ntokenizer={repo='a'}\nvae={repo='a'}\nscheduler={repo='a'}\n[sets.x.variants.fast]\ntransformer={repo='a'}\ntimesteps=[1, 1000]\n",
            "timesteps must descend",
        ),
        (
            "[sets.x]\nfamily='ltxv'\ntext_encoder={repo='a'}\ntokenizer={repo='a'}\nvae={repo='a'}\nscheduler={repo='a'}\n[sets.x.variants.fast]\ntransformer={repo='a', file='x.safetensors'}\nsteps=4\n",
            "has a file but no config",
        ),
        (
            "[sets.x]\nfamily='ltxv'\ntext_encoder={repo='a'}\ntokenizer={repo='a'}\nvae={repo='a'}\nscheduler={repo='a'}\n[sets.x.variants.fast]\ntransformer={repo='a'}\nsteps=4\ndraft_frames=10\nmax_frames=17\n",
            "draft_frames must be 8k\\+1",
        ),
    ],
)
def test_a_broken_variants_file_is_one_clear_error(toml, message):
    with pytest.raises(BadInput, match=message.replace(".", r"\.")):
        parse_registry(toml, "my.toml")


@pytest.mark.parametrize(
    "asked, frames", [(1, 9), (9, 9), (10, 9), (12, 9), (14, 17), (120, 121), (121, 121), (257, 257)]
)
def test_frames_snap_to_8k_plus_1(asked, frames):
    assert sizing.snap_frames(asked) == frames


def test_sizes_snap_to_32_and_seconds_become_frames():
    assert sizing.snap_side(500) == 512 and sizing.snap_side(10) == 32
    assert sizing.frames_for_seconds(5, 24) == 121
    assert sizing.size_for_aspect(451 / 300, (768, 512)) == (768, 512)
    assert sizing.size_for_aspect(9 / 16, (768, 512)) == (480, 832)
    assert sizing.fits((704, 1280), (1280, 704)) and not sizing.fits((1300, 704), (1280, 704))


def test_ltx2_19b_is_lightricks_ltx2_with_its_distilled_file_and_the_dev_folders(registry):
    """LTX-2 (19B): every shared part from Lightricks/LTX-2's diffusers folders, Fast and Distilled from
    Lightricks' distilled single file, Pro from the dev transformer folder, refined by the distilled one."""
    from diffusers.pipelines.ltx2.utils import DISTILLED_SIGMA_VALUES, STAGE_2_DISTILLED_SIGMA_VALUES

    from ltx_studio.models.variants import Source

    mset = registry["ltx2-19b"]
    assert mset.family == "ltx2" and mset.has_audio and not mset.is_demo and mset.label == "LTX-2 (19B)"
    for kind in ("text_encoder", "tokenizer", "connectors", "vae", "audio_vae", "vocoder", "scheduler"):
        assert mset.components[kind] == Source("Lightricks/LTX-2", kind)
    assert mset.components["processor"] == Source("diffusers/LTX-2.3-Diffusers", "processor")  # the same Gemma 3
    assert mset.upsampler == Source("Lightricks/LTX-2", "latent_upsampler")
    assert mset.default_variant == "fast" and set(mset.variants) == {"fast", "distilled", "pro"}
    fast, distilled, pro = (mset.variants[name] for name in ("fast", "distilled", "pro"))
    single_file = Source("Lightricks/LTX-2", file="ltx-2-19b-distilled.safetensors", config="Lightricks/LTX-2")
    assert fast.transformer == distilled.transformer == single_file
    assert pro.transformer == Source("Lightricks/LTX-2", "transformer")
    assert [v.label.split(" (")[0] for v in (fast, distilled, pro)] == ["LTX-2 Fast", "LTX-2 Distilled", "LTX-2 Pro"]
    for variant in (fast, distilled):
        sampling = variant.sampling
        assert list(sampling.sigmas) == DISTILLED_SIGMA_VALUES and sampling.num_steps == 8
        assert list(sampling.refine_sigmas) == STAGE_2_DISTILLED_SIGMA_VALUES and sampling.guidance == 1.0
        assert sampling.stg_scale == 0 and sampling.modality_scale == 1 and sampling.audio_guidance == 1
    assert not fast.sampling.two_stage and distilled.sampling.two_stage
    p = pro.sampling
    assert (p.steps, p.guidance, p.guidance_rescale, p.stg_scale, p.stg_blocks, p.modality_scale) == (
        40, 3.0, 0.7, 1.0, (29,), 3.0
    )  # fmt: skip
    assert (p.audio_guidance, p.audio_stg_scale, p.audio_modality_scale, p.audio_guidance_rescale) == (7, 1, 3, 0.7)
    assert p.two_stage and p.refine_variant == "distilled" and p.sigmas is None
    for variant in (fast, distilled, pro):
        assert (variant.sampling.fps, variant.sampling.image_crf, variant.draft_frames) == (24, 33, 121)
        assert variant.max_size == registry["ltx2"].variants[variant.name].max_size  # sizes as the ltx2 set's
    assert mset.cameras == registry["ltx2"].cameras and len(mset.cameras) == 7
    assert mset.negative_prompt == registry["ltx2"].negative_prompt  # Lightricks' own, unchanged since 2.0
