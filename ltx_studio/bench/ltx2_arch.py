"""LTX-2.3 at its real size (22B, with the Gemma 3 12B text encoder) and as a tiny twin, with random
weights, for the arch bench: the same FLOPs and memory as the real checkpoints, built without a download.

Where each number comes from:
- Transformer, connectors, video VAE, audio VAE, vocoder, latent upsampler: diffusers' own conversion
  script, `scripts/convert_ltx2_to_diffusers.py` at huggingface/diffusers@58eb52c (2026-08-23),
  `version == "2.3"` (the configs it writes for `Lightricks/LTX-2.3`). All of them construct with the
  installed diffusers 0.42.1 classes. The "22B" is the DiT checkpoint: the transformer (18.99B) plus the
  text connectors (3.17B), which that script converts from the same file.
- Gemma 3 12B: text hidden 3840, 48 layers, 16 heads, 8 KV heads, head_dim 256, MLP 15360,
  query_pre_attn_scalar 256, sliding window 1024; vision tower SigLIP (1152 wide, 27 layers, 16 heads,
  MLP 4304, 896 px, patch 14), 256 tokens per image: Google's published `gemma-3-12b-it` config;
  vocab 262208 as in transformers' Gemma3TextConfig (its text parameter count, 11.766B, is Keras-Hub's
  11,765,788,416 for `gemma3_12b_text` plus the 64 extra vocabulary rows).
Assumed (not in those sources): the video VAE without timestep conditioning (the script's default;
LTX-2's decode_timestep is 0), the scheduler of the tiny demo set, a tokenizer built in code (the
prompt is padded to the pipeline's 1024 tokens, as with the real tokenizer).

Weights are not initialised the slow way: modules are built on the meta device (accelerate's
`init_empty_weights`; buffers stay real), moved with `to_empty` to the target device in the target
dtype, and filled with seeded normal noise (std 1/sqrt(fan_in), biases 0, other vectors 1).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from ..models import tiny_ltx2

# The LTX-2.3 structure, shared by both sizes: gated attention, prompt modulation of cross-attention,
# per-modality text projections in the connectors (no caption projection in the transformer), STG.
_STRUCTURE = dict(
    gated_attn=True,
    cross_attn_mod=True,
    audio_gated_attn=True,
    audio_cross_attn_mod=True,
    rope_type="split",
    use_prompt_embeddings=False,
    perturbed_attn=True,
    patch_size=1,
    patch_size_t=1,
    vae_scale_factors=(8, 32, 32),
    audio_scale_factor=4,
    audio_sampling_rate=16000,
    audio_hop_length=160,
    norm_elementwise_affine=False,
    rope_double_precision=True,
)
_CONNECTOR_STRUCTURE = dict(
    video_gated_attn=True,
    audio_gated_attn=True,
    rope_type="split",
    per_modality_projections=True,
    proj_bias=True,
    causal_temporal_positioning=False,
)
_VAE_STRUCTURE = dict(
    in_channels=3,
    out_channels=3,
    latent_channels=128,
    down_block_types=("LTX2VideoDownBlock3D",) * 4,
    spatio_temporal_scaling=(True,) * 4,
    decoder_spatio_temporal_scaling=(True,) * 4,
    decoder_inject_noise=(False,) * 5,
    downsample_type=("spatial", "temporal", "spatiotemporal", "spatiotemporal"),
    upsample_type=("spatiotemporal", "spatiotemporal", "temporal", "spatial"),
    upsample_residual=(False,) * 4,
    upsample_factor=(2, 2, 1, 2),
    timestep_conditioning=False,  # assumed: the conversion script's default
    patch_size=4,
    patch_size_t=1,
    encoder_causal=True,
    decoder_causal=False,
    encoder_spatial_padding_mode="zeros",
    decoder_spatial_padding_mode="zeros",
    spatial_compression_ratio=32,
    temporal_compression_ratio=8,
)
_AUDIO_VAE_STRUCTURE = dict(
    in_channels=2,
    output_channels=2,
    ch_mult=(1, 2, 4),
    latent_channels=8,
    norm_type="pixel",
    causality_axis="height",
    mid_block_add_attention=False,
    sample_rate=16000,
    mel_hop_length=160,
    is_causal=True,
    double_z=True,
)
_VOCODER_STRUCTURE = dict(
    out_channels=2,
    upsample_kernel_sizes=[11, 4, 4, 4, 4, 4],
    upsample_factors=[5, 2, 2, 2, 2, 2],  # 160 samples per mel frame: 16 kHz
    act_fn="snakebeta",
    antialias=True,
    antialias_ratio=2,
    antialias_kernel_size=12,
    final_act_fn=None,
    final_bias=False,
    bwe_out_channels=2,
    bwe_upsample_kernel_sizes=[12, 11, 4, 4, 4],
    bwe_upsample_factors=[6, 5, 2, 2, 2],  # bandwidth extension to 48 kHz
    bwe_act_fn="snakebeta",
    bwe_antialias=True,
    bwe_antialias_ratio=2,
    bwe_antialias_kernel_size=12,
    bwe_final_act_fn=None,
    bwe_final_bias=False,
    filter_length=512,
    hop_length=80,
    window_length=512,
    input_sampling_rate=16000,
    output_sampling_rate=48000,
)
_UPSAMPLER_STRUCTURE = dict(
    in_channels=128, dims=3, spatial_upsample=True, temporal_upsample=False, rational_spatial_scale=2.0,
    use_rational_resampler=False,
)  # fmt: skip


@dataclass(frozen=True)
class Preset:
    """Every component's sizes for one LTX-2.3 build (the structure above is common to all)."""

    transformer: dict
    connectors: dict
    vae: dict
    audio_vae: dict
    vocoder: dict
    upsampler: dict
    gemma_text: dict
    gemma_vision: dict
    gemma_image_tokens: int  # soft tokens per image
    max_sequence_length: int


