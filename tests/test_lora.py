"""LoRAs: tiny LoRAs made here with peft on the demo sets' own transformers and saved in diffusers'
LoRA format, then used through the studio: weights, what a take records, no reloads, bad files."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import armed_pickle, small
from safetensors.torch import load_file, save_file

from ltx_studio.cli import main
from ltx_studio.core.errors import BadInput
from ltx_studio.library import media
from ltx_studio.models import loras
from ltx_studio.models.manager import PipelineManager, resolve
from ltx_studio.studio import Studio
from ltx_studio.ui.lora_picker import lora_values
from ltx_studio.ui.studio_tab.tab import draft_request
from ltx_studio.ui.take_text import take_markdown

ATTENTION = ["to_q", "to_k", "to_v", "to_out.0"]
RANK, ALPHA = 4, 8


def make_lora(manager: PipelineManager, variant: str, path, *, seed: int, targets=ATTENTION):
    """A LoRA of one variant's transformer: peft on a fresh copy read from the set's own files (random,
    non-zero weights), saved with the pipeline class's `save_lora_weights` and its LoraConfig as metadata."""
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict

    source = manager.model_set.variant(variant).transformer
    transformer = manager.family.load_component(
        "transformer", resolve(source), source.subfolder, source.file, source.config, torch.float32
    )
    config = LoraConfig(r=RANK, lora_alpha=ALPHA, target_modules=targets, init_lora_weights=False)
    torch.manual_seed(seed)
    transformer.add_adapter(config)
    type(manager.get(variant)).save_lora_weights(
        path.parent,
        transformer_lora_layers=get_peft_model_state_dict(transformer),
        weight_name=path.name,
        transformer_lora_adapter_metadata=config.to_dict(),
    )
    return path


@pytest.fixture(scope="module")
def managers(registry):
    """Managers of their own: these tests count loads and leave adapters in the transformers."""
    return {name: PipelineManager(registry[name]) for name in ("demo", "demo-ltxv")}


@pytest.fixture(scope="module")
def files(managers, tmp_path_factory):
    """LoRAs of both families' Fast transformers (two for LTX-2), built once."""
    folder = tmp_path_factory.mktemp("loras")
    return {
        "demo": make_lora(managers["demo"], "fast", folder / "ltx2-style.safetensors", seed=1),
        "demo-b": make_lora(managers["demo"], "fast", folder / "ltx2-camera.safetensors", seed=2),
        "demo-c": make_lora(managers["demo"], "fast", folder / "ltx2-unused.safetensors", seed=3),
        "demo-ltxv": make_lora(managers["demo-ltxv"], "fast", folder / "ltxv-style.safetensors", seed=4),
    }


def studio_of(managers, name, tmp_path) -> Studio:
    return Studio(model_set_name=name, outputs=tmp_path / "outputs", manager=managers[name])


def latents(take) -> torch.Tensor:
    return load_file(str(take.path("latents")))["latents"]


def loaded_adapters(studio: Studio, variant: str = "fast") -> set[str]:
    """The peft adapters loaded into a variant's transformer (none before its first LoRA)."""
    return set(getattr(studio.manager.get(variant).transformer, "peft_config", {}))


def attention_layer(studio: Studio):
    """The first block's query projection of the Fast transformer (a peft LoRA layer once a LoRA loaded)."""
    return studio.manager.get("fast").transformer.transformer_blocks[0].attn1.to_q


@pytest.mark.parametrize("name", ["demo", "demo-ltxv"])
def test_weight_0_renders_as_no_lora_weight_1_differs_and_the_take_records_the_lora(managers, files, name, tmp_path):
    studio = studio_of(managers, name, tmp_path)
    lora = files[name]

    plain = studio.render(small(), preview=False)
    styled = studio.render(small(loras=[(str(lora), 1.0)]), preview=False)
    zero = studio.render(small(loras=[f"{lora}:0"]), preview=False)  # after a render with it loaded and on
    again = studio.render(small(), preview=False)

    assert latents(zero).equal(latents(plain)) and latents(again).equal(latents(plain))
    assert not latents(styled).equal(latents(plain)) and latents(styled).isfinite().all()
    sha256 = hashlib.sha256(lora.read_bytes()).hexdigest()
    expected = {"name": str(lora), "file": lora.name, "sha256": sha256, "weight": 1.0}
    assert studio.take(styled.id).settings["loras"] == [expected]  # read back from the store
    assert json.loads(styled.path("record").read_text())["settings"]["loras"] == [expected]
    assert zero.settings["loras"][0]["weight"] == 0.0 and plain.settings["loras"] == []
    assert f"sha256 {sha256[:12]}" in take_markdown(styled) and "× 1" in take_markdown(styled)
    assert studio.manager.get("fast").transformer.peft_config[f"lora_{sha256[:16]}"].lora_alpha == ALPHA


