"""The LTX-2 text path on both sides: one tiny Gemma 3, tiny text connectors in Lightricks' single-file layout.

Lightricks' side (ltx-core / ltx-pipelines 1.0.0): `GemmaTextEncoder.encode` (its `LTXVGemmaTokenizer`, then
the Gemma language model's hidden states), then the `EmbeddingsProcessor` that `ModelLedger` builds from the
checkpoint (`EmbeddingsProcessorConfigurator` + `EMBEDDINGS_PROCESSOR_KEY_OPS`: the feature extractor, V1 for
LTX-2.0 or V2 for LTX-2.3, and the video and audio embeddings connectors), prompt by prompt, as
`ltx_pipelines/utils/helpers.py: encode_prompts` runs them.

Our side: the connectors converted from the same file to a diffusers `connectors/` folder by diffusers' own
conversion (scripts/convert_ltx2_to_diffusers.py, which is not part of the installed package: its connector
rename tables and config are restated below) and loaded the way the studio loads a set's connectors
(`LTX2Family.load_component`).

ltx_core sizes its Gemma and its feature extractor from one fixed config (`GEMMA3_CONFIG_FOR_LTX`: Gemma 3
12B, 3840 wide, 48 layers); for a tiny Gemma that constant is swapped, only while ltx_core builds
(`tiny_gemma_for_ltx_core`). Its Gemma loader (`GemmaTextEncoderConfigurator`, `GEMMA_MODEL_OPS`) builds that
12B model only, so both sides run the one tiny Gemma object: the text path is compared from token ids on.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from pathlib import Path

import torch

from . import reference as R

SEQUENCE = 256  # padded prompt length on both sides (the real one: 1024); two tiles of the 128 registers
REGISTERS = 128  # the connectors' learnable registers, as in the real checkpoints


def widths(version: str) -> dict:
    """Tiny widths of the text path. LTX-2.0 projects Gemma's layers back to Gemma's width, so its connectors
    are as wide as the tiny Gemma (32); LTX-2.3 projects to each stream's own width (video 48, audio 16, neither
    Gemma's, so the feature extractor's sqrt(width / Gemma width) rescale is exercised)."""
    from ltx_studio.models.tiny_ltx2 import TINY_TEXT_WIDTH

    if version == "2.3":
        return {
            "num_attention_heads": 2,
            "attention_head_dim": 24,
            "connector_num_attention_heads": 2,
            "connector_attention_head_dim": 24,
            "audio_num_attention_heads": 2,
            "audio_attention_head_dim": 8,
            "audio_connector_num_attention_heads": 2,
            "audio_connector_attention_head_dim": 8,
        }
    return {"connector_num_attention_heads": 2, "connector_attention_head_dim": 16, "caption_channels": TINY_TEXT_WIDTH}


@contextlib.contextmanager
def tiny_gemma_for_ltx_core():
    """ltx_core's fixed Gemma 3 config (which sizes its feature extractor) at the tiny Gemma's sizes."""
    from unittest import mock

    from ltx_core.text_encoders.gemma import config as gemma_config
    from ltx_core.text_encoders.gemma.encoders import encoder_configurator

    from ltx_studio.models.tiny_ltx2 import TINY_TEXT_LAYERS, TINY_TEXT_WIDTH

    tiny = gemma_config.Gemma3ConfigData(
        text_config=gemma_config.Gemma3TextConfig(hidden_size=TINY_TEXT_WIDTH, num_hidden_layers=TINY_TEXT_LAYERS)
    )
    with mock.patch.object(encoder_configurator, "GEMMA3_CONFIG_FOR_LTX", tiny):
        yield


# --- the single file ---------------------------------------------------------------------------

# ltx_core's module names -> the file's (EMBEDDINGS_PROCESSOR_KEY_OPS, read backwards)
_FILE_NAMES = {
    "feature_extractor.aggregate_embed.": "text_embedding_projection.aggregate_embed.",
    "feature_extractor.video_aggregate_embed.": "text_embedding_projection.video_aggregate_embed.",
    "feature_extractor.audio_aggregate_embed.": "text_embedding_projection.audio_aggregate_embed.",
    "video_connector.": f"{R.PREFIX}video_embeddings_connector.",
    "audio_connector.": f"{R.PREFIX}audio_embeddings_connector.",
}


@dataclass(frozen=True)
class TextCheckpoint:
    version: str
    file: Path  # Lightricks' layout: connectors under model.diffusion_model., the projection beside them

    @property
    def config(self) -> dict:
        from safetensors import safe_open

        with safe_open(str(self.file), framework="pt") as f:
            return json.loads(f.metadata()["config"])["transformer"]


def write_text_checkpoint(folder: Path, version: str, seed: int = 0) -> TextCheckpoint:
    """The text-path tensors of a tiny LTX-2 checkpoint of `version`, named and shaped by ltx_core's own
    embeddings processor, random (seeded), in one safetensors file with the architecture in its metadata."""
    from ltx_core.text_encoders.gemma import EmbeddingsProcessorConfigurator
    from safetensors.torch import save_file

    config = R.checkpoint_config(version, **widths(version))
    with tiny_gemma_for_ltx_core(), torch.device("meta"):
        skeleton = EmbeddingsProcessorConfigurator.from_config(config)
    generator = torch.Generator().manual_seed(seed)
    tensors = {}
    for name, tensor in sorted(skeleton.state_dict().items()):
        (ours,) = [k for k in _FILE_NAMES if name.startswith(k)]
        tensors[name.replace(ours, _FILE_NAMES[ours], 1)] = R._random_like(name, tuple(tensor.shape), generator)
    folder.mkdir(parents=True, exist_ok=True)
    file = folder / f"ltx-{version}-text-tiny.safetensors"
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(file), metadata={"config": json.dumps(config)})
    return TextCheckpoint(version, file)


# --- Lightricks' side --------------------------------------------------------------------------


def load_reference_processor(checkpoint: TextCheckpoint):
    """ltx_core's `EmbeddingsProcessor` from the file, as `ModelLedger.gemma_embeddings_processor` builds it."""
    from ltx_core.loader import SingleGPUModelBuilder
    from ltx_core.text_encoders.gemma import EMBEDDINGS_PROCESSOR_KEY_OPS, EmbeddingsProcessorConfigurator

    builder = SingleGPUModelBuilder(
        model_path=str(checkpoint.file),
        model_class_configurator=EmbeddingsProcessorConfigurator,
        model_sd_ops=EMBEDDINGS_PROCESSOR_KEY_OPS,
    )
    with tiny_gemma_for_ltx_core():
        return builder.build(device=torch.device("cpu"), dtype=torch.float32).eval()


