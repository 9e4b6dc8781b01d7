"""Tiny random LTX-2 checkpoints (picture and sound), built offline in diffusers format.

The `demo` model set is made of these: the LTX-2 architecture (Gemma 3 text encoder with a tokenizer
and processor built in code, text connectors, a 32x/8x video VAE, an audio VAE, a vocoder, three
LTX-2 transformers of different depth, a latent upsampler) at a size that runs in a fraction of a
second on a CPU. The folder is a real `LTX2ConditionPipeline` folder written by `save_pretrained`
and read back by the same code that loads `diffusers/LTX-2.3-Diffusers`; only the output is noise.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

TINY_TEXT_WIDTH = 32  # Gemma hidden size = connector caption width (they must match)
TINY_TEXT_LAYERS = 2
LATENT_CHANNELS = 128  # as in the real video VAE, so the upsampler and previews see the real layout
AUDIO_LATENT_CHANNELS = 8
MEL_BINS = 16  # (the real VAE has 64; the mean/std buffers have base_channels = channels x mel_bins / 4)
# The demo set's three transformers differ in depth (and, being seeded apart, in weights).
TINY_TRANSFORMERS = {"fast": 1, "distilled": 2, "pro": 3}

SPECIAL_TOKENS = (
    "<pad>",
    "<eos>",
    "<bos>",
    "<unk>",
    "<mask>",
    "<start_of_turn>",
    "<end_of_turn>",
    "<start_of_image>",
    "<end_of_image>",
    "<image_soft_token>",
)
# Gemma's chat layout, short: the studio's enhance call goes through `apply_chat_template`.
CHAT_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}"
    "{% set role = 'model' if message['role'] == 'assistant' else message['role'] %}"
    "<start_of_turn>{{ role }}\n{% if message['content'] is string %}{{ message['content'] | trim }}{% else %}"
    "{% for item in message['content'] %}{% if item['type'] == 'image' %}<start_of_image>"
    "{% elif item['type'] == 'text' %}{{ item['text'] | trim }}{% endif %}{% endfor %}"
    "{% endif %}<end_of_turn>\n{% endfor %}{% if add_generation_prompt %}<start_of_turn>model\n{% endif %}"
)
TOKEN_CHARS = "\u2581abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.,;:!?'\"-()\n"
IMAGE_SIZE, IMAGE_TOKENS = 28, 4  # the tiny vision tower sees 28x28 images as 2x2 patches


def build_tokenizer():
    """A character-level Gemma tokenizer built in code, with Gemma's special and image tokens."""
    from transformers import GemmaTokenizerFast

    vocab = {token: i for i, token in enumerate(SPECIAL_TOKENS)}
    for char in TOKEN_CHARS:
        vocab.setdefault(char, len(vocab))
    return GemmaTokenizerFast(
        vocab=vocab,
        merges=[],
        model_max_length=128,
        extra_special_tokens={
            "boi_token": "<start_of_image>",
            "image_token": "<image_soft_token>",
            "eoi_token": "<end_of_image>",
        },
        chat_template=CHAT_TEMPLATE,
    )


def build_processor(tokenizer):
    """Gemma 3's processor (image processor + tokenizer + chat template), as the enhancer calls it."""
    from transformers import Gemma3Processor
    from transformers.models.gemma3.image_processing_pil_gemma3 import Gemma3ImageProcessorPil

    images = Gemma3ImageProcessorPil(size={"height": IMAGE_SIZE, "width": IMAGE_SIZE})
    return Gemma3Processor(
        image_processor=images, tokenizer=tokenizer, chat_template=CHAT_TEMPLATE, image_seq_length=IMAGE_TOKENS
    )


def build_text_encoder(tokenizer, seed: int = 0):
    """A Gemma 3 (text + vision) with random weights, sized to the tiny connectors."""
    from transformers import Gemma3Config, Gemma3ForConditionalGeneration

    torch.manual_seed(seed)
    config = Gemma3Config(
        text_config=dict(
            vocab_size=len(tokenizer),
            hidden_size=TINY_TEXT_WIDTH,
            intermediate_size=64,
            num_hidden_layers=TINY_TEXT_LAYERS,
            num_attention_heads=2,
            num_key_value_heads=1,
            head_dim=16,
            max_position_embeddings=2048,
            sliding_window=64,
        ),
        vision_config=dict(
            hidden_size=16,
            intermediate_size=32,
            num_hidden_layers=1,
            num_attention_heads=2,
            image_size=IMAGE_SIZE,
            patch_size=14,
        ),
        mm_tokens_per_image=IMAGE_TOKENS,
        boi_token_index=tokenizer.convert_tokens_to_ids("<start_of_image>"),
        eoi_token_index=tokenizer.convert_tokens_to_ids("<end_of_image>"),
        image_token_index=tokenizer.convert_tokens_to_ids("<image_soft_token>"),
        pad_token_id=0,
        eos_token_id=1,
        bos_token_id=2,
    )
    return Gemma3ForConditionalGeneration(config).eval()