def test_adding_removing_and_reweighting_loras_never_reloads_the_transformer_nor_rereads_a_file(
    managers, files, tmp_path
):
    studio = studio_of(managers, "demo", tmp_path)
    style, camera = files["demo"], files["demo-b"]
    transformer = studio.manager.get("fast").transformer
    loads = dict(studio.manager.loads)
    adapter = {path: loras.read(path, path.name).adapter for path in (style, camera)}
    scale = ALPHA / RANK

    studio.render(small(loras=[str(style)]), preview=False)
    layer = attention_layer(studio)
    assert layer.active_adapters == [adapter[style]] and layer.scaling[adapter[style]] == 1.0 * scale

    studio.render(small(loras=[str(style), f"{camera}:0.5"]), preview=False)
    assert layer.active_adapters == [adapter[style], adapter[camera]] and not layer.disable_adapters
    assert layer.scaling[adapter[camera]] == 0.5 * scale

    studio.render(small(loras=[{"lora": str(camera), "weight": -0.25}]), preview=False)
    assert layer.active_adapters == [adapter[camera]] and layer.scaling[adapter[camera]] == -0.25 * scale

    studio.render(small(), preview=False)
    assert layer.disable_adapters  # no LoRA asked: every LoRA layer is off

    assert dict(studio.manager.loads) == loads and studio.manager.get("fast").transformer is transformer
    assert loras.reads[str(style.resolve())] == 1 and loras.reads[str(camera.resolve())] == 1


def _truncated(folder, files):
    path = folder / "truncated.safetensors"
    path.write_bytes(files["demo"].read_bytes()[:-100])
    return path


def _pickle_renamed(folder, files):
    return armed_pickle(folder / "renamed-pickle.safetensors", folder / "pickle-ran")


def _pickle(folder, files):
    return armed_pickle(folder / "lora.bin", folder / "pickle-ran")


def _other_family(folder, files):
    return files["demo-ltxv"]


def _whole_model(folder, files):
    path = folder / "model.safetensors"
    save_file({"proj_in.weight": torch.zeros(2, 2)}, str(path))
    return path


BAD = {
    "a LoRA of the other family": (_other_family, "does not fit"),
    "a truncated file": (_truncated, "broken or truncated"),
    "a pickle": (_pickle, "pickle"),
    "a pickle renamed .safetensors": (_pickle_renamed, "pickle"),
    "a whole model, not a LoRA": (_whole_model, "no LoRA weights"),
}


@pytest.fixture(scope="module")
def plain(managers, tmp_path_factory) -> torch.Tensor:
    """The latents of a plain render on the demo set, made before any bad LoRA is offered."""
    return latents(studio_of(managers, "demo", tmp_path_factory.mktemp("plain")).render(small(), preview=False))


@pytest.mark.parametrize("case", list(BAD))
def test_a_lora_that_cannot_be_used_is_one_line_and_the_pipeline_stays_as_it_was(
    managers, files, plain, case, tmp_path
):
    studio = studio_of(managers, "demo", tmp_path)
    make, message = BAD[case]
    bad = make(tmp_path, files)
    layer = attention_layer(studio)
    adapters = loaded_adapters(studio)
    loads = dict(studio.manager.loads)

    # An unused good LoRA first: it is not loaded either, since the bad one is refused before any change.
    with pytest.raises(BadInput, match=message) as refused:
        studio.render(small(loras=[str(files["demo-c"]), f"{bad}:0.8"]), preview=False)

    assert "\n" not in str(refused.value) and bad.name in str(refused.value)
    assert loaded_adapters(studio) == adapters
    assert attention_layer(studio) is layer and dict(studio.manager.loads) == loads
    assert not (tmp_path / "pickle-ran").exists()  # no pickle was ever unpickled
    assert latents(studio.render(small(), preview=False)).equal(plain)
    assert studio.takes()[0].settings["loras"] == []


def test_a_lora_of_ltx2_on_ltx_video_is_one_line_and_the_next_render_is_as_before(managers, files, tmp_path):
    studio = studio_of(managers, "demo-ltxv", tmp_path)
    plain = latents(studio.render(small(), preview=False))

    with pytest.raises(BadInput, match=r"does not fit model set 'demo-ltxv' \(ltxv\).*audio") as refused:
        studio.render(small(loras=[str(files["demo"])]), preview=False)

    assert "\n" not in str(refused.value)
    assert latents(studio.render(small(), preview=False)).equal(plain)


