"""Lightricks' reference code for the parity tests, and tiny LTX-2 checkpoints in its single-file layout.

The reference is `ltx-core` / `ltx-pipelines` 1.0.0 from PyPI, a test-only install
(requirements-parity.txt, `pip install --no-deps`, done by `scripts/setup.sh --dev`), with torchaudio in
its extension-less mode (setup.sh deletes its CUDA-built libraries; its pure-torch transforms work).
ltx_core imports torchaudio in one place only, its audio-VAE ops (waveform -> mel spectrogram): the
audio tests need it (conftest.py's `audio_reference_code` skips them, under CI fails, when it does not
import). Everything else here runs without it too: ltx_core's transformer, scheduler and loader import
without it, and where it does not import, ltx_pipelines' leaf modules (`utils.constants`,
`utils.helpers`, ...) are imported under hollow parent packages whose `__init__` (every pipeline, and
through them the audio VAE) is not run. Nothing stands in for torchaudio.

A tiny checkpoint is built with ltx_core's own configurator and model classes (random weights, two
blocks, small widths, the real models' options: split RoPE in float64, AV cross-attention gate
multiplier 1000, and for LTX-2.3 gated attention, prompt AdaLN and the caption projection moved to
the connectors), saved as ONE safetensors file the way Lightricks ships them: the transformer under
`model.diffusion_model.` (text connectors inside it), VAE / audio VAE / vocoder / text projection
tensors beside it, and the architecture as JSON in the `config` metadata entry, which is where
ltx_core's loader reads it. Beside it, a diffusers folder with `transformer/config.json` as diffusers'
own converter writes it for that generation (scripts/convert_ltx2_to_diffusers.py): what our
single-file path takes as `config`.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import torch

VERSIONS = ("2.0", "2.3")  # 19B layout (LTX-2), 22B layout (LTX-2.3)
SETS = {"2.0": "ltx2-19b", "2.3": "ltx2"}  # the model set (variants.toml) of each generation
STG_BLOCK = 1  # the perturbed block of the tiny models (the real ones: 29 for 2.0, 28 for 2.3)
PREFIX = "model.diffusion_model."


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def torchaudio_missing() -> str | None:
    """Why torchaudio cannot be imported (None when it can)."""
    if importlib.util.find_spec("torchaudio") is None:
        return "torchaudio is not installed (requirements-parity.txt)"
    try:
        importlib.import_module("torchaudio")
    except Exception as error:  # e.g. its CUDA-built libraries left in place (setup.sh deletes them)
        return f"torchaudio does not import with torch {torch.__version__}: {error}"
    return None


def reference_missing() -> str | None:
    """Why Lightricks' reference cannot be imported (None when it can)."""
    for name in ("ltx_core", "ltx_pipelines", "einops", "scipy"):
        if importlib.util.find_spec(name) is None:
            return f"{name} is not installed: bash scripts/setup.sh --dev (requirements-parity.txt)"
    return None


def pipelines_module(name: str):
    """A leaf module of ltx_pipelines (e.g. "ltx_pipelines.utils.constants") without running the package
    `__init__`s, which import every pipeline and so the audio VAE's torchaudio."""
    if name in sys.modules or torchaudio_missing() is None:
        return importlib.import_module(name)
    parts = name.split(".")
    for depth in range(1, len(parts)):
        package = ".".join(parts[:depth])
        if package not in sys.modules:
            spec = importlib.util.find_spec(package)
            sys.modules[package] = importlib.util.module_from_spec(spec)  # its __path__, not its __init__
    return importlib.import_module(name)


# --- tiny architectures ----------------------------------------------------------------------

