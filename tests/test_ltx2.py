"""LTX-2 stories on the tiny LTX-2 demo set: sound with the picture, two-stage variants, upscale that
keeps the sound, prompt enhancement, and LTX-Video still working beside it. Real diffusers code."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from conftest import FIRST_FRAMES, same_picture, small

from ltx_studio.library import media


def sound_of(path) -> np.ndarray:
    """The decoded soundtrack of an mp4, float32 [samples, channels]."""
    import av

    with av.open(str(path)) as container:
        track = container.streams.audio[0]
        return np.concatenate([frame.to_ndarray().T for frame in container.decode(track)])


def test_an_ltx2_draft_has_a_soundtrack_as_long_as_its_picture(studio):
    take = studio.render(small(frames=17))
    info = media.probe_mp4(take.path("video"))
    assert (info["frames"], info["width"], info["height"]) == (17, 96, 64)
    assert take.audio and take.sample_rate == 24000
    picture = take.frames / take.fps
    assert info["audio"]["codec"] == "aac" and info["audio"]["sample_rate"] == take.sample_rate
    assert abs(info["audio"]["seconds"] - picture) <= 1 / take.fps  # within one video frame
    assert np.abs(sound_of(take.path("video"))).max() > 0  # noise from random weights, not silence


def test_no_audio_gives_a_silent_mp4_and_says_so(studio):
    take = studio.render(small(audio=False))
    assert media.probe_mp4(take.path("video"))["audio"] is None
    assert not take.audio and take.sample_rate is None


def test_the_same_seed_gives_the_same_picture_and_sound(studio):
    first, second = studio.render(small(seed=11)), studio.render(small(seed=11))
    assert same_picture(first, second)
    assert np.array_equal(sound_of(first.path("video")), sound_of(second.path("video")))
    other = studio.render(small(seed=12))
    assert not np.array_equal(sound_of(first.path("video")), sound_of(other.path("video")))


def test_a_two_stage_draft_runs_half_size_then_refines(studio, demo):
    take = studio.render(small(variant="distilled", width=128, height=64))
    stages = take.settings["stages"]
    assert [(s["size"], s["refine"]) for s in stages] == [([64, 32], False), ([128, 64], True)]
    sampling = demo.variants["distilled"].sampling
    assert take.steps == len(sampling.sigmas) + len(sampling.refine_sigmas)
    assert media.probe_mp4(take.path("video"))["frames"] == 9 and take.audio


def test_approve_and_upscale_keeps_the_sound_and_points_at_the_draft(studio):
    draft = studio.render(small(image=str(FIRST_FRAMES / "rocket.jpg"), width=None, height=None))
    final = studio.upscale(draft.id)
    assert (final.width, final.height) == (draft.width * 2, draft.height * 2)
    assert final.parent == draft.id and final.kind == "upscale" and studio.take(draft.id).approved
    info = media.probe_mp4(final.path("video"))
    assert final.audio and info["audio"] is not None
    assert abs(info["audio"]["seconds"] - final.frames / final.fps) <= 1 / final.fps
    assert final.image and final.path("image").exists()  # the first frame carried to the final


def test_enhance_rewrites_the_idea_the_same_way_for_the_same_seed(studio):
    first = studio.enhance("a cat on a wall", seed=3)
    assert first["prompt"] == "a cat on a wall" and first["enhanced"] and first["enhanced"] != first["prompt"]
    assert studio.enhance("a cat on a wall", seed=3)["enhanced"] == first["enhanced"]
    with_image = studio.enhance("a cat on a wall", seed=3, image=str(FIRST_FRAMES / "rocket.jpg"))
    assert with_image["enhanced"] != first["enhanced"]  # the image-to-video system prompt and the image


def test_enhance_refuses_empty_prompts_and_ltxv_sets(studio, tmp_path, shared_manager):
    from ltx_studio.core.errors import BadInput
    from ltx_studio.studio import Studio

    with pytest.raises(BadInput, match="needs a prompt"):
        studio.enhance("   ")
    with pytest.raises(BadInput, match="needs an LTX-2 model set"):
        Studio(model_set_name="demo-ltxv", outputs=tmp_path).enhance("a cat")


def test_enhance_on_the_command_line(capsys):
    from ltx_studio.cli import main

    code = main(["enhance", "--prompt", "a cat", "--seed", "5", "--model-set", "demo", "--json", "--quiet"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and out["prompt"] == "a cat" and out["enhanced"] and out["seed"] == 5


def test_no_audio_on_the_command_line(capsys, tmp_path):
    from ltx_studio.cli import main

    argv = ["render", "--prompt", "a cat", "--model-set", "demo", "--width", "96", "--height", "64", "--frames", "9"]
    code = main([*argv, "--no-audio", "--outputs", str(tmp_path), "--json", "--quiet"])
    take = json.loads(capsys.readouterr().out)
    assert code == 0 and take["audio"] is False and media.probe_mp4(take["video"])["audio"] is None


@pytest.mark.parametrize("set_name, repo", [("ltx2", "diffusers/LTX-2.3"), ("ltx2-19b", "Lightricks/LTX-2/")])
def test_ltx2_without_weights_exits_2_naming_the_repo_and_the_download(set_name, repo, tmp_path, monkeypatch, capsys):
    from huggingface_hub import constants

    from ltx_studio.cli import main

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))  # weights in the user's cache must not count
    code = main(["render", "--prompt", "a cat", "--model-set", set_name, "--outputs", str(tmp_path), "--quiet"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1
    assert repo in err and f"models download fast --model-set {set_name}" in err


def test_ltxv_demo_still_renders_and_upscales_without_sound(tmp_path):
    from ltx_studio.studio import Studio

    studio = Studio(model_set_name="demo-ltxv", outputs=tmp_path)
    draft = studio.render(small())
    assert not draft.audio and media.probe_mp4(draft.path("video"))["audio"] is None
    final = studio.upscale(draft.id)
    assert (final.width, final.height, final.parent) == (192, 128, draft.id) and not final.audio


def test_models_list_shows_each_variants_sizes_and_frame_limit(capsys):
    from ltx_studio.cli import main

    assert main(["models", "list", "--json"]) == 0
    sets = json.loads(capsys.readouterr().out)
    pro = sets["ltx2"]["variants"]["pro"]
    assert pro["max_size"] == [3840, 2176] and pro["max_frames"] >= 121 and pro["two_stage"]
    assert set(sets) >= {"ltx2", "ltxv", "demo", "demo-ltxv"} and sets["demo"]["family"] == "ltx2"


def test_the_page_enhances_a_prompt_and_the_draft_records_both_prompts(client, served):
    """Through the page's API: Enhance fills the prompt box; a draft of the enhanced text keeps the typed idea."""
    from ltx_studio.render.request import RenderRequest

    studio, _ = served
    enhanced = client.predict(prompt_text="a cat on a wall", image_path=None, seed_value=4, api_name="/enhance")
    assert enhanced and enhanced != "a cat on a wall"
    take = studio.render(
        RenderRequest(prompt=enhanced, typed_prompt="a cat on a wall", width=96, height=64, frames=9, seed=1)
    )
    assert studio.take(take.id).typed_prompt == "a cat on a wall" and take.prompt == enhanced.strip()