def reference_encoder(gemma, tokenizer_folder: Path):
    """ltx_core's `GemmaTextEncoder` over the shared Gemma, with its own tokenizer wrapper on the same
    tokenizer files (padded to SEQUENCE, as it pads the real one to 1024)."""
    from ltx_core.text_encoders.gemma import GemmaTextEncoder
    from ltx_core.text_encoders.gemma.tokenizer import LTXVGemmaTokenizer

    return GemmaTextEncoder(model=gemma, tokenizer=LTXVGemmaTokenizer(str(tokenizer_folder), SEQUENCE))


@torch.no_grad()
def reference_text(encoder, processor, prompts: list[str]) -> list:
    """`EmbeddingsProcessorOutput` (video_encoding, audio_encoding, attention_mask) per prompt, as
    ltx_pipelines/utils/helpers.py `encode_prompts` makes them (Gemma on every prompt, then the processor on
    each); that function itself also synchronises CUDA, so its two steps are run here."""
    raw = [encoder.encode(p) for p in prompts]
    return [processor.process_hidden_states(hidden, mask) for hidden, mask in raw]


# --- diffusers' conversion of the same file ------------------------------------------------------

# diffusers scripts/convert_ltx2_to_diffusers.py: LTX_2_0_CONNECTORS_KEYS_RENAME_DICT and
# LTX_2_3_CONNECTORS_KEYS_RENAME_DICT (applied in order, by substring).
_RENAMES = {
    "2.0": {
        "connectors.": "",
        "video_embeddings_connector": "video_connector",
        "audio_embeddings_connector": "audio_connector",
        "transformer_1d_blocks": "transformer_blocks",
        "text_embedding_projection.aggregate_embed": "text_proj_in",
        "q_norm": "norm_q",
        "k_norm": "norm_k",
    },
    "2.3": {
        "connectors.": "",
        "video_embeddings_connector": "video_connector",
        "audio_embeddings_connector": "audio_connector",
        "transformer_1d_blocks": "transformer_blocks",
        "text_embedding_projection.audio_aggregate_embed": "audio_text_proj_in",
        "text_embedding_projection.video_aggregate_embed": "video_text_proj_in",
        "q_norm": "norm_q",
        "k_norm": "norm_k",
    },
}
_CONNECTOR_KEYS = (  # the script's split_transformer_and_connector_state_dict
    "video_embeddings_connector",
    "audio_embeddings_connector",
    "transformer_1d_blocks",
    "text_embedding_projection",
    "connectors.",
    "video_connector",
    "audio_connector",
    "text_proj_in",
)