PRESETS = {
    "ltx2-22b": Preset(
        transformer=dict(
            in_channels=128, out_channels=128, num_attention_heads=32, attention_head_dim=128,
            cross_attention_dim=4096, audio_in_channels=128, audio_out_channels=128, audio_num_attention_heads=32,
            audio_attention_head_dim=64, audio_cross_attention_dim=2048, num_layers=48, caption_channels=3840,
        ),
        connectors=dict(
            caption_channels=3840, text_proj_in_factor=49, video_connector_num_attention_heads=32,
            video_connector_attention_head_dim=128, video_connector_num_layers=8,
            video_connector_num_learnable_registers=128, audio_connector_num_attention_heads=32,
            audio_connector_attention_head_dim=64, audio_connector_num_layers=8,
            audio_connector_num_learnable_registers=128, video_hidden_dim=4096, audio_hidden_dim=2048,
        ),
        vae=dict(
            block_out_channels=(256, 512, 1024, 1024), decoder_block_out_channels=(256, 512, 512, 1024),
            layers_per_block=(4, 6, 4, 2, 2), decoder_layers_per_block=(4, 6, 4, 2, 2),
        ),
        audio_vae=dict(base_channels=128, num_res_blocks=2, mel_bins=64),
        vocoder=dict(
            in_channels=128, hidden_channels=1536, resnet_kernel_sizes=[3, 7, 11],
            resnet_dilations=[[1, 3, 5]] * 3, bwe_in_channels=128, bwe_hidden_channels=512,
            bwe_resnet_kernel_sizes=[3, 7, 11], bwe_resnet_dilations=[[1, 3, 5]] * 3, num_mel_channels=64,
        ),
        upsampler=dict(mid_channels=1024, num_blocks_per_stage=4),
        gemma_text=dict(
            vocab_size=262208, hidden_size=3840, intermediate_size=15360, num_hidden_layers=48,
            num_attention_heads=16, num_key_value_heads=8, head_dim=256, query_pre_attn_scalar=256,
            sliding_window=1024,
        ),
        gemma_vision=dict(
            hidden_size=1152, intermediate_size=4304, num_hidden_layers=27, num_attention_heads=16, image_size=896,
            patch_size=14, vision_use_head=False,
        ),
        gemma_image_tokens=256,
        max_sequence_length=1024,
    ),
    # The same structure, narrow: runs the 22B's code path in a fraction of a second on a CPU.
    "ltx2-tiny": Preset(
        transformer=dict(
            in_channels=128, out_channels=128, num_attention_heads=2, attention_head_dim=8, cross_attention_dim=16,
            audio_in_channels=32, audio_out_channels=32, audio_num_attention_heads=2, audio_attention_head_dim=4,
            audio_cross_attention_dim=8, num_layers=2, caption_channels=tiny_ltx2.TINY_TEXT_WIDTH,
        ),
        connectors=dict(
            caption_channels=tiny_ltx2.TINY_TEXT_WIDTH, text_proj_in_factor=3, video_connector_num_attention_heads=2,
            video_connector_attention_head_dim=8, video_connector_num_layers=1,
            video_connector_num_learnable_registers=32, audio_connector_num_attention_heads=2,
            audio_connector_attention_head_dim=4, audio_connector_num_layers=1,
            audio_connector_num_learnable_registers=32, video_hidden_dim=16, audio_hidden_dim=8,
        ),
        vae=dict(
            block_out_channels=(8, 16, 32, 32), decoder_block_out_channels=(8, 16, 16, 32),
            layers_per_block=(1, 1, 1, 1, 1), decoder_layers_per_block=(1, 1, 1, 1, 1),
        ),
        audio_vae=dict(base_channels=32, num_res_blocks=1, mel_bins=16),
        vocoder=dict(
            # Widths halve at each of the 6 (BWE: 5) upsampling stages: 64 and 32 leave one channel at the end.
            # Without the anti-aliased activations (3x faster on a CPU; the 22B keeps them).
            in_channels=32, hidden_channels=64, resnet_kernel_sizes=[3], resnet_dilations=[[1, 3, 5]],
            bwe_in_channels=32, bwe_hidden_channels=32, bwe_resnet_kernel_sizes=[3], bwe_resnet_dilations=[[1, 3, 5]],
            num_mel_channels=16, antialias=False, bwe_antialias=False,
        ),
        upsampler=dict(mid_channels=32, num_blocks_per_stage=1),
        gemma_text=dict(
            hidden_size=tiny_ltx2.TINY_TEXT_WIDTH, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
            num_key_value_heads=1, head_dim=16, sliding_window=64,
        ),
        gemma_vision=dict(
            hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
            image_size=tiny_ltx2.IMAGE_SIZE, patch_size=14,
        ),
        gemma_image_tokens=tiny_ltx2.IMAGE_TOKENS,
        max_sequence_length=128,
    ),
}  # fmt: skip