# diffusers' LTX-2 transformer names -> Lightricks' (the inverse of diffusers' single-file conversion)
LIGHTRICKS_NAMES = [
    ("proj_in", "patchify_proj"),  # audio_proj_in -> audio_patchify_proj too
    ("av_cross_attn_video_scale_shift", "av_ca_video_scale_shift_adaln_single"),
    ("av_cross_attn_video_a2v_gate", "av_ca_a2v_gate_adaln_single"),
    ("av_cross_attn_audio_scale_shift", "av_ca_audio_scale_shift_adaln_single"),
    ("av_cross_attn_audio_v2a_gate", "av_ca_v2a_gate_adaln_single"),
    ("video_a2v_cross_attn_scale_shift_table", "scale_shift_table_a2v_ca_video"),
    ("audio_a2v_cross_attn_scale_shift_table", "scale_shift_table_a2v_ca_audio"),
    ("norm_q", "q_norm"),
    ("norm_k", "k_norm"),
]


def lightricks_checkpoint(transformer, path) -> None:
    """A transformer saved as Lightricks ships LTX-2: one file, the transformer under
    `model.diffusion_model.` in the original names, the VAEs and the text projection beside it."""
    from safetensors.torch import save_file

    tensors = {}
    for key, value in transformer.state_dict().items():
        for ours, theirs in LIGHTRICKS_NAMES:
            key = key.replace(ours, theirs)
        for ours, theirs in (("time_embed.", "adaln_single."), ("audio_time_embed.", "audio_adaln_single.")):
            key = theirs + key[len(ours) :] if key.startswith(ours) else key
        tensors[f"model.diffusion_model.{key}"] = value.contiguous()
    tensors["vae.per_channel_statistics.mean-of-means"] = torch.zeros(4)
    tensors["text_embedding_projection.aggregate_embed.weight"] = torch.zeros(2, 2)
    save_file(tensors, str(path))


def hub_cached(hub, repo: str, name: str):
    """Where `name` of `repo` lies in a Hugging Face cache at `hub` (made as a download leaves it)."""
    commit = "0" * 40
    root = hub / f"models--{repo.replace('/', '--')}"
    (root / "refs").mkdir(parents=True, exist_ok=True)
    (root / "refs" / "main").write_text(commit)
    path = root / "snapshots" / commit / name
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def test_a_lightricks_single_file_loads_as_the_transformer_of_its_repo(tmp_path, monkeypatch, registry):
    """The shipped Fast source (Lightricks/LTX-2, ltx-2-19b-distilled.safetensors, config Lightricks/LTX-2),
    with a tiny transformer in Lightricks' layout in the HF cache: the same weights come out, through
    diffusers' own conversion; the VAE and text-projection tensors beside it are not read."""
    from huggingface_hub import constants

    from ltx_studio.models.families.ltx2 import LTX2Family
    from ltx_studio.models.tiny_ltx2 import build_transformer

    hub = tmp_path / "hub"
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(hub))
    original = build_transformer(2, seed=5)
    source = registry["ltx2-19b"].variants["fast"].transformer
    lightricks_checkpoint(original, hub_cached(hub, source.repo, source.file))
    family = LTX2Family()

    def load():
        return family.load_component("transformer", source.repo, None, source.file, source.config, torch.float32)

    with pytest.raises(
        ValueError, match=r"^the architecture of ltx-2-19b-distilled\.safetensors is Lightricks/LTX-2's"
    ):
        load()  # the file alone: its config is missing, and the error says how to get it
    original.save_config(hub_cached(hub, source.config, "transformer/config.json").parent)
    loaded = load()
    assert type(loaded) is type(original) and loaded.config.num_layers == 2
    expected = original.state_dict()
    assert set(loaded.state_dict()) == set(expected)
    assert all(torch.equal(value, expected[key]) for key, value in loaded.state_dict().items())
    with pytest.raises(ValueError, match="single files load as a transformer or video VAE"):
        family.load_component("audio_vae", source.repo, None, source.file, source.config, torch.float32)