# The verbatim `config["transformer"]` metadata of ltx-2-19b-dev.safetensors and of the LTX-2.3 22B
# checkpoints, less the widths and depth (shrunk below).
_METADATA_20 = {
    "_class_name": "AVTransformer3DModel",
    "activation_fn": "gelu-approximate",
    "attention_bias": True,
    "attention_type": "default",
    "audio_positional_embedding_max_pos": [20],
    "av_ca_timestep_scale_multiplier": 1000.0,
    "av_cross_ada_norm": True,
    "causal_temporal_positioning": True,
    "connector_num_layers": 2,
    "connector_num_learnable_registers": 128,
    "connector_positional_embedding_max_pos": [4096],
    "cross_attention_norm": True,
    "double_self_attention": False,
    "dropout": 0.0,
    "frequencies_precision": "float64",
    "norm_elementwise_affine": False,
    "norm_eps": 1e-06,
    "norm_num_groups": 32,
    "num_embeds_ada_norm": 1000,
    "num_vector_embeds": None,
    "only_cross_attention": False,
    "positional_embedding_max_pos": [20, 2048, 2048],
    "positional_embedding_theta": 10000.0,
    "positional_embedding_type": "rope",
    "qk_norm": "rms_norm",
    "rope_type": "split",
    "share_ff": False,
    "standardization_norm": "rms_norm",
    "timestep_scale_multiplier": 1000,
    "upcast_attention": False,
    "use_audio_video_cross_attention": True,
    "use_embeddings_connector": True,
    "use_linear_projection": False,
    "use_middle_indices_grid": True,
}
_METADATA_23 = {
    **_METADATA_20,
    "apply_gated_attention": True,
    "caption_proj_before_connector": True,
    "caption_proj_input_norm": False,
    "caption_projection_first_linear": False,
    "caption_projection_second_linear": False,
    "connector_apply_gated_attention": True,
    "connector_num_layers": 8,
    "cross_attention_adaln": True,
    "text_encoder_norm_type": "per_token_rms",
}
# Real: 32 heads x 128 (video), 32 x 64 (audio), 48 blocks, 128 latent channels, caption 3840. Tiny: the
# same head counts on both streams (the cross-modal RoPE is laid out per video head), a video width
# whose split RoPE keeps a pad (32 // 6 * 3 = 15 of 16 frequencies, as 4096 leaves 2046 of 2048).
_TINY = {
    "num_attention_heads": 2,
    "attention_head_dim": 16,
    "cross_attention_dim": 32,
    "audio_num_attention_heads": 2,
    "audio_attention_head_dim": 8,
    "audio_cross_attention_dim": 16,
    "num_layers": 2,
    "in_channels": 8,
    "out_channels": 8,
    "audio_in_channels": 8,
    "audio_out_channels": 8,
    "caption_channels": 24,
    "connector_num_attention_heads": 2,
    "connector_attention_head_dim": 16,
}
AUDIO_CHANNELS, AUDIO_MEL_BINS = 2, 4  # audio latents [B, 2, L, 4] -> 8 channels per token


def checkpoint_config(version: str, **widths) -> dict:
    """The `config` metadata entry of a tiny checkpoint (ltx_core reads `config["transformer"]`); `widths`
    override the tiny sizes (e.g. to fit the demo set's connectors and VAEs)."""
    transformer = {**(_METADATA_23 if version == "2.3" else _METADATA_20), **_TINY, **widths}
    return {"transformer": transformer}