# --- building ----------------------------------------------------------------------------------


def builders(preset: Preset, tokenizer) -> dict[str, Callable[[], torch.nn.Module]]:
    """One constructor per component with weights (nothing is allocated until one is called)."""
    from diffusers import AutoencoderKLLTX2Audio, AutoencoderKLLTX2Video, LTX2VideoTransformer3DModel
    from diffusers.pipelines.ltx2 import LTX2LatentUpsamplerModel, LTX2TextConnectors, LTX2VocoderWithBWE

    return {
        "text_encoder": lambda: gemma3(preset, tokenizer),
        "connectors": lambda: LTX2TextConnectors(**_CONNECTOR_STRUCTURE, **preset.connectors),
        "vae": lambda: AutoencoderKLLTX2Video(**_VAE_STRUCTURE, **preset.vae),
        "audio_vae": lambda: AutoencoderKLLTX2Audio(**_AUDIO_VAE_STRUCTURE, **preset.audio_vae),
        "vocoder": lambda: LTX2VocoderWithBWE(**(_VOCODER_STRUCTURE | preset.vocoder)),
        "transformer": lambda: LTX2VideoTransformer3DModel(**_STRUCTURE, **preset.transformer),
        "upsampler": lambda: LTX2LatentUpsamplerModel(**_UPSAMPLER_STRUCTURE, **preset.upsampler),
    }


def gemma3(preset: Preset, tokenizer):
    """Gemma 3 (text and vision tower) at the preset's size; its special tokens are the tokenizer's."""
    from transformers import Gemma3Config, Gemma3ForConditionalGeneration

    text = {"vocab_size": len(tokenizer), "max_position_embeddings": 131072, **preset.gemma_text}
    ids = tokenizer.convert_tokens_to_ids
    config = Gemma3Config(
        text_config=text,
        vision_config=preset.gemma_vision,
        mm_tokens_per_image=preset.gemma_image_tokens,
        boi_token_index=ids("<start_of_image>"),
        eoi_token_index=ids("<end_of_image>"),
        image_token_index=ids("<image_soft_token>"),
        pad_token_id=0,
        eos_token_id=1,
        bos_token_id=2,
    )
    return Gemma3ForConditionalGeneration(config).eval()


def materialize(build: Callable[[], torch.nn.Module], device: str, dtype: torch.dtype, seed: int) -> torch.nn.Module:
    """Build on the meta device, then allocate on `device` in `dtype` (no CPU copy) and fill with seeded noise.

    Buffers (rotary tables, latent statistics, anti-aliasing filters) are computed for real at
    construction and copied over, so the module computes exactly as one built the slow way would.
    """
    from accelerate import init_empty_weights

    with init_empty_weights(include_buffers=False):
        module = build()
    module.to(dtype)  # meta parameters: free; the real buffers are cast as from_pretrained(dtype=) would
    buffers = dict(module.named_buffers(remove_duplicate=False))
    module.to_empty(device=device)
    if hasattr(module, "tie_weights"):  # Gemma's output head shares its embedding; to_empty gave each its own
        module.tie_weights()
    with torch.no_grad():
        for name, value in buffers.items():
            module.get_buffer(name).copy_(value)
        fill_random_(module, seed)
    return module.eval().requires_grad_(False)


