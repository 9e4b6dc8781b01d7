"""The variants registry and the size/frame grid."""

from __future__ import annotations

from pathlib import Path

import pytest

from ltx_studio import sizing
from ltx_studio.errors import BadInput
from ltx_studio.variants import load_registry, parse_registry


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
    shipped = Path(sizing.__file__).with_name("variants.toml").read_text()
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