def diffusers_config(version: str, **widths) -> dict:
    """`transformer/config.json` of the same architecture, as diffusers' converter writes it per generation:
    LTX-2.0 with `perturbed_attn: false` (the default), LTX-2.3 with gated attention, prompt modulation,
    the caption projection in the connectors and `perturbed_attn: true`."""
    t = checkpoint_config(version, **widths)["transformer"]
    later = version == "2.3"
    return {
        "_class_name": "LTX2VideoTransformer3DModel",
        "in_channels": t["in_channels"],
        "out_channels": t["out_channels"],
        "patch_size": 1,
        "patch_size_t": 1,
        "num_attention_heads": t["num_attention_heads"],
        "attention_head_dim": t["attention_head_dim"],
        "cross_attention_dim": t["cross_attention_dim"],
        "vae_scale_factors": [8, 32, 32],
        "pos_embed_max_pos": t["positional_embedding_max_pos"][0],
        "base_height": t["positional_embedding_max_pos"][1],
        "base_width": t["positional_embedding_max_pos"][2],
        "gated_attn": later,
        "cross_attn_mod": later,
        "audio_in_channels": t["audio_in_channels"],
        "audio_out_channels": t["audio_out_channels"],
        "audio_patch_size": 1,
        "audio_patch_size_t": 1,
        "audio_num_attention_heads": t["audio_num_attention_heads"],
        "audio_attention_head_dim": t["audio_attention_head_dim"],
        "audio_cross_attention_dim": t["audio_cross_attention_dim"],
        "audio_scale_factor": 4,
        "audio_pos_embed_max_pos": t["audio_positional_embedding_max_pos"][0],
        "audio_sampling_rate": 16000,
        "audio_hop_length": 160,
        "audio_gated_attn": later,
        "audio_cross_attn_mod": later,
        "num_layers": t["num_layers"],
        "activation_fn": "gelu-approximate",
        "qk_norm": "rms_norm_across_heads",
        "norm_elementwise_affine": False,
        "norm_eps": t["norm_eps"],
        "caption_channels": t["caption_channels"],
        "attention_bias": True,
        "attention_out_bias": True,
        "rope_theta": t["positional_embedding_theta"],
        "rope_double_precision": t["frequencies_precision"] == "float64",
        "causal_offset": 1,
        "timestep_scale_multiplier": t["timestep_scale_multiplier"],
        "cross_attn_timestep_scale_multiplier": int(t["av_ca_timestep_scale_multiplier"]),
        "rope_type": t["rope_type"],
        "use_prompt_embeddings": not later,
        "perturbed_attn": later,
    }


# --- the single file ---------------------------------------------------------------------------


@dataclass(frozen=True)
class TinyCheckpoint:
    version: str
    file: Path  # Lightricks' layout: one safetensors file, config in its metadata
    diffusers: Path  # a folder with transformer/config.json (what our single-file path takes as `config`)

    @property
    def config(self) -> dict:
        """The architecture as ltx_core reads it: the file's `config` metadata."""
        from safetensors import safe_open

        with safe_open(str(self.file), framework="pt") as f:
            return json.loads(f.metadata()["config"])["transformer"]


def _random_like(name: str, shape: tuple[int, ...], generator: torch.Generator) -> torch.Tensor:
    """Weights of a plausible scale: norms near 1, linear layers ~ 1/sqrt(fan_in), modulation tables small."""
    if len(shape) == 1 and ("norm" in name and name.endswith(".weight")):
        return 1.0 + 0.1 * torch.randn(shape, generator=generator)
    if len(shape) == 2 and name.endswith(".weight"):
        return torch.randn(shape, generator=generator) / shape[1] ** 0.5
    return 0.2 * torch.randn(shape, generator=generator)


def _beside(version: str, generator: torch.Generator) -> dict[str, torch.Tensor]:
    """Tensors a real checkpoint holds beside the transformer: the text connectors (inside the transformer's
    prefix), their projection, the VAEs and the vocoder. Neither loader may take them for the transformer."""
    projection = "video_aggregate_embed" if version == "2.3" else "aggregate_embed"
    shapes = {
        f"{PREFIX}video_embeddings_connector.transformer_1d_blocks.0.attn1.to_q.weight": (32, 32),
        f"{PREFIX}audio_embeddings_connector.transformer_1d_blocks.0.attn1.to_q.weight": (32, 32),
        f"{PREFIX}video_embeddings_connector.learnable_registers": (128, 32),
        f"text_embedding_projection.{projection}.weight": (32, 24),
        "vae.per_channel_statistics.mean-of-means": (8,),
        "vae.per_channel_statistics.std-of-means": (8,),
        "audio_vae.per_channel_statistics.mean-of-means": (8,),
        "vocoder.conv_pre.weight": (8, 4, 7),
    }
    return {name: torch.randn(shape, generator=generator) for name, shape in shapes.items()}


