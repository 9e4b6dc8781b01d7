"""Stories of the pipeline manager: share, switch, cache, evict, load once, explain missing weights."""

from __future__ import annotations

import threading
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from conftest import small

from ltx_studio.core.errors import WeightsMissing
from ltx_studio.models.manager import PipelineManager, parameter_bytes
from ltx_studio.models.policy import MemoryPolicy
from ltx_studio.models.variants import load_registry
from ltx_studio.studio import Studio


def transformer_loads(manager, variant):
    source = manager.model_set.variants[variant].transformer.describe()
    return manager.loads[f"transformer:{source}"]


def test_switching_fast_pro_fast_loads_each_transformer_once_and_shares_the_rest(demo):
    manager = PipelineManager(demo)

    fast = manager.get("fast")
    pro = manager.get("pro")
    fast_again = manager.get("fast")

    assert fast_again is fast
    assert transformer_loads(manager, "fast") == 1 and transformer_loads(manager, "pro") == 1
    for part in ("text_encoder", "tokenizer", "processor", "connectors", "vae", "audio_vae", "vocoder"):
        assert getattr(pro, part) is getattr(fast, part), part  # Gemma, connectors, both VAEs, vocoder: shared
    assert pro.transformer is not fast.transformer
    shared_loads = {
        key.split(":")[0]: count for key, count in manager.loads.items() if not key.startswith("transformer")
    }
    assert shared_loads == dict.fromkeys(
        ["text_encoder", "tokenizer", "processor", "connectors", "vae", "audio_vae", "vocoder", "scheduler"], 1
    )
    assert manager.state("fast") == "ready" and manager.state("distilled") == "on disk"


def test_the_memory_budget_evicts_the_least_recently_used_transformer(demo):
    sizes = {name: parameter_bytes(PipelineManager(demo).get(name).transformer) for name in ("fast", "distilled")}
    budget = sizes["fast"] + sizes["distilled"]  # room for the two smallest, not for pro beside them
    manager = PipelineManager(demo, budget_bytes=budget)

    manager.get("fast")
    manager.get("distilled")
    manager.get("fast")  # fast is now the most recently used
    manager.get("pro")

    assert "distilled" not in manager.cached_variants()
    assert manager.cached_variants()[-1] == "pro"
    assert manager.transformer_bytes() <= max(budget, parameter_bytes(manager.get("pro").transformer))
    manager.get("distilled")
    assert transformer_loads(manager, "distilled") == 2  # evicted, so loaded again


