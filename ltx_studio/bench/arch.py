"""Real-size (or tiny) LTX architectures with random weights (same FLOPs as real weights) through the
studio's full draft path: seconds end to end and per stage, against the matmul FLOP bound, with peak
memory and the distance from the baseline, under each lever configuration.

LTX-Video: 2B and 13B transformers with T5-XXL (`tiny` is their tiny twin). LTX-2.3: the 22B
(transformer + connectors) with Gemma 3 12B, picture and sound (`ltx2-tiny` is its twin); see `ltx2_arch`.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .levers import (
    SAFE_STEP_ERROR,
    against_reference,
    choose_levers,
    lever_configs,
    lever_policy,
    step_cache_of,
    step_error,
)
from .measure import PeakRSS, machine_info

if TYPE_CHECKING:
    from ..models.variants import ModelSet

PEAK_BF16_TFLOPS = 790.0  # measured bf16 matmul rate of an H100 (LTX_FACTS)


@dataclass(frozen=True)
class Case:
    """One render of an architecture: the variant whose sampling it uses, its size, and whether the draft
    is then upscaled (LTX-Video's final; LTX-2's two-stage variant does both stages in one render)."""

    name: str
    variant: str
    width: int
    height: int
    frames: int
    then_upscale: bool = False


@dataclass(frozen=True)
class Arch:
    """An architecture the bench can build: the model set whose variants it runs under, and its cases."""

    model_set: str
    cases: tuple[Case, ...]
    builder: str  # "ltxv" or "ltx2"
    tiny: bool = False

    def build(self, name: str, device: str, dtype) -> tuple[dict, object, object]:
        if self.builder == "ltx2":
            from .ltx2_arch import build_ltx2_arch

            return build_ltx2_arch(name, device, dtype)
        return build_arch(name, device, dtype)


ARCHS = {
    "tiny": Arch(
        "demo-ltxv", (Case("draft", "distilled", 384, 256, 25), Case("final", "distilled", 192, 128, 25, True)),
        "ltxv", tiny=True,
    ),
    "ltxv-2b": Arch("ltxv", (Case("fast 768x512x121", "fast", 768, 512, 121),), "ltxv"),
    "ltxv-13b": Arch(
        "ltxv",
        (
            Case("distilled 1280x704x121", "distilled", 1280, 704, 121),
            Case("two-stage final 1216x704x121", "distilled", 608, 352, 121, True),
        ),
        "ltxv",
    ),
    "ltx2-tiny": Arch(
        "demo",
        (Case("fast draft", "fast", 384, 256, 25), Case("two-stage final", "distilled", 384, 256, 25),
         Case("pro", "pro", 384, 256, 25)),
        "ltx2", tiny=True,
    ),
    # LTX-2.3 Fast: the distilled 22B, 8 steps, with sound; the final: Distilled in two stages
    # (640x352 x 8 steps, latent upsample x2, 3 refine steps at 1280x704), with sound.
    "ltx2-22b": Arch(
        "ltx2",
        (
            Case("fast draft 768x512x121", "fast", 768, 512, 121),
            Case("two-stage final 1280x704x121", "distilled", 1280, 704, 121),
            Case("pro 768x512x121", "pro", 768, 512, 121),  # the multi-step case: where a step cache may pay
        ),
        "ltx2",
    ),
}  # fmt: skip


def build_arch(arch: str, device: str, dtype) -> tuple[dict, object, object]:
    """Shared components and one transformer of an LTX-Video architecture, random weights, built on the device."""
    import torch

    from ..models import tiny

    real = arch != "tiny"
    previous = torch.get_default_dtype()
    # Real sizes are built in the target dtype (a 13B model never exists in fp32), so their fp32 and
    # bf16 weights differ; tiny ones are built in fp32 and cast, so a dtype lever compares one model.
    torch.set_default_dtype(dtype if real else torch.float32)
    try:
        with torch.device(device):
            shared = {
                "text_encoder": tiny.build_text_encoder(tiny.REAL_T5 if real else tiny.TINY_T5),
                "tokenizer": tiny.build_tokenizer(),
                "vae": tiny.build_vae(tiny.REAL_VAE if real else tiny.TINY_VAE),
                "scheduler": tiny.build_scheduler(),
            }
            transformer = tiny.build_transformer(arch if real else tiny.TINY_TRANSFORMERS["distilled"])
            upsampler = tiny.build_upsampler(mid_channels=512, blocks=4) if real else tiny.build_upsampler()
    finally:
        torch.set_default_dtype(previous)
    for module in (shared["text_encoder"], shared["vae"], transformer, upsampler):
        module.to(dtype).eval().requires_grad_(False)
    return shared, transformer, upsampler


def decoded_output(manager, take, sampling) -> tuple:
    """The take's frames as decoded from its latents before H.264 (whose rounding would blur the comparison),
    with decode noise from a fixed seed, and the latents themselves."""
    import torch

    from ..render.story import load_latents

    latents = load_latents(take)
    pipe = manager.get(take.variant)
    frames = manager.family.decode(pipe, latents, sampling, torch.Generator("cpu").manual_seed(0), audio=False).frames
    return frames, latents.video


def arch_bench(args: argparse.Namespace) -> dict:
    """Every lever configuration on the `--arch` cases: the figures, JSON-ready (and the chosen levers with --save).

    Random-weight models run under the real sets' names: keep their preview calibrations out of the user's cache.
    """
    import os

    from ..models.levers import levers_file

    save_to = levers_file()  # measured levers are for this machine: they go to the real cache
    previous = os.environ.get("LTX_STUDIO_CACHE")
    os.environ["LTX_STUDIO_CACHE"] = tempfile.mkdtemp(prefix="ltx-bench-cache-")
    try:
        return _arch_bench(args, save_to)
    finally:
        if previous is None:
            os.environ.pop("LTX_STUDIO_CACHE", None)
        else:
            os.environ["LTX_STUDIO_CACHE"] = previous


def _arch_bench(args: argparse.Namespace, save_to: Path) -> dict:
    from ..models.variants import load_registry

    registry = load_registry(args.variants_file)
    mset = registry[ARCHS[args.arch].model_set]
    reference: dict = {}  # case -> step, frames and latents of the first configuration, the baseline
    results = []
    configs = lever_configs(args)
    throughput: list[dict] = []
    for i, (label, levers) in enumerate(configs):
        rows = throughput if i == 0 and ARCHS[args.arch].builder == "ltx2" else None  # batch and cache rows, once
        results += run_configuration(args, mset, label, levers, reference, baseline=i == 0, throughput=rows)
    data = {
        "bench": "arch",
        "arch": args.arch,
        "device": args.device,
        "repeat": args.repeat,
        "warmup": args.warmup,
        "safe_step_error": SAFE_STEP_ERROR,
        "machine": machine_info(args.device),
        "results": results,
        "throughput": throughput,  # LTX-2: seeds in one call, the text K/V cache (bench/throughput.py)
    }
    if args.save:

        def run(label: str, levers: dict) -> list[dict]:
            return run_configuration(args, mset, label, levers, reference)

        cases = ARCHS[args.arch].cases
        pro = next((case.name for case in cases if case.variant == "pro"), None)
        data["chosen"] = choose_levers(args, configs, results, run, cases[0].name, save_to, step_case=pro)
    return data


def run_configuration(
    args: argparse.Namespace,
    mset: ModelSet,
    label: str,
    levers: dict,
    reference: dict,
    baseline: bool = False,
    throughput: list | None = None,
) -> list[dict]:
    """Every case of the architecture under one lever configuration, through the studio's own render path
    (and, given `throughput`, the batch and cache rows on its first case, appended to it)."""
    import gc

    import torch

    from ..models.manager import PipelineManager
    from ..render.plan import plan_render
    from ..render.request import RenderRequest
    from ..studio import Studio

    arch = ARCHS[args.arch]
    cuda = args.device.startswith("cuda")
    policy = lever_policy(args.device, levers)
    manager = PipelineManager(mset, policy=policy)
    started = time.perf_counter()
    shared, transformer, upsampler = arch.build(args.arch, args.device, policy.dtype)
    notes = []
    variants = {case.variant for case in arch.cases}
    try:
        if step_cache_of(levers):
            from ..models.placement import apply_step_cache

            apply_step_cache(transformer, step_cache_of(levers))
        manager.adopt(shared=shared, transformers={v: transformer for v in variants}, upsampler=upsampler)
    except Exception as exc:  # a lever this machine or model cannot run (no torchao, no FP8 tensor cores, ...)
        return [_unavailable(label, levers, case.name, exc) for case in arch.cases]
    build_s = time.perf_counter() - started
    studio = Studio(
        model_set_name=mset.name,
        variants_file=args.variants_file,
        outputs=tempfile.mkdtemp(prefix="ltx-arch-bench-"),
        manager=manager,
    )
    results = []
    for case in arch.cases:
        width, height, frames = case.width, case.height, case.frames
        if args.width:
            width, height, frames = args.width, args.height or args.width, args.frames or frames
        request = RenderRequest(
            prompt="a red rocket flies over the sea", variant=case.variant, width=width, height=height, frames=frames,
            seed=1,
        )  # fmt: skip
        plan = plan_render(request, mset)
        try:
            results.append(
                _measure_case(args, studio, transformer, request, plan, case, reference, baseline)
                | {"levers": label, "lever_set": levers, "build_seconds": round(build_s, 2), "notes": notes}
            )
            if step_cache_of(levers):  # one step from a fresh cache runs every block: judge every step instead
                worst = trajectory_error(studio, transformer, request, step_cache_of(levers))
                note = "a step cache, judged by its worst step along a whole render against the plain transformer"
                results[-1] |= {"step_error": round(worst, 5), "safe": worst <= SAFE_STEP_ERROR,
                                "notes": [*notes, note]}  # fmt: skip
        except Exception as exc:  # e.g. an attention backend that cannot take this call's mask
            results.append(_unavailable(label, levers, case.name, exc))
        if throughput is not None and case is arch.cases[0]:
            from .throughput import arch_rows

            throughput += arch_rows(args, studio, request, plan)
    del studio, manager, shared, transformer, upsampler
    gc.collect()
    torch._dynamo.reset()  # the next configuration compiles (or not) from scratch
    if cuda:
        torch.cuda.empty_cache()
    return results


def trajectory_error(studio, transformer, request, kind: str) -> float:
    """The worst relative error, over every transformer call of one render with the step cache `kind` on, of
    the cached call's prediction against the plain transformer's on the very same inputs (the bar: one step's
    prediction within SAFE_STEP_ERROR of plain, at every step, not only the first, which a cache computes whole)."""
    import torch

    from ..models.placement import step_cache_config

    calls = []

    def record(module, args, kwargs, output):
        kept = {k: v.detach().clone() if torch.is_tensor(v) else v for k, v in kwargs.items()}
        calls.append((args, kept, (output[0] if isinstance(output, tuple) else output.sample).detach().clone()))

    handle = transformer.register_forward_hook(record, with_kwargs=True)
    try:
        studio.render(request, preview=False)
    finally:
        handle.remove()
    transformer.disable_cache()
    try:
        with torch.no_grad():
            errors = []
            for args, kwargs, cached in calls:
                plain = transformer(*args, **kwargs)
                errors.append(
                    step_error(cached.float(), (plain[0] if isinstance(plain, tuple) else plain.sample).float())
                )
    finally:
        transformer.enable_cache(step_cache_config(kind))
    return max(errors, default=0.0)


def _unavailable(label: str, levers: dict, case: str, exc: Exception) -> dict:
    note = f"{label} unavailable: {type(exc).__name__}: {str(exc).splitlines()[0][:160] if str(exc) else ''}"
    return {"levers": label, "lever_set": levers, "case": case, "unavailable": True, "notes": [note]}


def _measure_case(args, studio, transformer, request, plan, case: Case, reference, baseline) -> dict:
    """Seconds of one case end to end (median, min, max) and per stage, its first step, peak memory and the
    distance from the baseline."""
    import torch

    manager = studio.manager
    cuda = args.device.startswith("cuda")
    t0 = time.perf_counter()
    studio.warm_up([plan.variant.name])  # what the app does at start: compiles here, when compiling
    warm_up_s = time.perf_counter() - t0
    step = manager.family.probe_step(transformer, (plan.frames - 1) // 8 + 1, plan.height // 32, plan.width // 32)
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    runs, warm = [], []
    with PeakRSS() as rss:
        for i in range(args.warmup + args.repeat):
            manager.prompt_cache.clear()  # time the text encoder too
            t0 = time.perf_counter()
            take = last = studio.render(request, preview=not args.no_preview)
            stages = dict(take.timings)
            if case.then_upscale:  # the draft, then the approved draft's x2 latent upscale + refine
                last = studio.upscale(take.id)
                stages = {f"stage1 {k}": v for k, v in stages.items()}
                stages |= {f"stage2 {k}": v for k, v in last.timings.items()}
            if cuda:
                torch.cuda.synchronize()
            seconds = time.perf_counter() - t0
            (warm if i < args.warmup else runs).append((seconds, stages))
    median_stages = {k: statistics.median(r[1][k] for r in runs) for k in runs[0][1]}
    passes = take.settings["stages"]  # the draft's denoising passes: size and steps of each
    steps = sum(p["steps"] for p in passes)
    flops = [_step_flops(transformer, manager.family, studio.manager.get(plan.variant.name), p, plan) for p in passes]
    denoise_flops = sum(f * p["steps"] for f, p in zip(flops, passes, strict=True))
    seconds = [s for s, _ in runs]
    return {
        "case": case.name,
        "size": f"{plan.width}x{plan.height}x{plan.frames}",
        "seconds": round(statistics.median(seconds), 4),
        "seconds_min": round(min(seconds), 4),
        "seconds_max": round(max(seconds), 4),
        "warmup_seconds": round(warm[0][0], 3) if warm else None,
        "stages": {k: round(v, 4) for k, v in median_stages.items()},
        # Averages over every denoising step of the draft (a two-stage draft: both passes).
        "seconds_per_step": round(median_stages.get("denoise", median_stages.get("stage1 denoise", 0)) / steps, 5),
        "flops_per_step": denoise_flops / steps,
        "flop_bound_seconds_per_step": denoise_flops / steps / (PEAK_BF16_TFLOPS * 1e12),
        "tokens": _tokens(plan.width, plan.height, plan.frames),
        "steps": steps,
        "passes": [{"size": p["size"], "steps": p["steps"]} for p in passes],
        "audio": bool(last.audio),
        "warm_up_seconds": round(warm_up_s, 3),  # load + one step; compiling shows here
        **against_reference(
            reference, case.name, step, *decoded_output(manager, last, plan.variant.sampling), baseline
        ),
        "peak_gpu_gb": round(torch.cuda.max_memory_allocated() / 2**30, 2) if cuda else None,
        "peak_rss_gb": round(rss.peak / 2**30, 2),
        "policy": manager.policy.describe(),  # an out-of-memory retry would show here
    }


def _tokens(width: int, height: int, frames: int) -> int:
    return (width // 32) * (height // 32) * ((frames - 1) // 8 + 1)


def _step_flops(transformer, family, pipe, denoise_pass: dict, plan) -> float:
    """Matmul FLOPs of one transformer forward at a pass's size (per guidance pass).

    LTX-Video: 2 * params * tokens plus self-attention's 4 * n^2 * d per layer. LTX-2: `ltx2_arch.step_flops`
    (video and audio streams, the prompt's tokens for cross-attention)."""
    width, height = denoise_pass["size"]
    tokens = _tokens(width, height, plan.frames)
    config = transformer.config
    if family.name == "ltx2":
        from .ltx2_arch import step_flops

        audio_tokens = max(1, round(plan.frames / plan.fps * 25))  # 25 audio latents per second (16 kHz, hop 160, x4)
        return step_flops(transformer, tokens, audio_tokens, family.max_sequence_length(pipe))
    width = config.num_attention_heads * config.attention_head_dim
    params = sum(p.numel() for p in transformer.parameters())
    return 2 * params * tokens + 4 * tokens**2 * width * config.num_layers