def diffusers_connectors_config(checkpoint: TextCheckpoint) -> dict:
    """The script's `get_ltx2_connectors_config(version)` for this architecture: its 2.0 / 2.3 entries with
    the widths, depths and RoPE settings read from the file's config instead of the real models' numbers."""
    from ltx_studio.models.tiny_ltx2 import TINY_TEXT_LAYERS, TINY_TEXT_WIDTH

    t, later = checkpoint.config, checkpoint.version == "2.3"
    video_heads, video_dim = t["connector_num_attention_heads"], t["connector_attention_head_dim"]
    audio_heads = t.get("audio_connector_num_attention_heads", video_heads)
    audio_dim = t.get("audio_connector_attention_head_dim", video_dim)
    config = {
        "caption_channels": TINY_TEXT_WIDTH,
        "text_proj_in_factor": TINY_TEXT_LAYERS + 1,
        "video_connector_num_attention_heads": video_heads,
        "video_connector_attention_head_dim": video_dim,
        "video_connector_num_layers": t["connector_num_layers"],
        "video_connector_num_learnable_registers": REGISTERS,
        "video_gated_attn": later,
        "audio_connector_num_attention_heads": audio_heads,
        "audio_connector_attention_head_dim": audio_dim,
        "audio_connector_num_layers": t["connector_num_layers"],
        "audio_connector_num_learnable_registers": REGISTERS,
        "audio_gated_attn": later,
        "connector_rope_base_seq_len": t["connector_positional_embedding_max_pos"][0],
        "rope_theta": t["positional_embedding_theta"],
        "rope_double_precision": t["frequencies_precision"] == "float64",
        "causal_temporal_positioning": False,
        "rope_type": t["rope_type"],
        "per_modality_projections": later,
        "proj_bias": later,
    }
    if later:
        config["video_hidden_dim"] = video_heads * video_dim
        config["audio_hidden_dim"] = audio_heads * audio_dim
    return config


def convert_connectors(checkpoint: TextCheckpoint, folder: Path) -> Path:
    """A diffusers set folder whose `connectors/` is the file's connectors converted as diffusers' script does
    (`get_model_state_dict_from_combined_ckpt` with the `model.diffusion_model.` prefix plus the
    `text_embedding_projection` beside it, its connector split and renames, a strict load, save_pretrained)."""
    from diffusers.pipelines.ltx2 import LTX2TextConnectors
    from safetensors.torch import load_file

    combined = load_file(str(checkpoint.file))
    state = {k.removeprefix(R.PREFIX): v for k, v in combined.items() if k.startswith(R.PREFIX)}
    state.update({k: v for k, v in combined.items() if k.startswith("text_embedding_projection")})
    state = {k: v for k, v in state.items() if k.startswith(_CONNECTOR_KEYS)}
    renamed = {}
    for key, value in state.items():
        for old, new in _RENAMES[checkpoint.version].items():
            key = key.replace(old, new)
        renamed[key] = value
    connectors = LTX2TextConnectors.from_config(diffusers_connectors_config(checkpoint))
    connectors.load_state_dict(renamed, strict=True)
    connectors.save_pretrained(folder / "connectors", safe_serialization=True)
    return folder