def write_checkpoint(folder: Path, version: str, seed: int = 0, **widths) -> TinyCheckpoint:
    """A tiny LTX-2 checkpoint of `version` in `folder` (one per folder), built from ltx_core's own model
    classes; `widths` as in `checkpoint_config`."""
    from ltx_core.model.transformer import LTXModelConfigurator
    from safetensors.torch import save_file

    config = checkpoint_config(version, **widths)
    with torch.device("meta"):
        skeleton = LTXModelConfigurator.from_config(config)  # ltx_core's own names and shapes
    generator = torch.Generator().manual_seed(seed)
    tensors = {
        PREFIX + name: _random_like(name, tuple(tensor.shape), generator)
        for name, tensor in sorted(skeleton.state_dict().items())
    }
    tensors.update(_beside(version, generator))
    name = "ltx-2.3-22b-tiny.safetensors" if version == "2.3" else "ltx-2-19b-tiny.safetensors"
    folder.mkdir(parents=True, exist_ok=True)
    file = folder / name
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(file), metadata={"config": json.dumps(config)})
    diffusers = folder / f"{file.stem}-diffusers"
    (diffusers / "transformer").mkdir(parents=True, exist_ok=True)
    (diffusers / "transformer" / "config.json").write_text(json.dumps(diffusers_config(version, **widths), indent=2))
    return TinyCheckpoint(version, file, diffusers)


def load_reference(checkpoint: TinyCheckpoint):
    """ltx_core's LTXModel (velocity) from the file, as ModelLedger's transformer builder loads it (the
    ledger itself imports the audio VAE, so its builder is made here with the same arguments)."""
    from ltx_core.loader import SingleGPUModelBuilder
    from ltx_core.model.transformer import LTXV_MODEL_COMFY_RENAMING_MAP, LTXModelConfigurator

    builder = SingleGPUModelBuilder(
        model_path=str(checkpoint.file),
        model_class_configurator=LTXModelConfigurator,
        model_sd_ops=LTXV_MODEL_COMFY_RENAMING_MAP,
    )
    model = builder.build(device=torch.device("cpu"), dtype=torch.float32).eval()
    unloaded = [n for n, p in [*model.named_parameters(), *model.named_buffers()] if p.device.type == "meta"]
    assert not unloaded, f"ltx_core left parameters unloaded: {unloaded[:5]}"
    return model


def load_ours(checkpoint: TinyCheckpoint):
    """Our transformer from the same file: the LTX-2 family's single-file path (diffusers' from_single_file)."""
    from ltx_studio.models.families.ltx2 import LTX2Family

    return LTX2Family().load_component(
        "transformer",
        str(checkpoint.file.parent),
        None,
        checkpoint.file.name,
        str(checkpoint.diffusers),
        torch.float32,
    )


# --- one step's inputs, fed identically to both --------------------------------------------------


@dataclass(frozen=True)
class Step:
    """One denoising step's transformer inputs, unpacked as the pipelines hold them."""

    video: torch.Tensor  # [1, C, F, H, W] noisy video latents
    audio: torch.Tensor  # [1, C, L, M] noisy audio latents
    clean_video: torch.Tensor  # the same shapes, clean (a first frame, a held soundtrack)
    clean_audio: torch.Tensor
    video_text: torch.Tensor  # [1, S, D] the connectors' outputs, as each transformer takes them
    audio_text: torch.Tensor
    sigma: float
    fps: float = 24.0