def test_two_threads_asking_for_the_same_variant_load_it_once(demo):
    manager = PipelineManager(demo)
    results = []
    threads = [threading.Thread(target=lambda: results.append(manager.get("pro"))) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(results) == 4 and all(pipe is results[0] for pipe in results)
    assert transformer_loads(manager, "pro") == 1


def test_a_local_folder_loads_through_the_same_code_as_a_hub_repo(tmp_path):
    from ltx_studio.models.tiny import ensure_demo_set

    folder = ensure_demo_set()
    text = f"""
[sets.local]
family = "ltxv"
text_encoder = {{ repo = "{folder}", subfolder = "text_encoder" }}
tokenizer = {{ repo = "{folder}", subfolder = "tokenizer" }}
vae = {{ repo = "{folder}", subfolder = "vae" }}
scheduler = {{ repo = "{folder}", subfolder = "scheduler" }}
[sets.local.variants.fast]
transformer = {{ repo = "{folder}", subfolder = "transformer-fast" }}
timesteps = [1000, 725, 0.03]
draft_size = [64, 64]
full_size = [128, 128]
max_size = [256, 256]
draft_frames = 9
max_frames = 17
"""
    path = tmp_path / "variants.toml"
    path.write_text(text)
    manager = PipelineManager(load_registry(path)["local"])
    assert manager.get("fast").transformer.config.num_layers == 1


def missing_set(tmp_path, transformer: str):
    from ltx_studio.models.tiny import ensure_demo_set

    folder = ensure_demo_set()
    path = tmp_path / "variants.toml"
    path.write_text(
        f"""
[sets.partial]
family = "ltxv"
text_encoder = {{ repo = "{folder}", subfolder = "text_encoder" }}
tokenizer = {{ repo = "{folder}", subfolder = "tokenizer" }}
vae = {{ repo = "{folder}", subfolder = "vae" }}
scheduler = {{ repo = "{folder}", subfolder = "scheduler" }}
[sets.partial.variants.pro]
label = "Pro (13B dev)"
transformer = {transformer}
steps = 4
draft_size = [64, 64]
full_size = [128, 128]
max_size = [256, 256]
draft_frames = 9
max_frames = 17
"""
    )
    return load_registry(path)["partial"]


@pytest.mark.parametrize(
    "transformer, repo",
    [
        ('{ repo = "Lightricks/LTX-Video-0.9.7-dev", subfolder = "transformer" }', "Lightricks/LTX-Video-0.9.7-dev"),
        (
            '{ repo = "Lightricks/LTX-Video", file = "ltxv-2b-0.9.8-distilled.safetensors", config = "ltxv-2b" }',
            "Lightricks/LTX-Video/ltxv-2b-0.9.8-distilled.safetensors",
        ),
    ],
)
def test_missing_weights_say_which_variant_which_repo_and_what_to_do(tmp_path, transformer, repo):
    manager = PipelineManager(missing_set(tmp_path, transformer))
    with pytest.raises(WeightsMissing) as raised:
        manager.get("pro")
    message = str(raised.value)
    assert "'pro'" in message and repo in message
    assert "python -m ltx_studio models download pro --model-set partial" in message
    assert "--model-set demo" in message
    assert "\n" not in message


def test_load_progress_is_reported(demo):
    messages = []
    PipelineManager(demo, on_progress=lambda message, fraction: messages.append(message)).get("fast")
    assert "Loading vae" in messages and any("transformer" in m for m in messages)


def test_weights_that_are_there_but_broken_are_reported_as_such_not_as_missing(tmp_path):
    import shutil

    from ltx_studio.core.errors import StudioError
    from ltx_studio.models.tiny import ensure_demo_set

    copy = tmp_path / "demo-copy"
    shutil.copytree(ensure_demo_set(), copy)
    for weights in (copy / "transformer-fast").glob("*.safetensors"):
        weights.write_bytes(b"not a safetensors file")
    registry_file = tmp_path / "variants.toml"
    shipped = (Path(__file__).resolve().parent.parent / "ltx_studio" / "models" / "variants.toml").read_text()
    registry_file.write_text(shipped.replace('repo = "tiny:ltxv"', f'repo = "{copy}"'))
    manager = PipelineManager(load_registry(registry_file)["demo-ltxv"])

    with pytest.raises(StudioError, match="could not load the Fast .* transformer") as raised:
        manager.get("fast")
    assert not isinstance(raised.value, WeightsMissing)
    assert manager.get("pro").transformer.config.num_layers == 3  # the rest still works


def test_a_bad_device_setting_is_a_clear_error(monkeypatch):
    from ltx_studio.core.errors import BadInput
    from ltx_studio.models.policy import detect_device

    monkeypatch.setenv("LTX_STUDIO_DEVICE", "warp-drive")
    with pytest.raises(BadInput, match="not a device"):
        detect_device()


def test_speed_levers_from_the_environment_apply_once_per_transformer(demo, monkeypatch):
    from ltx_studio.core.errors import BadInput

    monkeypatch.setenv("LTX_STUDIO_ATTENTION", "native")
    manager = PipelineManager(demo)
    assert manager.policy.attention_backend == "native" and "attention native" in manager.policy.describe()
    assert manager.get("fast").transformer.config.num_layers == 1

    for name in ("warp-attention", "flash_hub"):  # unknown, and a kernel fetched from the Hub (remote code)
        monkeypatch.setenv("LTX_STUDIO_ATTENTION", name)
        with pytest.raises(BadInput, match=f"LTX_STUDIO_ATTENTION='{name}' is not a local attention backend"):
            PipelineManager(demo)


def test_a_half_downloaded_sharded_model_is_not_on_disk(tmp_path):
    import json

    from ltx_studio.models.manager import is_on_disk
    from ltx_studio.models.variants import Source

    folder = tmp_path / "repo" / "text_encoder"
    folder.mkdir(parents=True)
    (folder / "config.json").write_text("{}")
    shards = {"a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors"}
    (folder / "model.safetensors.index.json").write_text(json.dumps({"weight_map": shards}))
    (folder / shards["a"]).write_bytes(b"x")
    source = Source(repo=str(tmp_path / "repo"), subfolder="text_encoder")
    assert not is_on_disk(source)
    (folder / shards["b"]).write_bytes(b"x")
    assert is_on_disk(source)


# --- the memory policy, applied to the real tiny models ---------------------------------------------


def cpu_policy(**placement) -> MemoryPolicy:
    """A policy on the CPU with a GPU card's placement decisions: the same code paths, on this machine."""
    return MemoryPolicy("cpu", torch.float32, placement.pop("offload", "none"), False, 1 << 40, **placement)


def test_between_prompts_the_text_encoder_waits_on_the_cpu_and_visits_for_a_new_prompt(demo, tmp_path):
    manager = PipelineManager(demo, policy=cpu_policy(text_encoder="visit"))
    studio = Studio(model_set_name="demo", outputs=tmp_path, manager=manager)

    studio.render(small(prompt="a cat walks on the street"))
    studio.render(small(prompt="a cat walks on the street", seed=8))  # cached embeddings: no visit
    studio.render(small(prompt="a dog runs on the beach"))

    assert manager.text_encoder_visits == 2
    encoder = manager.shared()["text_encoder"]
    assert encoder.device.type == "cpu" and "text encoder visits the device per new prompt" in manager.policy.describe()
    with manager.text_encoder_on_device(), manager.text_encoder_on_device():  # nested: one visit
        pass
    assert manager.text_encoder_visits == 3


def test_a_small_card_plan_runs_fp8_layerwise_weights_with_group_offload_and_a_streamed_text_encoder(demo, tmp_path):
    from ltx_studio.core.errors import BadInput

    manager = PipelineManager(demo, policy=cpu_policy(offload="group", weights="fp8-layerwise", text_encoder="stream"))
    studio = Studio(model_set_name="demo", outputs=tmp_path, manager=manager)

    take = studio.render(small())

    assert take.status == "ok"
    pipe = manager.get("fast")
    linears = [m for m in pipe.transformer.modules() if isinstance(m, torch.nn.Linear)]
    assert {m.weight.dtype for m in linears} >= {torch.float8_e4m3fn}  # stored FP8 between forwards
    assert hooks(linears[-1]) == ["layerwise_casting", "group_offloading"]  # the cast runs on the device
    assert any("group_offloading" in hooks(m) for m in pipe.text_encoder.modules())  # streamed, layer by layer
    with pytest.raises(BadInput, match="prompt enhancement is off on this card"):
        manager.enhance_prompt(pipe, "a cat", None, 10)


def hooks(module) -> list[str]:
    registry = getattr(module, "_diffusers_hook", None)
    return list(registry.hooks) if registry is not None else []


@pytest.mark.parametrize("always", [False, True])
def test_the_vae_tiles_a_1080p_decode_and_not_a_small_one_unless_the_card_is_small(demo, always):
    manager = PipelineManager(demo, policy=replace(cpu_policy(), vae_tiling=always))
    vae = manager.shared()["vae"]

    assert manager.prepare_decode(1920, 1088) and vae.use_tiling
    assert manager.prepare_decode(384, 256) == always and vae.use_tiling == always
    assert manager.decode_tiling == always
