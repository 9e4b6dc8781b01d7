"""Camera moves: a named camera-control LoRA from the set's data, through the LoRA machinery."""

from __future__ import annotations

import json

import pytest
from conftest import small

from ltx_studio.core.errors import BadInput, WeightsMissing
from ltx_studio.models import loras
from ltx_studio.render.plan import plan_from_take
from ltx_studio.render.story import load_latents


def test_a_camera_move_changes_the_frames_is_recorded_and_its_lora_is_read_once(studio):
    plain = studio.render(small(seed=3), preview=False)
    moved = studio.render(small(seed=3, camera="dolly-in"), preview=False)
    again = studio.render(small(seed=4, camera="dolly-in"), preview=False)
    assert float((load_latents(plain).video - load_latents(moved).video).abs().mean()) > 1e-3
    camera = moved.settings["camera"]
    assert camera == {"name": "dolly-in", "lora": "tiny:camera"}  # the set's source, never a path on the server
    assert moved.settings["loras"][0]["file"] == "camera-dolly-in.safetensors"
    [read] = [n for path, n in loras.reads.items() if str(path).endswith("camera-dolly-in.safetensors")]
    assert read == 1 and again.settings["camera"] == camera  # read once per process
    plan = plan_from_take(moved, studio.model_set, studio.lora_folder)  # an upscale keeps the move, once
    assert plan.camera == "dolly-in" and [c.name for c in plan.loras] == [camera["lora"]]
    assert studio.take(moved.id).settings["camera"] == camera
    for variant in ("distilled", "pro"):  # one LoRA fits every variant of the set
        take = studio.render(small(seed=3, width=128, variant=variant, camera="dolly-in"), preview=False)
        assert take.settings["camera"]["name"] == "dolly-in"


def test_camera_moves_refuse_in_one_line(studio, registry):
    from ltx_studio.models.camera import camera_lora

    with pytest.raises(BadInput, match=r"^unknown camera move 'zoom' \(choose from: dolly-in, dolly-out, "):
        studio.render(small(camera="zoom"))
    with pytest.raises(BadInput, match="^model set 'demo-ltxv' has no camera moves; they come with LTX-2 sets"):
        camera_lora(registry["demo-ltxv"], "static")
    with pytest.raises(WeightsMissing) as missing:
        camera_lora(registry["ltx2"], "jib-up")
    assert str(missing.value) == (
        "the jib-up camera move needs Lightricks/LTX-2-19b-LoRA-Camera-Control-Jib-Up "
        "(ltx-2-19b-lora-camera-control-jib-up.safetensors), which is not on this machine: "
        "hf download Lightricks/LTX-2-19b-LoRA-Camera-Control-Jib-Up ltx-2-19b-lora-camera-control-jib-up.safetensors"
    )


def test_the_cli_takes_a_camera_move(tmp_path, capsys):
    from ltx_studio.cli import main

    out = str(tmp_path / "out")
    assert main(["render", "--prompt", "a street", "--camera", "jib-down", "--width", "96", "--height", "64",
                 "--frames", "9", "--model-set", "demo", "--outputs", out, "--json", "--quiet"]) == 0  # fmt: skip
    assert json.loads(capsys.readouterr().out)["settings"]["camera"]["name"] == "jib-down"
    assert main(["render", "--prompt", "x", "--camera", "zoom", "--model-set", "demo-ltxv", "--outputs", out]) == 2
    assert capsys.readouterr().err.startswith("error: unknown camera move 'zoom'")


def test_ltx2_19b_camera_moves_are_the_lightricks_loras_it_was_trained_with(registry, tmp_path, monkeypatch):
    """Every move of the LTX-2 (19B) set resolves to its LoRA file once that file is in the HF cache,
    and is the usual one-line error with its download command before."""
    from huggingface_hub import constants

    from ltx_studio.models.camera import NAMES, camera_lora

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    mset = registry["ltx2-19b"]
    assert tuple(mset.cameras) == NAMES
    with pytest.raises(WeightsMissing, match=r"hf download Lightricks/LTX-2-19b-LoRA-Camera-Control-Static "):
        camera_lora(mset, "static")
    commit = "0" * 40
    for name in NAMES:
        owner, repo, file = mset.cameras[name].split("/")
        assert (repo, file) == (
            f"LTX-2-19b-LoRA-Camera-Control-{name.title()}",
            f"ltx-2-19b-lora-camera-control-{name}.safetensors",
        )
        cached = tmp_path / "hub" / f"models--{owner}--{repo}"
        (cached / "refs").mkdir(parents=True)
        (cached / "refs" / "main").write_text(commit)
        (cached / "snapshots" / commit).mkdir(parents=True)
        (cached / "snapshots" / commit / file).write_bytes(b"{}")
        assert camera_lora(mset, name) == str(cached / "snapshots" / commit / file)