def make_step(checkpoint: TinyCheckpoint, seed: int = 1, sigma: float = 0.725, latent_frames: int = 2) -> Step:
    """9 frames at 96x64 (2 x 2 x 3 latent tokens), 24 fps, 9 audio latents, 7 text tokens; `latent_frames`
    makes it (latent_frames - 1) * 8 + 1 frames long (and the audio as long)."""
    config = checkpoint.config
    generator = torch.Generator().manual_seed(seed)
    frames, height, width = latent_frames, 2, 3
    pixel_frames = (frames - 1) * 8 + 1
    audio_length = round(pixel_frames / 24 * 16000 / 160 / 4)  # both pipelines' formula, at 24 fps

    def noise(*shape):
        return torch.randn(shape, generator=generator)

    if config.get("caption_proj_before_connector"):  # LTX-2.3: the connectors project to each stream's width
        video_width = config["num_attention_heads"] * config["attention_head_dim"]
        audio_width = config["audio_num_attention_heads"] * config["audio_attention_head_dim"]
    else:  # LTX-2.0: the transformer projects the caption itself
        video_width = audio_width = config["caption_channels"]
    clean_video = noise(1, config["in_channels"], frames, height, width)
    clean_audio = noise(1, AUDIO_CHANNELS, audio_length, AUDIO_MEL_BINS)
    return Step(
        video=(1 - sigma) * clean_video + sigma * noise(*clean_video.shape),
        audio=(1 - sigma) * clean_audio + sigma * noise(*clean_audio.shape),
        clean_video=clean_video,
        clean_audio=clean_audio,
        video_text=noise(1, 7, video_width),
        audio_text=noise(1, 7, audio_width),
        sigma=sigma,
    )


def max_relative(ours: torch.Tensor, reference: torch.Tensor) -> float:
    """max |ours - reference| / max |reference| (a relative error that zero crossings cannot inflate)."""
    return float((ours.double() - reference.double()).abs().max() / reference.double().abs().max())


# --- one forward on each side --------------------------------------------------------------------