def build_connectors(seed: int = 0):
    from diffusers.pipelines.ltx2 import LTX2TextConnectors

    torch.manual_seed(seed)
    return LTX2TextConnectors(
        caption_channels=TINY_TEXT_WIDTH,
        text_proj_in_factor=TINY_TEXT_LAYERS + 1,  # every hidden state of Gemma, stacked
        video_connector_num_attention_heads=4,
        video_connector_attention_head_dim=8,
        video_connector_num_layers=1,
        video_connector_num_learnable_registers=None,
        audio_connector_num_attention_heads=4,
        audio_connector_attention_head_dim=8,
        audio_connector_num_layers=1,
        audio_connector_num_learnable_registers=None,
        connector_rope_base_seq_len=32,
        rope_double_precision=False,
        rope_type="split",
    )


def build_transformer(layers: int, seed: int = 0):
    """An LTX-2 audio-video transformer with random weights: `layers` blocks, tiny widths."""
    from diffusers import LTX2VideoTransformer3DModel

    torch.manual_seed(seed)
    return LTX2VideoTransformer3DModel(
        in_channels=LATENT_CHANNELS,
        out_channels=LATENT_CHANNELS,
        num_attention_heads=2,
        attention_head_dim=8,
        cross_attention_dim=16,
        audio_in_channels=AUDIO_LATENT_CHANNELS * (MEL_BINS // 4),
        audio_out_channels=AUDIO_LATENT_CHANNELS * (MEL_BINS // 4),
        audio_num_attention_heads=2,
        audio_attention_head_dim=4,
        audio_cross_attention_dim=8,
        num_layers=layers,
        caption_channels=TINY_TEXT_WIDTH,
        rope_double_precision=False,
        rope_type="split",
    )


def build_vae(seed: int = 0):
    """The LTX-2 video VAE's block structure (32x spatial, 8x temporal, 128 latent channels), narrow."""
    from diffusers import AutoencoderKLLTX2Video

    torch.manual_seed(seed)
    vae = AutoencoderKLLTX2Video(
        latent_channels=LATENT_CHANNELS,
        block_out_channels=(8, 16, 16, 16),
        decoder_block_out_channels=(8, 16, 32),  # residual 2x upsamplers need widths that grow
        layers_per_block=(1, 1, 1, 1, 1),
        decoder_layers_per_block=(1, 1, 1, 1),
        spatial_compression_ratio=32,  # what the blocks do; the default formula assumes other blocks
        temporal_compression_ratio=8,
    )
    # Non-trivial latent statistics, so normalisation is exercised like in the real VAE.
    vae.latents_mean.copy_(torch.linspace(-0.1, 0.1, LATENT_CHANNELS))
    vae.latents_std.copy_(torch.linspace(0.5, 1.5, LATENT_CHANNELS))
    return vae


def build_audio_vae(seed: int = 0):
    """The LTX-2 audio VAE (16 kHz mel spectrograms, 4x in time and mel), narrow."""
    from diffusers import AutoencoderKLLTX2Audio

    torch.manual_seed(seed)
    return AutoencoderKLLTX2Audio(
        base_channels=AUDIO_LATENT_CHANNELS * MEL_BINS // 4,
        ch_mult=(1, 2, 4),
        num_res_blocks=1,
        latent_channels=AUDIO_LATENT_CHANNELS,
        mel_bins=MEL_BINS,
        sample_rate=16000,
        mel_hop_length=160,
    )


def build_vocoder(seed: int = 0):
    """A vocoder from 16 kHz mel frames (hop 160) to a 24 kHz stereo waveform, as in LTX-2."""
    from diffusers.pipelines.ltx2 import LTX2Vocoder

    torch.manual_seed(seed)
    # prod(upsample_factors) = 240 samples per mel frame: 100 frames/s -> 24 kHz.
    return LTX2Vocoder(
        in_channels=2 * MEL_BINS,
        hidden_channels=64,
        out_channels=2,
        upsample_kernel_sizes=[12, 10, 4, 4, 4],
        upsample_factors=[6, 5, 2, 2, 2],
        resnet_kernel_sizes=[3],
        resnet_dilations=[[1, 3, 5]],
        output_sampling_rate=24000,
    )


def build_upsampler(seed: int = 0):
    """A latent upsampler x2 (mid_channels a multiple of 32: GroupNorm(32))."""
    from diffusers.pipelines.ltx2 import LTX2LatentUpsamplerModel

    torch.manual_seed(seed)
    return LTX2LatentUpsamplerModel(in_channels=LATENT_CHANNELS, mid_channels=32, num_blocks_per_stage=1)


def build_prompt_enhancer(tokenizer, seed: int = 7):
    """LTX-2.5's dedicated prompt enhancer, tiny. The real one is a Gemma 4 with Gemma 4's processor,
    which needs torchvision; the demo's is a second tiny Gemma 3 (seeded apart from the text
    encoder) behind the demo processor, so the studio runs diffusers' dedicated-enhancer path
    (LTX-2.5 system prompts and decoding) without it."""
    return build_text_encoder(tokenizer, seed=seed)


def build_duration_head(seed: int = 0):
    """LTX-2.5's duration head (picks a clip's length from the prompt), over the tiny connectors' widths."""
    from diffusers.pipelines.ltx2 import LTX2DurationHead

    torch.manual_seed(seed)
    width = 4 * 8  # the tiny connectors' heads x head dim, for both streams
    head = LTX2DurationHead(
        video_cross_attention_dim=width,
        audio_cross_attention_dim=width,
        pooler_hidden_dim=16,
        num_pooler_heads=2,
        mlp_hidden_dim=16,
    )
    head.mlp_out.bias.data.fill_(1.0)  # e^1 ~ 2.7 s before the prompt's own push: a short clip
    return head


def build_diffusion_decoder(seed: int = 0):
    """LTX-2.5's diffusion video decoder (latents -> pixels by a 1-step denoiser), narrow.

    Its neighbourhood attention needs latents of at least 3x3 (96x96 pixels) at these kernels.
    """
    from diffusers import LTX2VideoDiffusionDecoderModel

    torch.manual_seed(seed)
    return LTX2VideoDiffusionDecoderModel(
        latent_channels=LATENT_CHANNELS,
        decoder_head_dim=8,
        decoder_stage_channels=(32, 16, 16, 16, 8),
        decoder_stage_depths=(1, 1, 1, 1, 1),
        decoder_stage_kernels=((3, 3, 3),) * 4,
        decoder_upsample_channel_reductions=(2, 1, 1, 2),
        decoder_stage5_kernel=(3, 3, 3),
        decoder_t_emb_dim=16,
    )


def build_scheduler():
    """LTX-2's flow-matching scheduler with resolution-dependent shifting (as shipped)."""
    from diffusers import FlowMatchEulerDiscreteScheduler

    return FlowMatchEulerDiscreteScheduler(use_dynamic_shifting=True, base_shift=0.95, max_shift=2.05)


def save_demo_set(folder: Path, version: int) -> None:
    """Write the tiny LTX-2 set: a full `LTX2ConditionPipeline` folder (its `transformer/` is the
    distilled one), plus `transformer-fast/`, `transformer-pro/`, `latent_upsampler/` and LTX-2.5's
    `prompt_enhancer/`, `duration_head/` and `diffusion_decoder/`."""
    from diffusers import LTX2ConditionPipeline

    torch.set_grad_enabled(False)
    transformers = {
        name: build_transformer(layers, seed=10 + i) for i, (name, layers) in enumerate(TINY_TRANSFORMERS.items())
    }
    tokenizer = build_tokenizer()
    pipe = LTX2ConditionPipeline(
        scheduler=build_scheduler(),
        vae=build_vae(),
        audio_vae=build_audio_vae(),
        text_encoder=build_text_encoder(tokenizer),
        tokenizer=tokenizer,
        connectors=build_connectors(),
        transformer=transformers["distilled"],
        vocoder=build_vocoder(),
        processor=build_processor(tokenizer),
    )
    pipe.save_pretrained(folder, safe_serialization=True)
    transformers["fast"].save_pretrained(folder / "transformer-fast", safe_serialization=True)
    transformers["pro"].save_pretrained(folder / "transformer-pro", safe_serialization=True)
    build_upsampler().save_pretrained(folder / "latent_upsampler", safe_serialization=True)
    # LTX-2.5's extra components (the `demo-ltx25` set adds them to the same folder).
    build_prompt_enhancer(tokenizer).save_pretrained(folder / "prompt_enhancer", safe_serialization=True)
    build_duration_head().save_pretrained(folder / "duration_head", safe_serialization=True)
    build_diffusion_decoder().save_pretrained(folder / "diffusion_decoder", safe_serialization=True)
    (folder / "tiny.json").write_text(json.dumps({"version": version, "family": "ltx2"}))
