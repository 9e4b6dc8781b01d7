"""Memory and speed policy: one small function decides how models sit on the device.

Inputs are facts about the machine (device kind, free memory, host RAM), the model set (bytes of
parameters) and the largest render to plan for; the output is a `MemoryPolicy` the manager applies.
Nothing else decides offloading.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, replace

import torch

from ..core.sizing import FRAME_MULTIPLE, MIN_FRAMES, latent_shape
from .families.tiles import largest_tile

log = logging.getLogger("ltx_studio")
GIB = 1024**3
# Activations, VAE decode and the CUDA context at 768x512x121 need room beside the weights: the least
# room a plan keeps (`activation_bytes` says how much more a larger render needs).
ACTIVATION_HEADROOM = 8 * GIB
# One prompt through the text encoder (Gemma 3 12B's stacked hidden states at 1024 tokens: < 1 GiB).
ENCODE_HEADROOM = 2 * GIB
TILING_BELOW = 32 * GIB  # cards smaller than this always decode in tiles
TILING_FROM_PIXELS = 1920 * 1080  # and every card decodes 1080p and above in tiles
# Beside the weights, a render's activations grow with its size (estimates: an out-of-memory error
# still steps the policy down). The denoise: LTX-Desktop's budget for LTX-2.3 streaming its weights
# (`video_job_budget.py`, measured by Lightricks on an RTX 5090): ~3.1 GiB plus 0.000315 GiB per video
# token (a batch of one; guidance doubles the per-token part). A whole decode: the VAE's full-resolution feature maps, scaled
# so that 768x512x121 needs ACTIVATION_HEADROOM (~180 B per output pixel and frame). A tiled one:
# diffusers tiles in space only (512x512 tiles, every frame), and the decoded frames (bf16, stitched,
# then through float32 to uint8: ~36 B per pixel and frame) sit beside the tile.
REFERENCE_SIZE = (768, 512, 121)  # what ACTIVATION_HEADROOM was planned for; the default plan
DENOISE_BASE = int(3.1 * GIB)
DENOISE_PER_TOKEN = int(0.000315 * GIB)
DECODE_PER_PIXEL = ACTIVATION_HEADROOM / (REFERENCE_SIZE[0] * REFERENCE_SIZE[1] * REFERENCE_SIZE[2])
DECODE_TILE = 512
DECODED_FRAMES_PER_PIXEL = 36
# Host RAM the process needs besides the weights waiting there (Python, torch, CUDA's host side, the app).
HOST_OVERHEAD = 4 * GIB
# FP8 bytes per bf16 byte of a transformer: the linear weights (nearly all of them) halve; norms,
# embeddings and the modulation tables stay bf16. Rounded up, so the plan errs towards fitting.
FP8_FRACTION = 0.55
WEIGHTS = ("bf16", "fp16", "fp32", "fp8-torchao", "fp8-layerwise")
TEXT_ENCODER_PLACES = ("device", "visit", "stream")
_DTYPE_WEIGHTS = {torch.bfloat16: "bf16", torch.float16: "fp16", torch.float32: "fp32"}
_TEXT_ENCODER_WORDS = {
    "device": "on the device",
    "visit": "visits the device per new prompt",
    "stream": "streams through the device per new prompt",
}


@dataclass(frozen=True)
class MemoryPolicy:
    """How to place models: device, dtype, weights, offloading, the text encoder, VAE tiling, and the
    transformer budget."""

    device: str
    dtype: torch.dtype
    offload: str  # "none" | "model" (whole models to CPU between uses) | "group" (layer by layer)
    vae_tiling: bool  # tile every decode (small cards, or after an out-of-memory); see `tiling_for`
    budget_bytes: int  # bytes of transformer parameters kept in memory at once
    # Speed levers, applied once per loaded transformer (so compile warm-up is once per process).
    # Defaults come per GPU class from `Levers` (built-in, then measured by the bench, then environment).
    compile: bool = False  # regional torch.compile of the repeated transformer blocks
    attention_backend: str | None = None  # a diffusers attention backend name, e.g. "_native_cudnn"
    fp8: bool = False  # weights are "fp8-torchao" (FP8 weights and matmuls); with weights unset, True asks for them
    levers_from: str = "built-in"
    # The transformer's weights: the policy's dtype ("bf16", "fp32"), or FP8 when the bf16 ones do not
    # fit: "fp8-torchao" (torchao, FP8 matmuls on Hopper/Ada/Blackwell) or "fp8-layerwise" (diffusers'
    # layerwise casting: stored FP8, computed in the policy's dtype; memory only). "" = the dtype's.
    weights: str = ""
    # The text encoder, needed only for a prompt not yet in the manager's embedding cache: "device"
    # (stays there), "visit" (on the CPU, moved whole to the device for one encode and back), or
    # "stream" (on the CPU, streamed through the device layer by layer when a whole visit does not fit).
    text_encoder: str = "device"
    # Device bytes left for a render's activations and decode under this plan (None: not planned, e.g. a
    # policy built by hand or the CPU); a step down only frees memory, so it stays a lower bound.
    room_bytes: int | None = None
    notes: tuple[str, ...] = ()  # what the plan could not fit (host RAM, the planned size), in words
    # A denoise too large for the room runs in spatial tiles (families/tiles.py): 0 decides by size, 1 never
    # tiles (LTX-Video: its forward does not; then only the whole counts), 4 always does (tests, benchmarks).
    denoise_tiles: int = 0
    # The prompt's K/V projections computed once per render (families/text_kv.py): bit-identical output.
    text_kv_cache: bool = True
    # A step cache (placement.STEP_CACHES) on multi-step variants' transformers, only where the lever sweep
    # kept it (its every step's prediction within 2% of plain on this GPU class): not exact, so said in the header.
    step_cache: str | None = None

    def __post_init__(self) -> None:
        weights = self.weights or ("fp8-torchao" if self.fp8 else _DTYPE_WEIGHTS.get(self.dtype, "bf16"))
        if weights not in WEIGHTS or self.text_encoder not in TEXT_ENCODER_PLACES:
            raise ValueError(f"weights {weights!r} / text encoder {self.text_encoder!r}: not a known placement")
        object.__setattr__(self, "weights", weights)
        object.__setattr__(self, "fp8", weights == "fp8-torchao")

    def tiling_for(self, width: int, height: int) -> bool:
        """Whether a decode of this output size goes through the VAE in tiles."""
        return self.vae_tiling or width * height >= TILING_FROM_PIXELS

    def fits(self, width: int, height: int, frames: int, *, guided: bool = False, batch: int = 1) -> bool:
        """Whether a render of this size fits the device under this plan (`guided`: CFG's batch of two;
        `batch`: seeds in one call), whole or with its denoise in spatial tiles."""
        return self.denoise_tiles_for(width, height, frames, guided=guided, batch=batch) > 0

    def denoise_tiles_for(self, width: int, height: int, frames: int, *, guided: bool = False, batch: int = 1) -> int:
        """How a render of this size denoises under this plan: 1 whole, 4 in spatial tiles, 0 not at all."""
        if self.denoise_tiles > 1:
            return self.denoise_tiles
        if self.room_bytes is None:
            return 1
        tiled = self.tiling_for(width, height)
        for tiles in (1,) if self.denoise_tiles == 1 else (1, 4):
            need = activation_bytes(width, height, frames, tiled=tiled, guided=guided, tiles=tiles, batch=batch)
            if need <= self.room_bytes:
                return tiles
        return 0

    def decodes_together(self, width: int, height: int, frames: int, count: int) -> int:
        """How many clips of this size one VAE call decodes (seeds of one call, render/seeds.py): all `count`
        unless the decode goes in tiles (then one at a time) or more would pass the room for activations."""
        if count <= 1 or self.tiling_for(width, height):
            return 1
        if self.room_bytes is None:
            return count
        return int(max(1, min(count, self.room_bytes // max(1, DECODE_PER_PIXEL * width * height * frames))))

    def max_frames(self, width: int, height: int, *, guided: bool = False) -> int | None:
        """The most frames (8k+1) a render of this size fits under this plan: 0 if none, None if not planned."""
        if self.room_bytes is None:
            return None
        frames = MIN_FRAMES
        if not self.fits(width, height, frames, guided=guided):
            return 0
        while frames < _SEARCH_FRAMES and self.fits(width, height, frames + FRAME_MULTIPLE, guided=guided):
            frames += FRAME_MULTIPLE
        return frames

    def step_down(self) -> tuple[MemoryPolicy, str] | None:
        """The next lower-memory policy after an out-of-memory error and what changed, or None.

        VAE tiling for every size; then the text encoder off the device between prompts; then, with
        everything resident on a GPU, group offload (FP8 weights, or a streamed text encoder, whose
        hooks whole-model offload cannot take) or else model CPU offload (in the dtype: torchao's FP8
        tensors do not follow whole-model moves).
        """
        if not self.vae_tiling:
            return replace(self, vae_tiling=True), "VAE tiling"
        if self.device == "cpu":
            return None
        if self.text_encoder == "device" and self.offload != "model":
            return replace(self, text_encoder="visit"), "the text encoder on the CPU between prompts"
        if self.offload != "none":
            return None
        if self.weights.startswith("fp8") or self.text_encoder == "stream":
            return replace(self, offload="group", budget_bytes=0, compile=False), "group offload"
        dtype_weights = _DTYPE_WEIGHTS.get(self.dtype, "bf16")
        model = replace(self, offload="model", budget_bytes=0, fp8=False, weights=dtype_weights, text_encoder="visit")
        return model, "model CPU offload"

    def describe(self) -> str:
        dtype = str(self.dtype).removeprefix("torch.")
        levers = (
            (", compiled" if self.compile else "")
            + (f", step cache {self.step_cache} on multi-step variants" if self.step_cache else "")
            + (f", attention {self.attention_backend}" if self.attention_backend else "")
            + (f" (speed levers {self.levers_from})" if self.levers_from != "built-in" else "")
        )
        tiling = "on" if self.vae_tiling else f"from {TILING_FROM_PIXELS // 1080}x1080"
        return (
            f"{self.device}, {dtype}, weights {self.weights}, offload {self.offload}, "
            f"text encoder {_TEXT_ENCODER_WORDS[self.text_encoder]}, VAE tiling {tiling}, "
            f"transformer budget {self.budget_bytes / GIB:.1f} GiB{levers}"
            + "".join(f"; {note}" for note in self.notes)
        )


_SEARCH_FRAMES = 8 * 1024 + 1  # far past any variant's max_frames


def activation_bytes(
    width: int, height: int, frames: int, *, tiled: bool, guided: bool = False, tiles: int = 1, batch: int = 1
) -> int:
    """Device bytes a render of this size needs beside the weights: the denoise or the decode, whichever
    is larger (estimates, see DENOISE_BASE). `tiled`: the decode goes through the VAE in tiles; `tiles` 4:
    the denoise runs the transformer over one spatial tile at a time (families/tiles.py); `batch`: seeds
    denoised in one call (render/seeds.py; decoded together only as `decodes_together` allows)."""
    latent_frames, latent_height, latent_width = latent_shape(width, height, frames)
    if tiles > 1:
        latent_height, latent_width = largest_tile(latent_height, latent_width)
    tokens = latent_frames * latent_height * latent_width
    denoise = DENOISE_BASE + tokens * DENOISE_PER_TOKEN * (2 if guided else 1) * batch
    pixels = width * height * frames
    if tiled and max(width, height) > DECODE_TILE:  # diffusers leaves a frame within one tile whole
        tile = min(width, DECODE_TILE) * min(height, DECODE_TILE) * frames
        decode = DECODE_PER_PIXEL * tile + DECODED_FRAMES_PER_PIXEL * pixels
    else:
        decode = DECODE_PER_PIXEL * pixels
    return int(max(denoise, decode))


def choose_policy(
    device: str,
    free_bytes: int,
    shared_bytes: int,
    transformer_bytes: int,
    *,
    text_encoder_bytes: int = 0,
    torchao: bool = False,
    host_bytes: int | None = None,
    width: int = REFERENCE_SIZE[0],
    height: int = REFERENCE_SIZE[1],
    frames: int = REFERENCE_SIZE[2],
) -> MemoryPolicy:
    """Decide the policy from the device, its free memory and the model sizes (bytes of parameters).

    `shared_bytes` are the set's shared parts other than the text encoder (VAEs, vocoder, connectors),
    `text_encoder_bytes` the text encoder's (0: it is counted in `shared_bytes` and stays with them),
    `transformer_bytes` the largest variant's transformer in bf16; `torchao`: torchao's FP8 can run here.
    `host_bytes`: the RAM available (None: not checked). `width` x `height` x `frames`: the largest
    render to plan for (activations grow with it; at least the room of a 768x512x121 draft is kept).

    - CPU: float32 (bf16 matmuls are slow on most CPUs), no offload; budget half the free RAM.
    - GPU: bf16, the first plan that fits, from fastest to leanest: everything resident; model offload
      if each model fits alone and the host can hold them all; FP8 weights resident (torchao, else
      layerwise casting); FP8 weights with group offload (CUDA streams prefetch the next layer): the
      16 GB and 12 GB cards' plan, where only the activations stay on the card. The text encoder,
      needed only for a new prompt (the manager caches embeddings), stays on the device if it fits
      beside the resident models, else waits on the CPU and visits the device whole for a new prompt,
      else streams through it layer by layer (Gemma 3 12B on 24 GB cards and below). VAE tiling on
      cards under 32 GiB, or where the planned size's whole decode does not fit; `tiling_for` adds
      it for 1080p and above on any card. The notes say what does not fit: the planned size (and the
      most frames that do), or the RAM the plan needs.

    One function on purpose (~85 lines): the ladder reads top to bottom, as listed above.
    """
    if device == "cpu":
        return MemoryPolicy("cpu", torch.float32, "none", False, max(free_bytes // 2, transformer_bytes))
    headroom = max(ACTIVATION_HEADROOM, activation_bytes(width, height, frames, tiled=True))
    room = free_bytes - headroom
    fp8 = "fp8-torchao" if torchao else "fp8-layerwise"
    fp8_bytes = int(transformer_bytes * FP8_FRACTION)
    whole_set = HOST_OVERHEAD + shared_bytes + text_encoder_bytes + transformer_bytes
    host_holds_all = host_bytes is None or whole_set <= host_bytes
    if shared_bytes + transformer_bytes <= room:
        offload, weights, transformer_on_device = "none", "bf16", transformer_bytes
    elif max(shared_bytes, transformer_bytes, text_encoder_bytes) <= room and host_holds_all:
        offload, weights, transformer_on_device = "model", "bf16", transformer_bytes  # all of it waits in RAM
    elif shared_bytes + fp8_bytes <= room:
        offload, weights, transformer_on_device = "none", fp8, fp8_bytes
    else:
        offload, weights, transformer_on_device = "group", fp8, fp8_bytes
    if offload == "model":  # accelerate moves every model whole, the text encoder included
        text_encoder, budget = "visit", transformer_bytes  # one transformer at a time on the card
        on_card = transformer_bytes
    elif offload == "group":  # the transformer and the shared parts stream: the text encoder has the card
        text_encoder = _text_encoder_place(0, text_encoder_bytes, room, free_bytes)
        budget, on_card = transformer_on_device, 0
    else:
        resident = shared_bytes + transformer_on_device
        text_encoder = _text_encoder_place(resident, text_encoder_bytes, room, free_bytes)
        room_for_transformers = {
            "device": room - text_encoder_bytes,
            "visit": min(room, free_bytes - text_encoder_bytes - ENCODE_HEADROOM),  # a visit still fits
            "stream": room,
        }[text_encoder]
        budget, on_card = room_for_transformers - shared_bytes, resident
    room_bytes = free_bytes - on_card - (text_encoder_bytes if text_encoder == "device" else 0)
    # Below 1080p (which always tiles) a planned size whose whole decode does not fit tiles every decode.
    whole_decode_fits = activation_bytes(width, height, frames, tiled=False) <= room_bytes
    tile = free_bytes < TILING_BELOW or (width * height < TILING_FROM_PIXELS and not whole_decode_fits)
    policy = MemoryPolicy(
        device,
        torch.bfloat16,
        offload,
        tile,
        max(budget, transformer_on_device),
        weights=weights,
        text_encoder=text_encoder,
        room_bytes=room_bytes,
    )
    notes = [] if policy.fits(width, height, frames) else [_size_note(policy, width, height, frames)]
    if host_bytes is not None:
        # In RAM: the process, what waits there between renders, and a transformer while it loads (in
        # bf16, before it moves to the card or is cast to FP8).
        in_ram = HOST_OVERHEAD + (shared_bytes if offload != "none" else 0)
        in_ram += text_encoder_bytes if text_encoder != "device" else 0
        transformer_in_ram = {"none": 0, "model": transformer_bytes, "group": fp8_bytes}[offload]
        notes += _host_note(in_ram + transformer_in_ram, in_ram + transformer_bytes, host_bytes)
    return replace(policy, notes=tuple(notes))


def _host_note(waiting: int, loading: int, host_bytes: int) -> list[str]:
    """What the plan's RAM needs mean on this host, if they do not fit it."""
    available = f"{host_bytes / GIB:.0f} GiB available"
    if waiting > host_bytes:
        need = f"~{waiting / GIB:.0f} GiB of RAM for this plan (~{loading / GIB:.0f} GiB while loading)"
        return [f"needs {need}, {available}: expect heavy swapping"]
    if loading > host_bytes:
        need = f"~{loading / GIB:.0f} GiB of RAM while loading (~{waiting / GIB:.0f} GiB after)"
        return [f"needs {need}, {available}: loading may swap"]
    return []