def test_names_resolve_in_the_lora_folder_and_the_hf_cache_and_nothing_is_downloaded(files, tmp_path, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.delenv("LTX_STUDIO_LORAS", raising=False)
    studio = Studio(model_set_name="demo", outputs=tmp_path / "outputs")
    assert studio.lora_folder == tmp_path.resolve() / "outputs" / "loras"
    studio.lora_folder.mkdir()
    shutil.copy(files["demo"], studio.lora_folder / "style.safetensors")
    assert studio.lora_files() == ["style.safetensors"]
    (by_name,) = loras.choose(["style:0.7"], studio.lora_folder)
    assert (by_name.name, by_name.weight, by_name.file.path.name) == ("style", 0.7, "style.safetensors")

    monkeypatch.setenv("LTX_STUDIO_LORAS", str(tmp_path / "mine"))
    assert Studio(model_set_name="demo", outputs=tmp_path / "outputs").lora_folder == tmp_path / "mine"

    # A Hub repo already in the cache (the layout huggingface_hub writes), by repo id or repo id + file.
    repo, commit = "tiny-org/ltx2-style", "0" * 40
    snapshot = Path(constants.HF_HUB_CACHE) / "models--tiny-org--ltx2-style" / "snapshots" / commit
    snapshot.mkdir(parents=True)
    shutil.copy(files["demo"], snapshot / "ltx2-style.safetensors")
    (snapshot.parents[1] / "refs").mkdir()
    (snapshot.parents[1] / "refs" / "main").write_text(commit)
    (whole,) = loras.choose([repo], None)
    (single,) = loras.choose([f"{repo}/ltx2-style.safetensors:0.5"], None)
    assert whole.file.sha256 == single.file.sha256 == hashlib.sha256(files["demo"].read_bytes()).hexdigest()
    assert single.weight == 0.5

    with pytest.raises(BadInput, match="not found.*never downloaded"):
        loras.choose(["tiny-org/not-cached"], studio.lora_folder)
    with pytest.raises(BadInput, match="listed twice"):
        loras.choose([str(files["demo"]), "style"], studio.lora_folder)
    shutil.copy(files["demo-b"], snapshot / "another.safetensors")
    with pytest.raises(BadInput, match="several .safetensors files; name one"):
        loras.choose([repo], None)


def test_the_cli_takes_lora_with_a_weight_and_bad_lora_syntax_is_exit_2_with_one_line(files, tmp_path, capsys):
    base = ["render", "--model-set", "demo", "--prompt", "a cat", "--outputs", tmp_path, "--quiet"]
    base += ["--width", "96", "--height", "64", "--frames", "9", "--seed", "3"]

    assert main([str(a) for a in [*base, "--lora", f"{files['demo']}:0.5", "--json"]]) == 0
    take = json.loads(capsys.readouterr().out)
    assert [(lora["file"], lora["weight"]) for lora in take["settings"]["loras"]] == [("ltx2-style.safetensors", 0.5)]

    for spec, message in (
        (f"{files['demo']}:strong", "weight must be a number"),
        (f"{files['demo']}:", "a weight must follow the colon"),
        (":0.5", "name or path is empty"),
        (f"{files['demo']}:9", "between -4 and 4"),
        ("no-such-lora", "not found"),
    ):
        assert main([str(a) for a in [*base, "--lora", spec]]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and message in err and "Traceback" not in err


def test_upscaling_a_draft_refines_with_its_loras(managers, files, tmp_path):
    studio = studio_of(managers, "demo", tmp_path)
    draft = studio.render(small(loras=[f"{files['demo']}:0.5"]), preview=False)

    final = studio.upscale(draft.id)

    assert final.parent == draft.id and final.settings["loras"] == draft.settings["loras"]


def test_the_studio_tab_picker_rows_make_the_request_and_reuse_fills_them_back(managers, files, tmp_path):
    studio = studio_of(managers, "demo", tmp_path)
    studio.lora_folder.mkdir()
    shutil.copy(files["demo"], studio.lora_folder / "style.safetensors")
    shutil.copy(files["demo-b"], studio.lora_folder / "camera.safetensors")
    settings = ["a cat", None, None, "fast", 7, False, "draft", 0.4, 24, None, None, True, None, False]
    rows = ["style.safetensors", 0.5, "", 1.0, "camera", -0.25]  # (name, weight) per row

    request = draft_request(studio, *settings, lora_rows=rows)

    assert request.loras == [("style.safetensors", 0.5), ("camera.safetensors", -0.25)]
    take = studio.render(small(loras=request.loras), preview=False)
    assert lora_values(studio, take) == ["style.safetensors", 0.5, "camera.safetensors", -0.25, "", 1.0]
    path_take = studio.render(small(loras=[(str(files["demo-c"]), 0.7)]), preview=False)  # Python may name a path
    assert lora_values(studio, path_take) == ["", 1.0, "", 1.0, "", 1.0]  # ... which the page does not offer


def test_the_draft_api_takes_loras_and_a_bad_one_is_a_clear_error(served, client, files):
    from gradio_client.exceptions import AppError

    folder = served[0].lora_folder  # the API names LoRAs of the studio's folder (tests/test_doors_lora.py)
    folder.mkdir(parents=True, exist_ok=True)
    for key in ("demo", "demo-ltxv"):
        shutil.copy(files[key], folder / files[key].name)
    lora = {"lora": "ltx2-style.safetensors", "weight": 0.5}
    _, record = client.predict(prompt="a cat", width=96, height=64, frames=9, loras=[lora], api_name="/draft")
    assert [(x["file"], x["weight"]) for x in record["settings"]["loras"]] == [("ltx2-style.safetensors", 0.5)]
    with pytest.raises(AppError, match="does not fit"):
        client.predict(prompt="a cat", width=96, height=64, frames=9, loras=["ltxv-style"], api_name="/draft")


def test_a_lora_in_lightricks_own_layout_loads_and_its_missing_alpha_means_alpha_equals_rank(managers, files, tmp_path):
    """LTX trainers save `diffusion_model.`-prefixed keys and no diffusers config: diffusers converts the keys,
    and without a config alpha = rank. So the same weights at weight 2 equal the diffusers file (alpha 2 x rank)."""
    studio = studio_of(managers, "demo", tmp_path)
    tensors = load_file(str(files["demo"]))
    lightricks = tmp_path / "ltx-2-style-lora.safetensors"
    save_file({k.replace("transformer.", "diffusion_model.", 1): v for k, v in tensors.items()}, str(lightricks))

    diffusers_format = studio.render(small(loras=[str(files["demo"])]), preview=False)
    own_format = studio.render(small(loras=[f"{lightricks}:2"]), preview=False)

    assert latents(own_format).equal(latents(diffusers_format))


def test_an_ic_lora_follows_a_reference_video_and_a_reference_needs_one(managers, files, tmp_path):
    studio = studio_of(managers, "demo", tmp_path)
    clip = tmp_path / "depth.mp4"
    rng = np.random.default_rng(1)
    media.write_mp4(clip, rng.integers(0, 255, (17, 64, 96, 3), dtype=np.uint8), 24, {}, None, None)
    lora = [(str(files["demo"]), 1.0)]
    plain = studio.render(small(frames=17, loras=lora), preview=False)
    guided = studio.render(small(frames=17, loras=lora, reference=str(clip)))  # with previews: main tokens first
    assert not latents(plain).equal(latents(guided))
    assert guided.settings["reference"]["name"] == "depth.mp4" and guided.frames == 17
    with pytest.raises(BadInput, match="through an IC-LoRA: add one with --lora"):
        studio.render(small(reference=str(clip)))
    with pytest.raises(BadInput, match="needs an LTX-2 model set"):
        studio_of(managers, "demo-ltxv", tmp_path).render(small(reference=str(clip), loras=lora))


def test_compare_runs_every_variant_with_the_loras_and_a_lora_for_another_depth_does_not_fit(managers, files, tmp_path):
    """The demo variants differ in depth: a LoRA of Fast's attention (its config: every to_q, ...) does not
    fit the 2-block Distilled; one whose config targets the first block only fits all three."""
    studio = studio_of(managers, "demo", tmp_path)
    first_block = make_lora(
        managers["demo"],
        "fast",
        tmp_path / "first-block.safetensors",
        seed=5,
        targets=r"transformer_blocks\.0\.attn1\.to_(q|k|v)",
    )
    request = small(width=128, loras=[f"{first_block}:0.7"])  # two-stage variants need sides on the 64 grid

    takes = studio.compare(request, ["fast", "distilled"])

    assert [t.settings["loras"][0]["weight"] for t in takes] == [0.7, 0.7]
    adapter = "lora_" + takes[0].settings["loras"][0]["sha256"][:16]
    assert adapter in loaded_adapters(studio, "fast") and adapter in loaded_adapters(studio, "distilled")
    with pytest.raises(BadInput, match=r"targets transformer\.transformer_blocks\.1\.attn1\.to_q"):
        studio.render(small(width=128, variant="distilled", loras=[str(files["demo"])]), preview=False)
