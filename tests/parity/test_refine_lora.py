"""LTX-2.3 Pro's refine LoRA: a distilled LoRA in Lightricks' layout, on our diffusers 2.3 transformer, computes
what ltx_core's transformer with the LoRA fused computes.

Lightricks' two-stage pipeline refines with the dev transformer plus the distilled LoRA (ltx_pipelines
ti2vid_two_stages.py: the stage-2 ModelLedger is the stage-1 one `with_additional_loras(distilled_lora)`, and
its builder fuses each LoRA into the weights: W + strength * B @ A, loader/fuse_loras.py). The LoRA's keys are
ltx_core's module names under `diffusion_model.` (LTXV_LORA_COMFY_RENAMING_MAP strips the prefix), the layout of
Lightricks' files and of ComfyUI's. Such a LoRA targets every linear layer of the transformer, LTX-2.3's
`prompt_adaln_single` / `audio_prompt_adaln_single` included (the prompt cross-attention AdaLN that diffusers'
model calls `prompt_adaln`): the tiny LoRA here has a pair for each of ltx_core's 2.3 linear layers.

Ours: the studio's own path for a set's refine LoRA (`loras.choose` with the set's Pro `refine_lora_weight`,
then `loras.apply`, as `render/story.refine_loras` and the manager do) onto the transformer the family loads
from the same tiny single file. diffusers 0.42.1's LTX-2 LoRA converter
(`_convert_non_diffusers_ltx2_lora_to_diffusers`) renames `prompt_adaln_single` -> `prompt_adaln` itself (its
single-file transformer converter does not: families/ltx2.py renames there); the test holds that.

The same weights on both sides: ltx_core fuses only into bf16 (or fp8) weights, so the tiny checkpoint is the
parity one in bf16 (both sides compute in fp32 from it); the LoRA's tensors are fp32 so that ltx_core's B @ A is
not rounded to bf16 before the fuse (Lightricks' real LoRA is bf16; the rounding would be the file's, not ours).
Tolerance 1e-5 relative, as the transformer tests. The teeth: the LoRA moves the reference's output far more
than that, and so do its prompt-AdaLN pairs alone (a loader that dropped them would fail).
"""

from __future__ import annotations

import pytest
import torch

from . import reference as R

TOLERANCE = 1e-5
MOVES = 1e-3
RANK = 4


@pytest.fixture(scope="module")
def bf16_checkpoint(checkpoints, tmp_path_factory) -> R.TinyCheckpoint:
    """The tiny LTX-2.3 parity checkpoint with its tensors in bf16 (what ltx_core fuses LoRAs into)."""
    from safetensors import safe_open
    from safetensors.torch import save_file

    source = checkpoints["2.3"]
    folder = tmp_path_factory.mktemp("ltx-2.3-bf16")
    with safe_open(str(source.file), framework="pt") as f:
        metadata = f.metadata()
        tensors = {k: f.get_tensor(k).to(torch.bfloat16) for k in f.keys()}  # noqa: SIM118 (not a dict)
    file = folder / source.file.name
    save_file(tensors, str(file), metadata=metadata)
    return R.TinyCheckpoint("2.3", file, source.diffusers)


def write_distilled_lora(folder, model, seed: int = 5, *, skip: tuple[str, ...] = ()) -> tuple:
    """A tiny LoRA in Lightricks' layout: `diffusion_model.<ltx_core module>.lora_A/B.weight` for every linear
    layer of ltx_core's 2.3 model (less the modules named in `skip`), fp32. Returns (file, adapted names)."""
    from safetensors.torch import save_file

    generator = torch.Generator().manual_seed(seed)
    tensors, names = {}, []
    for name, layer in model.named_modules():
        if not isinstance(layer, torch.nn.Linear) or name.startswith(skip):
            continue
        names.append(name)
        # a delta ~ 20% of the layer's own weights: B @ A / sqrt(in) per output
        tensors[f"diffusion_model.{name}.lora_A.weight"] = torch.randn(RANK, layer.in_features, generator=generator)
        b = torch.randn(layer.out_features, RANK, generator=generator)
        tensors[f"diffusion_model.{name}.lora_B.weight"] = 0.2 * b / (RANK * layer.in_features) ** 0.5
    file = folder / ("ltx-2.3-22b-distilled-lora-tiny" + ("-partial" if skip else "") + ".safetensors")
    save_file(tensors, str(file))
    return file, names