@torch.no_grad()
def fill_random_(module: torch.nn.Module, seed: int) -> None:
    """Seeded normal noise, std 1/sqrt(fan_in) for matrices and kernels; biases 0, other vectors (norm scales) 1."""
    generators: dict[torch.device, torch.Generator] = {}
    for name, param in module.named_parameters():
        if param.device not in generators:
            generators[param.device] = torch.Generator(param.device).manual_seed(seed)
        if param.ndim >= 2:
            param.normal_(0.0, param[0].numel() ** -0.5, generator=generators[param.device])
        elif name.endswith("bias"):
            param.zero_()
        else:
            param.fill_(1.0)


def build_ltx2_arch(arch: str, device: str, dtype: torch.dtype) -> tuple[dict, object, object]:
    """Shared components, one transformer and the upsampler of an LTX-2.3 preset, random weights, on the device.

    The 22B is built in the target dtype (it never exists in fp32); the tiny one in fp32 and then cast,
    so a dtype lever compares one model.
    """
    preset = PRESETS[arch]
    build_dtype = dtype if arch != "ltx2-tiny" else torch.float32
    tokenizer = tiny_ltx2.build_tokenizer()
    tokenizer.model_max_length = preset.max_sequence_length  # the real tokenizer pads prompts to 1024
    made = {
        kind: materialize(build, device, build_dtype, seed=i).to(dtype)
        for i, (kind, build) in enumerate(builders(preset, tokenizer).items())
    }
    shared = {k: made[k] for k in ("text_encoder", "connectors", "vae", "audio_vae", "vocoder")}
    shared |= {"tokenizer": tokenizer, "scheduler": tiny_ltx2.build_scheduler()}
    return shared, made["transformer"], made["upsampler"]


def parameter_counts(arch: str, kinds: tuple[str, ...] | None = None) -> dict[str, int]:
    """Parameters per component of a preset (all, or `kinds`), counted on the meta device: nothing is allocated."""
    counts = {}
    for kind, build in builders(PRESETS[arch], tiny_ltx2.build_tokenizer()).items():
        if kinds is not None and kind not in kinds:
            continue
        with torch.device("meta"):
            module = build()
        if not all(p.is_meta for p in module.parameters()):
            raise RuntimeError(f"the {kind} allocated real weights while counting")
        counts[kind] = sum(p.numel() for p in module.parameters())  # shared (tied) weights once
    if {"transformer", "connectors"} <= set(counts):
        counts["dit checkpoint (transformer + connectors)"] = counts["transformer"] + counts["connectors"]
    return counts


# --- work per step -------------------------------------------------------------------------------


def step_flops(transformer, video_tokens: int, audio_tokens: int, text_tokens: int) -> float:
    """Matmul FLOPs of one LTX-2 transformer forward (one guidance pass).

    2 x weights x the tokens each weight sees (video, audio, or text for the cross-attention keys and
    values; the per-token timestep modulation counts on the video tokens), plus attention's
    4 x n_q x n_kv x width per layer for video and audio self-attention, text cross-attention and the
    audio<->video cross-attention. An estimate: element-wise work and norms are left out.
    """
    config = transformer.config
    width = config.num_attention_heads * config.attention_head_dim
    audio_width = config.audio_num_attention_heads * config.audio_attention_head_dim
    total = 0.0
    for name, param in transformer.named_parameters():
        if param.ndim < 2:
            continue
        total += 2 * param.numel() * _tokens_seen(name, video_tokens, audio_tokens, text_tokens)
    v, a, t = video_tokens, audio_tokens, text_tokens
    attention = 4 * (v * v + v * t) * width + 4 * (a * a + a * t) * audio_width + 2 * 4 * v * a * audio_width
    return total + attention * config.num_layers


def _tokens_seen(name: str, video: int, audio: int, text: int) -> int:
    leaf = name.rsplit(".", 2)[-2] if name.count(".") >= 2 else name
    if "attn2.to_k" in name or "attn2.to_v" in name:  # text keys/values (video and audio cross-attention)
        return text
    if "prompt_adaln" in name:  # modulation from the step's sigma: once per call
        return 1
    if "audio_to_video_attn" in name:  # queries and output on video, keys and values from audio
        return audio if leaf in ("to_k", "to_v") else video
    if "video_to_audio_attn" in name:
        return video if leaf in ("to_k", "to_v") else audio
    return audio if "audio" in name else video
