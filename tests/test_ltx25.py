"""LTX-2.5 stories on its tiny twin (`demo-ltx25`): the duration head picks the length ("auto"), the
dedicated prompt enhancer rewrites ideas, Pro decodes with the diffusion decoder. Real diffusers code."""

from __future__ import annotations

import pytest
from conftest import small

from ltx_studio.core import sizing
from ltx_studio.core.errors import BadInput
from ltx_studio.library import media
from ltx_studio.models.variants import parse_registry


@pytest.fixture(scope="module")
def studio25(tmp_path_factory, registry):
    from ltx_studio.models.manager import PipelineManager
    from ltx_studio.studio import Studio

    manager = PipelineManager(registry["demo-ltx25"])
    return Studio(model_set_name="demo-ltx25", outputs=tmp_path_factory.mktemp("ltx25"), manager=manager)


def test_auto_length_lets_the_duration_head_choose_on_the_frame_grid(studio25):
    take = studio25.render(small(frames=None, seconds="auto"))
    assert take.snapped["frames"] == {"asked": "auto", "used": take.frames}
    assert (take.frames - 1) % 8 == 0 and take.frames >= sizing.frames_for_seconds(1.0, take.fps) - 8
    info = media.probe_mp4(take.path("video"))
    assert info["frames"] == take.frames and info["audio"] is not None
    assert abs(info["audio"]["seconds"] - take.frames / take.fps) <= 1 / take.fps


def test_auto_length_without_a_duration_head_is_a_clear_error(studio):
    with pytest.raises(BadInput, match="duration head"):
        studio.render(small(frames=None, seconds="auto"))


def test_the_cli_takes_seconds_auto_and_refuses_other_words(tmp_path, capsys):
    from ltx_studio.cli import main

    outputs = ["--outputs", str(tmp_path)]
    assert main(["render", "--model-set", "demo", "--prompt", "x", "--seconds", "auto", *outputs]) == 2
    assert "duration head" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:
        main(["render", "--model-set", "demo-ltx25", "--prompt", "x", "--seconds", "long", *outputs])
    assert exit_.value.code == 2 and "not a number of seconds or auto" in capsys.readouterr().err


def test_pro_decodes_with_the_diffusion_decoder(studio25):
    take = studio25.render(small(variant="pro", width=128, height=96, frames=9))
    assert take.settings["decoder"] == "diffusion"
    info = media.probe_mp4(take.path("video"))
    assert (info["frames"], info["width"], info["height"]) == (9, 128, 96) and take.audio
    frames = media.read_mp4(take.path("video"))[0]
    assert frames.std() > 0  # pixels from the decoder, not a blank


def test_the_dedicated_enhancer_rewrites_deterministically_and_is_not_the_text_encoder(studio25, studio):
    first = studio25.enhance("a cat on a wall", seed=3)
    assert first["enhanced"] and first["model_set"] == "demo-ltx25"
    assert studio25.enhance("a cat on a wall", seed=3)["enhanced"] == first["enhanced"]
    assert studio.enhance("a cat on a wall", seed=3)["enhanced"] != first["enhanced"]  # LTX-2.3 uses its Gemma


def test_ltx25_components_are_shared_and_a_switch_loads_only_a_transformer(studio25):
    manager = studio25.manager
    manager.get("fast")
    shared = manager.shared()
    assert {"prompt_enhancer", "duration_head", "diffusion_decoder"} <= set(shared)
    before = {k: id(v) for k, v in shared.items()}
    manager.get("distilled")
    assert {k: id(v) for k, v in manager.shared().items()} == before


def test_the_shipped_ltx25_set_names_its_extra_parts(registry):
    ltx25 = registry["ltx25"]
    assert ltx25.auto_duration and not registry["ltx2"].auto_duration
    assert ltx25.components["prompt_enhancer"].repo == "google/gemma-4-E2B-it"
    assert ltx25.components["diffusion_decoder"].subfolder == "diffusion_decoder"
    assert {v.sampling.decoder for v in ltx25.variants.values()} == {"vae", "diffusion"}


def test_a_diffusion_decoder_variant_needs_the_set_to_name_one():
    toml = (
        "[sets.x]\nfamily='ltx2'\n"
        + "".join(f"{k}={{repo='a'}}\n" for k in ("text_encoder", "tokenizer", "connectors", "vae", "audio_vae"))
        + "vocoder={repo='a'}\nscheduler={repo='a'}\n"
        "[sets.x.variants.fast]\ntransformer={repo='a'}\nsteps=4\ndecoder='diffusion'\ndraft_frames=9\n"
        "max_frames=17\ndraft_size=[64,64]\nfull_size=[64,64]\nmax_size=[64,64]\n"
    )
    with pytest.raises(BadInput, match="names no diffusion_decoder"):
        parse_registry(toml, "v.toml")
    with pytest.raises(BadInput, match="decoder must be one of"):
        parse_registry(toml.replace("'diffusion'", "'magic'"), "v.toml")


def test_the_studio_switches_model_sets_and_keeps_every_take(tmp_path, registry):
    from ltx_studio.studio import Studio

    studio = Studio(model_set_name="demo-ltxv", outputs=tmp_path)
    assert {"demo", "demo-ltxv", "demo-ltx25"} <= set(studio.available_sets())
    assert "ltx2" not in studio.available_sets()  # no weights on this machine
    silent = studio.render(small(width=64, height=64))
    assert not silent.audio and silent.model_set == "demo-ltxv"
    studio.use_model_set("demo")
    loud = studio.render(small())
    assert loud.audio and loud.model_set == "demo" and studio.manager.model_set.name == "demo"
    with pytest.raises(BadInput, match="switch the model set to demo-ltxv"):
        studio.upscale(silent.id)
    assert {t.id for t in studio.takes()} == {silent.id, loud.id}
    with pytest.raises(BadInput, match="unknown model set"):
        studio.use_model_set("nope")
    assert studio.model_set.name == "demo"


def test_a_large_diffusion_decode_on_a_cpu_falls_back_to_the_vae_and_says_so(tmp_path):
    """On a CPU the diffusion decoder's attention runs unfused: past its budget the VAE decodes (a
    Pro re-render at full size once took more than 24 GB and the process with it)."""
    from ltx_studio.models.families.diffusion_decoder import CPU_DIFFUSION_DECODE_MAX
    from ltx_studio.render.request import RenderRequest
    from ltx_studio.studio import Studio

    studio = Studio(model_set_name="demo-ltx25", outputs=tmp_path)
    draft = studio.render(RenderRequest(prompt="x", width=128, height=128, frames=17, seed=1))
    final = studio.upscale(draft.id, mode="pro")
    assert final.width * final.height * final.frames > CPU_DIFFUSION_DECODE_MAX
    assert final.settings["decoder"] == "vae" and final.status == "ok"
    small = studio.render(RenderRequest(prompt="x", variant="pro", width=128, height=96, frames=9, seed=1))
    assert small.settings["decoder"] == "diffusion"