def reference_with_lora(checkpoint: R.TinyCheckpoint, lora, strength: float):
    """ltx_core's transformer with the LoRA fused, as the two-stage pipeline's stage-2 ModelLedger builds it."""
    from ltx_core.loader import LTXV_LORA_COMFY_RENAMING_MAP, LoraPathStrengthAndSDOps, SingleGPUModelBuilder
    from ltx_core.model.transformer import LTXV_MODEL_COMFY_RENAMING_MAP, LTXModelConfigurator

    builder = SingleGPUModelBuilder(
        model_path=str(checkpoint.file),
        model_class_configurator=LTXModelConfigurator,
        model_sd_ops=LTXV_MODEL_COMFY_RENAMING_MAP,
        loras=(LoraPathStrengthAndSDOps(str(lora), strength, LTXV_LORA_COMFY_RENAMING_MAP),) if lora else (),
    )
    # ltx-core 1.0.0 fuses into the file's own state dict (DummyRegistry) and leaves the layers no LoRA touches
    # in the file's dtype whatever `dtype` asks (in its pipelines both are bf16): the rest cast here, exactly.
    return builder.build(device=torch.device("cpu"), dtype=torch.float32).float().eval()


def ours_with_lora(checkpoint: R.TinyCheckpoint, lora, weight: float):
    """Our transformer from the same file, with the LoRA applied as the studio applies a set's refine LoRA."""
    from diffusers import LTX2ConditionPipeline

    from ltx_studio.models import loras

    transformer = R.load_ours(checkpoint)
    parts = dict.fromkeys(("scheduler", "vae", "audio_vae", "text_encoder", "tokenizer", "connectors", "vocoder"))
    pipe = LTX2ConditionPipeline(transformer=transformer, **parts)
    loras.apply([pipe], loras.choose([(str(lora), weight)], None), "the tiny LTX-2.3 transformer")
    return transformer


def test_a_23_distilled_lora_in_lightricks_layout_is_live_and_computes_ltx_cores_fuse(
    bf16_checkpoint, registry, tmp_path, report
):
    from recording import live_loras

    weight = registry[R.SETS["2.3"]].variants["pro"].sampling.refine_lora_weight
    plain = R.load_reference(bf16_checkpoint)
    lora, adapted = write_distilled_lora(tmp_path, plain)
    assert {"prompt_adaln_single.linear", "audio_prompt_adaln_single.linear"} <= set(adapted)
    theirs = reference_with_lora(bf16_checkpoint, lora, weight)
    ours = ours_with_lora(bf16_checkpoint, lora, weight)

    # Live: every linear layer ltx_core adapts is a peft layer of ours with the adapter on, at the set's weight
    # (no alpha in Lightricks' files: scale = weight, as ltx_core's fuse), prompt_adaln's among them.
    (adapter,) = live_loras(ours)
    assert live_loras(ours)[adapter] == pytest.approx(weight)
    for stream in ("", "audio_"):
        layer = getattr(ours, f"{stream}prompt_adaln").linear
        assert adapter in layer.active_adapters and not layer.disable_adapters
    peft_layers = [n for n, m in ours.named_modules() if hasattr(m, "lora_A") and adapter in m.lora_A]
    assert len(peft_layers) == len(adapted)

    step = R.make_step(bf16_checkpoint)
    expected = R.reference_forward(theirs, step)
    without = R.reference_forward(plain, step)
    partial, _ = write_distilled_lora(tmp_path, plain, skip=("prompt_adaln_single", "audio_prompt_adaln_single"))
    no_prompt_adaln = R.reference_forward(reference_with_lora(bf16_checkpoint, partial, weight), step)
    got = R.our_forward(ours, step)
    figures = {s: R.max_relative(o, t) for s, o, t in zip(("video", "audio"), got, expected, strict=True)}
    moved = min(R.max_relative(a, b) for a, b in zip(without, expected, strict=True))
    moved_adaln = min(R.max_relative(a, b) for a, b in zip(no_prompt_adaln, expected, strict=True))
    report(
        f"parity LTX-2.3 distilled LoRA (Lightricks layout, {len(adapted)} layers, weight {weight}): max relative "
        f"difference video {figures['video']:.2e}, audio {figures['audio']:.2e} (tolerance {TOLERANCE:.0e}); the LoRA "
        f"moves the reference by {moved:.2e}, its prompt_adaln_single pairs alone by {moved_adaln:.2e}"
    )
    assert min(moved, moved_adaln) > MOVES
    assert max(figures.values()) <= TOLERANCE


def test_diffusers_lora_converter_renames_ltx23_prompt_adaln_itself():
    """diffusers 0.42.1 maps a Lightricks-layout LoRA's `prompt_adaln_single` to its `prompt_adaln` (unlike its
    single-file transformer converter), so the studio renames nothing for LoRAs. The day it stops, this fails
    first: then `loras._parts` needs the rename `ltx2_transformer_file.load_transformer_file` does for the transformer."""
    from diffusers import LTX2ConditionPipeline

    tensors = {
        f"diffusion_model.{stream}prompt_adaln_single.linear.lora_{ab}.weight": torch.zeros(2, 2)
        for stream in ("", "audio_")
        for ab in "AB"
    }
    converted = LTX2ConditionPipeline.lora_state_dict(tensors)
    assert sorted(converted) == sorted(
        f"transformer.{stream}prompt_adaln.linear.lora_{ab}.weight" for stream in ("", "audio_") for ab in "AB"
    )