def reference_forward(
    model,
    step: Step,
    *,
    first_frame: bool = False,
    held_audio: bool = False,
    stg: bool = False,
    isolate: bool = False,
    audio_sigma: float | None = None,
    video_region: tuple[float, float] | None = None,
    audio_region: tuple[float, float] | None = None,
    video_sigma: float | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """ltx_core's velocities [1, T, C] for one step, its inputs built as ltx_pipelines builds them
    (latent tools and patchifiers for tokens and positions, `modality_from_latent_state` for timesteps:
    denoise mask x sigma per token, the step's sigma as the stream's sigma), and its guidance passes'
    perturbations as `multi_modal_guider_denoising_func` makes them. `video_region` / `audio_region`:
    the retake pipeline's (start, end) seconds regenerated, everything else held clean with denoise mask
    0 by its own `TemporalRegionMask` ((0, 0): the stream held whole, its `regenerate_*=False`).
    `audio_sigma` / `video_sigma` override a stream's sigma (only to show that a test would notice a
    different one)."""
    from ltx_core.components.patchifiers import AudioPatchifier, VideoLatentPatchifier
    from ltx_core.guidance.perturbations import (
        BatchedPerturbationConfig,
        Perturbation,
        PerturbationConfig,
        PerturbationType,
    )
    from ltx_core.tools import AudioLatentTools, VideoLatentTools
    from ltx_core.types import AudioLatentShape, LatentState, VideoLatentShape

    helpers = pipelines_module("ltx_pipelines.utils.helpers")
    dtype = torch.float32
    video_tools = VideoLatentTools(
        VideoLatentPatchifier(patch_size=1), VideoLatentShape.from_torch_shape(step.video.shape), step.fps
    )
    audio_tools = AudioLatentTools(AudioPatchifier(patch_size=1), AudioLatentShape.from_torch_shape(step.audio.shape))
    video_state = video_tools.create_initial_state("cpu", dtype, step.video)
    audio_state = audio_tools.create_initial_state("cpu", dtype, step.audio)
    if first_frame:  # VideoConditionByLatentIndex(latent_idx=0, strength=1): clean tokens, denoise mask 0
        tokens = step.video.shape[3] * step.video.shape[4]
        latent, mask = video_state.latent.clone(), video_state.denoise_mask.clone()
        latent[:, :tokens] = video_tools.patchifier.patchify(step.clean_video)[:, :tokens]
        mask[:, :tokens] = 0.0
        video_state = LatentState(latent, mask, video_state.positions, video_state.clean_latent)
    if held_audio:  # audio-to-video: the given soundtrack's latents, denoise mask 0 (a2vid_two_stage)
        latent = audio_tools.patchifier.patchify(step.clean_audio)
        audio_state = LatentState(latent, torch.zeros_like(audio_state.denoise_mask), audio_state.positions, latent)
    for held_region, tools, clean, name in (
        (video_region, video_tools, step.clean_video, "video"),
        (audio_region, audio_tools, step.clean_audio, "audio"),
    ):
        if held_region is None:
            continue
        state = video_state if name == "video" else audio_state
        # retake.py: the source's latents as the initial state, its region mask, then the noiser, which
        # leaves the tokens at denoise mask 0 clean (here: the step's noisy tokens kept where mask is 1)
        region = retake_region_mask()(start_time=held_region[0], end_time=held_region[1], fps=step.fps)
        state = region.apply_to(state, tools)
        clean = tools.patchifier.patchify(clean)
        latent = torch.where(state.denoise_mask > 0, state.latent, clean)
        state = LatentState(latent, state.denoise_mask, state.positions, clean)
        video_state, audio_state = (state, audio_state) if name == "video" else (video_state, state)
    sigma = torch.tensor([step.sigma], dtype=dtype)
    video_step = sigma if video_sigma is None else torch.tensor([video_sigma], dtype=dtype)
    video = helpers.modality_from_latent_state(video_state, step.video_text, video_step)
    audio_step = sigma if audio_sigma is None else torch.tensor([audio_sigma], dtype=dtype)
    audio = helpers.modality_from_latent_state(audio_state, step.audio_text, audio_step)
    perturbations = []
    if stg:
        blocks = [STG_BLOCK]
        perturbations += [
            Perturbation(type=PerturbationType.SKIP_VIDEO_SELF_ATTN, blocks=blocks),
            Perturbation(type=PerturbationType.SKIP_AUDIO_SELF_ATTN, blocks=blocks),
        ]
    if isolate:
        perturbations += [
            Perturbation(type=PerturbationType.SKIP_A2V_CROSS_ATTN, blocks=None),
            Perturbation(type=PerturbationType.SKIP_V2A_CROSS_ATTN, blocks=None),
        ]
    batched = BatchedPerturbationConfig(perturbations=[PerturbationConfig(perturbations=perturbations)])
    with torch.no_grad():
        return model(video=video, audio=audio, perturbations=batched)


# ltx-core 1.0.0's audio/video cross-attention rule (the other stream's sigma for scale, shift and gate),
# in the names of models/families/cross_timestep.py: our side runs it to be compared with that reference.
REFERENCE_RULE = "other"
# The model sets follow the rule upstream moved to in May 2026 (ltx-core 1.1.4 / 1.2.0: own timesteps for
# the cross-attention scale/shift, the other stream's sigma for the gate, a stream held whole at sigma 0;
# models/families/cross_timestep.py). PyPI has ltx-core 1.0.0 only: where the rules part (per-token
# timesteps, a held stream) our renders differ from it by design, and those tests are strict xfails.
SETS_RULE_DIFFERS = (
    "the sets' May 2026 cross-attention rule (ltx-core 1.1.4/1.2.0) vs ltx-core 1.0.0's, the only reference on "
    "PyPI; measured {figures}. Flips to a failure when the reference catches up or the sets take 'other'."
)


def sets_rule(registry, version: str) -> str:
    """The cross-attention rule the model set of `version` renders with."""
    return registry[SETS[version]].cross_timestep


def our_forward(
    transformer,
    step: Step,
    *,
    first_frame: bool = False,
    held_audio: bool = False,
    stg: bool = False,
    isolate: bool = False,
    rule: str = REFERENCE_RULE,
    lock=None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Our transformer's velocities [1, T, C] for the same step, called with exactly what
    LTX2ConditionPipeline's loop passes it (its packers and RoPE coordinates, per-token timesteps
    t * (1 - conditioning mask), `sigma` = the step's t, the STG and modality passes' arguments) inside
    what `LTX2Family.denoise` wraps the call in for a set's cross-attention `rule`: its lock
    (`lock.hold_ltx2`, over a stand-in pipe whose audio VAE normalises with mean 0 and std 1, with the
    rule's held-stream sigma), the rule's `use_cross_timestep` and its gate hooks (`cross_timestep`).
    `lock`: a `families.lock.Lock` in the family's convention (the stand-in VAEs normalise with mean 0 and
    std 1, so the step's own clean latents), e.g. a retake's or a video-to-audio's (render/hold.py)."""
    from types import SimpleNamespace

    from diffusers import LTX2ConditionPipeline

    from ltx_studio.models.families.cross_timestep import ZERO_HELD_SIGMA, call_flag, cross_timestep_rule
    from ltx_studio.models.families.lock import Lock, hold_ltx2, packed_ltx2

    pack_video = LTX2ConditionPipeline._pack_latents
    pack_audio = LTX2ConditionPipeline._pack_audio_latents
    _, _, frames, height, width = step.video.shape
    hidden = pack_video(step.video, 1, 1)
    mask = torch.zeros(1, hidden.shape[1])
    if first_frame:  # prepare_latents for a condition at index 0, strength 1: clean tokens, mask 1
        tokens = height * width
        hidden = hidden.clone()
        hidden[:, :tokens] = pack_video(step.clean_video, 1, 1)[:, :tokens]
        mask[:, :tokens] = 1.0
    audio_hidden = pack_audio(step.audio)
    t = torch.tensor([step.sigma * 1000.0])
    video_coords = transformer.rope.prepare_video_coords(1, frames, height, width, hidden.device, fps=step.fps)
    audio_coords = transformer.audio_rope.prepare_audio_coords(1, audio_hidden.shape[1], hidden.device)
    kwargs = dict(
        hidden_states=hidden,
        audio_hidden_states=audio_hidden,
        encoder_hidden_states=step.video_text,
        audio_encoder_hidden_states=step.audio_text,
        timestep=t.unsqueeze(-1) * (1 - mask),
        audio_timestep=t,
        sigma=t,
        audio_sigma=t,
        encoder_attention_mask=torch.ones(1, step.video_text.shape[1]),  # the connectors' mask (registers: all 1)
        audio_encoder_attention_mask=torch.ones(1, step.video_text.shape[1]),
        num_frames=frames,
        height=height,
        width=width,
        fps=step.fps,
        audio_num_frames=audio_hidden.shape[1],
        video_coords=video_coords,
        audio_coords=audio_coords,
        isolate_modalities=isolate,
        spatio_temporal_guidance_blocks=[STG_BLOCK] if stg else None,
        perturbation_mask=None,
        use_cross_timestep=call_flag(rule),
        return_dict=False,
    )
    if held_audio:  # audio-to-video: the whole soundtrack held, as the family's denoise() holds it
        assert lock is None, "held_audio or a lock of its own, not both"
        lock = Lock(audio=step.clean_audio, audio_keep=torch.ones(step.clean_audio.shape[2], dtype=torch.bool))
    channels = step.clean_audio.shape[1] * step.clean_audio.shape[3]
    video_channels = step.clean_video.shape[1]
    pipe = SimpleNamespace(
        _execution_device=torch.device("cpu"),
        transformer=transformer,
        _pack_latents=pack_video,
        _normalize_latents=LTX2ConditionPipeline._normalize_latents,
        transformer_spatial_patch_size=1,
        transformer_temporal_patch_size=1,
        vae=SimpleNamespace(
            latents_mean=torch.zeros(video_channels),
            latents_std=torch.ones(video_channels),
            config=SimpleNamespace(scaling_factor=1.0),
        ),
        _pack_audio_latents=pack_audio,
        _normalize_audio_latents=LTX2ConditionPipeline._normalize_audio_latents,
        audio_vae=SimpleNamespace(latents_mean=torch.zeros(channels), latents_std=torch.ones(channels)),
    )
    with (
        torch.no_grad(),
        hold_ltx2(pipe, packed_ltx2(pipe, lock), zero_held_sigma=ZERO_HELD_SIGMA[rule]),
        cross_timestep_rule(transformer, rule),
    ):
        return transformer(**kwargs)


# --- the retake pipeline's region mask -------------------------------------------------------------


def retake_region_mask():
    """`TemporalRegionMask` of ltx_pipelines/retake.py (the retake pipeline's conditioning item: denoise mask 1
    inside [start, end) seconds, 0 outside, per token, video through its pixel bounds, audio through the
    audio patchifier's seconds). The module imports the audio VAE (torchaudio); where torchaudio does not
    import, the class alone is compiled from the installed source, unchanged, beside the names it uses."""
    import ast
    from dataclasses import dataclass

    if torchaudio_missing() is None:
        from ltx_pipelines.retake import TemporalRegionMask

        return TemporalRegionMask

    from ltx_core.components.patchifiers import get_pixel_coords
    from ltx_core.tools import LatentTools
    from ltx_core.types import LatentState, SpatioTemporalScaleFactors

    if "TemporalRegionMask" in _RETAKE:
        return _RETAKE["TemporalRegionMask"]
    spec = importlib.util.find_spec("ltx_pipelines")
    source = Path(next(iter(spec.submodule_search_locations))) / "retake.py"
    tree = ast.parse(source.read_text(), filename=str(source))
    (found,) = [n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "TemporalRegionMask"]
    names = {
        "__name__": __name__,
        "dataclass": dataclass,
        "torch": torch,
        "get_pixel_coords": get_pixel_coords,
        "LatentState": LatentState,
        "LatentTools": LatentTools,
        "SpatioTemporalScaleFactors": SpatioTemporalScaleFactors,
    }
    code = compile(ast.Module(body=[found], type_ignores=[]), str(source), "exec", dont_inherit=True)
    exec(code, names)  # noqa: S102
    _RETAKE["TemporalRegionMask"] = names["TemporalRegionMask"]
    return _RETAKE["TemporalRegionMask"]


_RETAKE: dict = {}


# --- a set's guidance as the reference's guiders take it ---------------------------------------------


def guider_params(sampling) -> dict:
    """`MultiModalGuiderParams` keywords per stream for a variant's `Sampling` (CFG, STG on its blocks,
    rescale, modality guidance), as the guided pipelines' stage 1 passes them."""
    return {
        stream: {
            "cfg_scale": cfg,
            "stg_scale": stg,
            "stg_blocks": list(sampling.stg_blocks),
            "rescale_scale": rescale,
            "modality_scale": modality,
        }
        for stream, cfg, stg, rescale, modality in (
            ("video", sampling.guidance, sampling.stg_scale, sampling.guidance_rescale, sampling.modality_scale),
            (
                "audio",
                sampling.audio_guidance,
                sampling.audio_stg_scale,
                sampling.audio_guidance_rescale,
                sampling.audio_modality_scale,
            ),
        )
    }


def built_by_ltx_core(file, *parts) -> tuple:
    """ltx_core's models, each built by its own builder from the single file: (configurator, key filter) pairs;
    every parameter loaded (fp32, CPU)."""
    from ltx_core.loader import SingleGPUModelBuilder

    built = []
    for configurator, ops in parts:
        builder = SingleGPUModelBuilder(model_path=str(file), model_class_configurator=configurator, model_sd_ops=ops)
        model = builder.build(device=torch.device("cpu"), dtype=torch.float32).eval()
        unloaded = [n for n, p in [*model.named_parameters(), *model.named_buffers()] if p.device.type == "meta"]
        assert not unloaded, f"ltx_core left parameters unloaded: {unloaded[:5]}"
        built.append(model)
    return tuple(built)