def _size_note(policy: MemoryPolicy, width: int, height: int, frames: int) -> str:
    most = policy.max_frames(width, height)
    shorter = f"up to {most} frames at that size" if most else "not even 9 frames at that size"
    return f"{width}x{height}x{frames} does not fit: {shorter}"


def _text_encoder_place(resident: int, text_encoder_bytes: int, room: int, free_bytes: int) -> str:
    """device, visit or stream: where the text encoder waits, given the bytes resident beside it."""
    if resident + text_encoder_bytes <= room:
        return "device"
    if resident + text_encoder_bytes + ENCODE_HEADROOM <= free_bytes:  # a denoise's activations are gone by then
        return "visit"
    return "stream"


def detect_host_memory() -> int | None:
    """RAM available to a new allocation now, in bytes (Linux's MemAvailable), or None where unknown."""
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def detect_device() -> tuple[str, int]:
    """The device to render on and its free memory in bytes (`LTX_STUDIO_DEVICE`, e.g. cuda:1, overrides)."""
    from ..core.errors import BadInput

    asked = os.environ.get("LTX_STUDIO_DEVICE") or ("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(asked)
    except (RuntimeError, ValueError):
        raise BadInput(f"LTX_STUDIO_DEVICE={asked!r} is not a device (cpu, cuda, cuda:1, mps)") from None
    if device.type == "cuda":
        if not torch.cuda.is_available() or (device.index or 0) >= torch.cuda.device_count():
            raise BadInput(f"LTX_STUDIO_DEVICE={asked!r}: no such CUDA device here")
        free, _total = torch.cuda.mem_get_info(device)
        return str(device), int(free)
    try:
        pages = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError):
        pages = 8 * GIB
    return str(device), int(pages)
