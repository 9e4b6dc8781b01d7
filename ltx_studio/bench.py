"""Benchmarks that print their figures: python -m ltx_studio bench [--arch ARCH] [--json].

Without --arch: the studio against itself and against bare diffusers on one loaded model set
(default `demo`), every comparison measured side by side in one run, interleaved, median of
--repeat runs after --warmup, reported as a ratio:

- overhead   the studio's draft path vs a bare `LTXConditionPipeline` call with identical arguments
- switch     a cached variant switch vs a cold load of the same transformer (and bytes loaded)
- prompt     a render with a cached prompt embedding vs one that runs the text encoder
- preview    seconds per denoising step with the live preview on vs off

With --arch tiny|ltxv-2b|ltxv-13b: real-size architectures with random weights (same FLOPs as real
weights) run the studio's full draft path (text encoding, denoise, decode, mp4 write) per stage,
with peak memory, for each speed lever on and off (--levers).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

PEAK_BF16_TFLOPS = 790.0  # measured bf16 matmul rate of an H100 (LTX_FACTS)


# --- measuring --------------------------------------------------------------------------------


class PeakRSS:
    """Samples this process's resident memory every few milliseconds; `.peak` in bytes."""

    def __init__(self, every: float = 0.005):
        self.every, self.peak, self._stop = every, 0, threading.Event()

    @staticmethod
    def now() -> int:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * 4096

    def __enter__(self):
        self.peak = self.now()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self):
        while not self._stop.wait(self.every):
            self.peak = max(self.peak, self.now())

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.now())


@dataclass
class Row:
    """One comparison: median seconds of A and B, their ratio, a goal and peak memory."""

    case: str
    a_label: str
    a: float
    b_label: str
    b: float
    goal: str = ""
    peak_rss_mb: float = 0.0
    extra: dict = field(default_factory=dict)

    @property
    def ratio(self) -> float:
        return self.a / self.b if self.b else float("inf")

    def to_json(self) -> dict:
        return {
            "case": self.case,
            "a": {"label": self.a_label, "seconds": self.a},
            "b": {"label": self.b_label, "seconds": self.b},
            "ratio": round(self.ratio, 4),
            "goal": self.goal,
            "peak_rss_mb": round(self.peak_rss_mb, 1),
            **self.extra,
        }


def interleaved(a, b, repeat: int, warmup: int) -> tuple[float, float, float]:
    """Median seconds of `a()` and `b()` run alternately (warm-up first), and the peak RSS in MB.

    Each callable may return its own measured seconds (to leave out work the other side skips);
    otherwise its wall time counts.
    """
    times = {a: [], b: []}
    with PeakRSS() as rss:
        for i in range(warmup + repeat):
            for fn in (a, b) if i % 2 == 0 else (b, a):
                started = time.perf_counter()
                measured = fn()
                elapsed = measured if isinstance(measured, float) else time.perf_counter() - started
                if i >= warmup:
                    times[fn].append(elapsed)
    return statistics.median(times[a]), statistics.median(times[b]), rss.peak / 2**20


# --- the studio against bare diffusers ---------------------------------------------------------


def studio_bench(args) -> dict:
    from .manager import PipelineManager
    from .render import RenderRequest, plan_render, render_take
    from .takes import TakeStore
    from .variants import load_registry, model_set

    mset = model_set(load_registry(args.variants_file), args.model_set)
    manager = PipelineManager(mset)
    outputs = Path(tempfile.mkdtemp(prefix="ltx-bench-"))
    store = TakeStore(outputs)
    request = RenderRequest(
        prompt="a red rocket flies over the sea at dusk",
        width=args.width,
        height=args.height,
        frames=args.frames,
        seed=1,
    )
    plan = plan_render(request, mset)
    pipe = manager.get(plan.variant.name)
    sampling = plan.variant.sampling
    rows: list[Row] = []

    def studio_compute() -> float:
        manager.prompt_cache.clear()  # the bare call encodes the prompt too
        take = render_take(plan, manager=manager, store=store)
        return take.timings["total"] - take.timings["write"]

    def bare():
        """The same work as one plain LTXConditionPipeline call: frames as floats in 0..1."""
        import torch

        return pipe(
            prompt=plan.prompt,
            width=plan.width,
            height=plan.height,
            num_frames=plan.frames,
            frame_rate=plan.fps,
            timesteps=list(sampling.timesteps) if sampling.timesteps else None,
            num_inference_steps=sampling.num_steps,
            guidance_scale=plan.guidance,
            image_cond_noise_scale=sampling.image_cond_noise_scale,
            decode_timestep=sampling.decode_timestep,
            decode_noise_scale=sampling.decode_noise_scale,
            generator=torch.Generator("cpu").manual_seed(plan.seed),
            output_type="np",
            max_sequence_length=256,
        ).frames[0]

    a, b, rss = interleaved(studio_compute, bare, args.repeat, args.warmup)
    rows.append(Row("overhead", "studio draft (no file writes)", a, "bare diffusers call", b, "<= 1.03", rss))

    def studio_e2e() -> None:
        manager.prompt_cache.clear()
        render_take(plan, manager=manager, store=store)

    def bare_e2e() -> None:
        import numpy as np

        from . import media

        frames = (np.clip(bare(), 0, 1) * 255).round().astype(np.uint8)
        media.write_mp4(outputs / "bare.mp4", frames, plan.fps)

    a, b, rss = interleaved(studio_e2e, bare_e2e, args.repeat, args.warmup)
    rows.append(Row("overhead e2e", "studio draft (mp4+latents+poster+index)", a, "bare call + mp4 write", b, "", rss))

    # Variant switch: a cold load of a transformer (evicted first) vs a switch back to a cached one.
    other = next(name for name in mset.variants if name != plan.variant.name)
    loaded = {}

    def cold() -> float:
        manager.evict(other)  # not timed: the load is
        before, started = manager.bytes_loaded, time.perf_counter()
        manager.get(other)
        elapsed = time.perf_counter() - started
        loaded["bytes"] = manager.bytes_loaded - before
        return elapsed

    def cached() -> None:
        manager.get(plan.variant.name)
        manager.get(other)

    a, b, rss = interleaved(cached, cold, args.repeat, args.warmup)
    shared_bytes = sum(_parameter_bytes(c) for c in manager.shared().values())
    rows.append(
        Row(
            "switch",
            "cached switch (2 gets)",
            a,
            f"cold load of {other}",
            b,
            "<= 0.2 s on a GPU",
            rss,
            {"bytes_loaded_per_switch": loaded["bytes"], "shared_bytes_not_reloaded": shared_bytes},
        )
    )

    # Prompt-embedding cache: the text stage of a render with the prompt cached vs encoded.
    totals = {"cached": [], "encoded": []}

    def with_cache() -> float:
        take = render_take(plan, manager=manager, store=store)
        totals["cached"].append(take.timings["total"])
        return take.timings["text"]

    def without_cache() -> float:
        manager.prompt_cache.clear()
        take = render_take(plan, manager=manager, store=store)
        totals["encoded"].append(take.timings["total"])
        return take.timings["text"]

    a, b, rss = interleaved(with_cache, without_cache, args.repeat, args.warmup)
    totals = {k: round(statistics.median(v), 4) for k, v in totals.items()}
    rows.append(
        Row(
            "prompt cache",
            "text stage, prompt cached",
            a,
            "text stage, encoder runs",
            b,
            "< 1",
            rss,
            {"render_total_seconds": totals},
        )
    )

    # Live preview cost per step.
    steps = plan.num_steps

    def preview_on() -> float:
        return render_take(plan, manager=manager, store=store, preview=True).timings["denoise"] / steps

    def preview_off() -> float:
        return render_take(plan, manager=manager, store=store, preview=False).timings["denoise"] / steps

    a, b, rss = interleaved(preview_on, preview_off, args.repeat, args.warmup)
    rows.append(Row("preview", "step with preview", a, "step without", b, "<= 1.05", rss))

    return {
        "bench": "studio",
        "model_set": mset.name,
        "variant": plan.variant.name,
        "size": f"{plan.width}x{plan.height}x{plan.frames}",
        "steps": steps,
        "policy": manager.policy.describe(),
        "repeat": args.repeat,
        "warmup": args.warmup,
        "machine": _machine(),
        "rows": [r.to_json() for r in rows],
    }


def _parameter_bytes(module) -> int:
    from .manager import parameter_bytes

    return parameter_bytes(module)


# --- real-size architectures with random weights ----------------------------------------------

ARCH_CASES = {
    # name: (arch, variant whose sampling it uses, width, height, frames, two-stage)
    "tiny": [("draft", "distilled", 384, 256, 25, False), ("final", "distilled", 192, 128, 25, True)],
    "ltxv-2b": [("fast 768x512x121", "fast", 768, 512, 121, False)],
    "ltxv-13b": [
        ("distilled 1280x704x121", "distilled", 1280, 704, 121, False),
        ("two-stage final 1216x704x121", "distilled", 608, 352, 121, True),
    ],
}
LEVERS = ("bf16", "compile", "attention", "fp8", "cache", "tiling")
SPEED_LEVERS = ("compile", "attention", "fp8")  # the ones the studio may switch on by default
STEP_CACHE_THRESHOLD = 0.05
SAFE_STEP_ERROR = 0.02  # one step's prediction within 2% of the baseline's counts as the same model
FASTER_BELOW = 0.97  # a lever must save at least 3% end to end to be worth a default
PAYBACK_RENDERS = 20  # ...and win back its one-off warm-up (compiling) within this many drafts


def build_arch(arch: str, device: str, dtype):
    """Shared components and one transformer of an architecture, random weights, built on the device."""
    import torch

    from . import tiny

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


def lever_policy(device: str, levers: dict):
    """The memory/speed policy a lever configuration asks for: the studio applies it, not the bench."""
    import torch

    from .policy import MemoryPolicy

    return MemoryPolicy(
        device,
        torch.bfloat16 if levers.get("bf16") else torch.float32,
        "none",
        bool(levers.get("tiling")),
        1 << 62,
        compile=bool(levers.get("compile")),
        attention_backend=levers.get("attention") or None,
        fp8=bool(levers.get("fp8")),
    )


def apply_step_cache(transformer) -> None:
    """FirstBlockCache: skip the other blocks while the first block's residual barely changes."""
    from diffusers import FirstBlockCacheConfig

    transformer.enable_cache(FirstBlockCacheConfig(threshold=STEP_CACHE_THRESHOLD))


def frames_psnr(a, b) -> float:
    """PSNR in dB of two uint8 videos (inf when identical)."""
    import numpy as np

    mse = float(np.mean((a.astype(np.float32) - b.astype(np.float32)) ** 2))
    return float("inf") if mse == 0 else 10 * float(np.log10(255.0**2 / mse))


def step_error(output, reference) -> float:
    """Relative L2 distance of one step's prediction from the baseline's."""
    return float((output - reference).norm() / reference.norm().clamp_min(1e-12))


def decoded_output(manager, take, sampling) -> tuple:
    """The take's frames as decoded from its latents before H.264 (whose rounding would blur the comparison),
    with decode noise from a fixed seed, and the latents themselves."""
    import torch
    from safetensors.torch import load_file

    latents = load_file(str(take.path("latents")))["latents"]
    pipe = manager.get(take.variant)
    frames = manager.family.decode(pipe, latents, sampling, torch.Generator("cpu").manual_seed(0))
    return frames, latents


def arch_bench(args) -> dict:
    """Random-weight models under the real sets' names: keep their preview calibrations out of the user's cache."""
    import os

    from .policy import levers_file

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


def _arch_bench(args, save_to: Path) -> dict:
    from .variants import load_registry

    registry = load_registry(args.variants_file)
    mset = registry["demo" if args.arch == "tiny" else "ltxv"]
    reference: dict = {}  # case -> step, frames and latents of the first configuration, the baseline
    results = []
    configs = _lever_configs(args)
    for i, (label, levers) in enumerate(configs):
        results += _run_configuration(args, mset, label, levers, reference, baseline=i == 0)
    data = {
        "bench": "arch",
        "arch": args.arch,
        "device": args.device,
        "repeat": args.repeat,
        "warmup": args.warmup,
        "safe_step_error": SAFE_STEP_ERROR,
        "machine": _machine(args.device),
        "results": results,
    }
    if args.save:
        data["chosen"] = _choose_levers(args, mset, configs, results, reference, save_to)
    return data


def _run_configuration(args, mset, label: str, levers: dict, reference: dict, baseline: bool = False) -> list[dict]:
    """Every case of the architecture under one lever configuration, through the studio's own render path."""
    import gc

    import torch

    from .manager import PipelineManager
    from .render import RenderRequest, plan_render
    from .studio import Studio

    cuda = args.device.startswith("cuda")
    policy = lever_policy(args.device, levers)
    manager = PipelineManager(mset, policy=policy)
    started = time.perf_counter()
    shared, transformer, upsampler = build_arch(args.arch, args.device, policy.dtype)
    if levers.get("cache"):
        apply_step_cache(transformer)
    notes = []
    cases = ARCH_CASES[args.arch]
    variants = {variant for _, variant, *_ in cases}
    try:
        manager.adopt(shared=shared, transformers={v: transformer for v in variants}, upsampler=upsampler)
    except Exception as exc:  # a lever this machine cannot run (no torchao, no FP8 tensor cores, ...)
        return [_unavailable(label, levers, case, exc) for case, *_ in cases]
    build_s = time.perf_counter() - started
    studio = Studio(
        model_set_name=mset.name,
        variants_file=args.variants_file,
        outputs=tempfile.mkdtemp(prefix="ltx-arch-bench-"),
        manager=manager,
    )
    results = []
    for case, variant, width, height, frames, two_stage in cases:
        if args.width:
            width, height, frames = args.width, args.height or args.width, args.frames or frames
        request = RenderRequest(
            prompt="a red rocket flies over the sea", variant=variant, width=width, height=height, frames=frames, seed=1
        )
        plan = plan_render(request, mset)
        try:
            results.append(
                _measure_case(args, studio, manager, transformer, request, plan, case, two_stage, reference, baseline)
                | {"levers": label, "lever_set": levers, "build_seconds": round(build_s, 2), "notes": notes}
            )
            if levers.get("cache"):  # one step from a fresh cache runs every block: judge by the whole draft
                note = "a step cache skips work across steps, so one step cannot judge it: never a default"
                results[-1] |= {"safe": False, "notes": [*notes, note]}
        except Exception as exc:  # e.g. an attention backend that cannot take this call's mask
            results.append(_unavailable(label, levers, case, exc))
    del studio, manager, shared, transformer, upsampler
    gc.collect()
    torch._dynamo.reset()  # the next configuration compiles (or not) from scratch
    if cuda:
        torch.cuda.empty_cache()
    return results


def _unavailable(label: str, levers: dict, case: str, exc: Exception) -> dict:
    note = f"{label} unavailable: {type(exc).__name__}: {str(exc).splitlines()[0][:160] if str(exc) else ''}"
    return {"levers": label, "lever_set": levers, "case": case, "unavailable": True, "notes": [note]}


def _measure_case(args, studio, manager, transformer, request, plan, case, two_stage, reference, baseline) -> dict:
    """Median seconds of one case end to end and per stage, its first step, peak memory and distance from the baseline."""
    import torch

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
            if two_stage:  # the draft, then the approved draft's x2 latent upscale + refine
                last = studio.upscale(take.id)
                stages = {f"stage1 {k}": v for k, v in stages.items()}
                stages |= {f"stage2 {k}": v for k, v in last.timings.items()}
            if cuda:
                torch.cuda.synchronize()
            seconds = time.perf_counter() - t0
            (warm if i < args.warmup else runs).append((seconds, stages))
    median_stages = {k: statistics.median(r[1][k] for r in runs) for k in runs[0][1]}
    tokens = _tokens(plan.width, plan.height, plan.frames)
    flops = _step_flops(transformer, tokens)
    return {
        "case": case,
        "size": f"{plan.width}x{plan.height}x{plan.frames}",
        "seconds": round(statistics.median(s for s, _ in runs), 4),
        "warmup_seconds": round(warm[0][0], 3) if warm else None,
        "stages": {k: round(v, 4) for k, v in median_stages.items()},
        "seconds_per_step": round(
            median_stages.get("denoise", median_stages.get("stage1 denoise", 0)) / plan.num_steps, 5
        ),
        "flops_per_step": flops,
        "flop_bound_seconds_per_step": flops / (PEAK_BF16_TFLOPS * 1e12),
        "tokens": tokens,
        "warm_up_seconds": round(warm_up_s, 3),  # load + one step; compiling shows here
        **_against_reference(reference, case, step, *decoded_output(manager, last, plan.variant.sampling), baseline),
        "peak_gpu_gb": round(torch.cuda.max_memory_allocated() / 2**30, 2) if cuda else None,
        "peak_rss_gb": round(rss.peak / 2**30, 2),
        "policy": manager.policy.describe(),  # an out-of-memory retry would show here
    }


def _against_reference(reference: dict, case: str, step, frames, latents, baseline: bool) -> dict:
    """How far this configuration is from the baseline (the first one) on the same inputs, prompt and seed.

    `step_error` (one transformer step on fixed inputs) decides safety; the whole draft's video PSNR
    and latent distance are reported beside it. A whole draft compounds every difference over its
    steps, and random weights amplify them far more than trained ones, so the step is the fair test.
    """
    if baseline:
        reference[case] = {"step": step, "frames": frames, "latents": latents}
    base = reference.get(case)
    if base is None:  # the baseline did not run this case: nothing to judge against
        return {"step_error": None, "psnr_db": None, "latent_rel_error": None, "safe": False}
    error = step_error(step, base["step"])
    psnr = frames_psnr(frames, base["frames"]) if frames.shape == base["frames"].shape else 0.0
    return {
        "step_error": round(error, 5),
        "psnr_db": None if psnr == float("inf") else round(psnr, 2),  # None: identical (JSON has no Infinity)
        "latent_rel_error": round(step_error(latents.float(), base["latents"].float()), 5),
        "safe": error <= SAFE_STEP_ERROR,
    }


def _choose_levers(args, mset, configs, results, reference, save_to: Path) -> dict:
    """The fastest safe combination of the speed levers on the main case, stored for this GPU class.

    The baseline runs again after the sweep: its faster run is the figure to beat, and the drift
    between its two runs is this machine's noise. A lever counts when one step's prediction stays
    within SAFE_STEP_ERROR of the baseline's, it saves at least 3% (or the noise, if larger) end to
    end alone, and its warm-up (compiling) pays back within PAYBACK_RENDERS drafts; the levers that
    count are then measured together and kept together only if that is safe and faster than the
    best single one.
    """
    from .policy import Levers, gpu_class, save_levers

    main_case = ARCH_CASES[args.arch][0][0]
    base_label = configs[0][0]
    results += _run_configuration(args, mset, f"{base_label} again", configs[0][1], reference)
    main = {r["levers"]: r for r in results if r["case"] == main_case and not r.get("unavailable")}
    if base_label not in main or f"{base_label} again" not in main:
        return {"error": f"the baseline ({base_label}) did not run here, so no lever can be judged: see its note"}
    first, again = main[base_label]["seconds"], main[f"{base_label} again"]["seconds"]
    base = dict(main[base_label], seconds=min(first, again))
    noise = abs(first - again) / min(first, again)
    faster_below = min(FASTER_BELOW, 1 - noise)
    good = []
    for label, levers in configs[1:]:
        row = main.get(label)
        alone = set(levers) - set(configs[0][1])  # the one lever this configuration adds
        if not (row and len(alone) == 1 and alone <= set(SPEED_LEVERS) and row["safe"]):
            continue
        saving = base["seconds"] - row["seconds"]
        warmup = max(row["warm_up_seconds"] - base["warm_up_seconds"], 0.0)  # compiling, once per process
        if row["seconds"] <= faster_below * base["seconds"] and warmup <= PAYBACK_RENDERS * saving:
            good.append((row["seconds"], label, levers))
    good.sort(key=lambda g: g[0])
    best = good[0] if good else (base["seconds"], base_label, configs[0][1])
    fastest = {}  # lever -> (label, value) of its fastest safe configuration (one attention backend)
    for _, label, levers in good:
        for name in SPEED_LEVERS:
            if levers.get(name) and name not in fastest:
                fastest[name] = (label, levers[name])
    if len(fastest) >= 2:
        together = {**configs[0][1], **{name: value for name, (_, value) in fastest.items()}}
        label = "fastest safe: " + "+".join(lbl.lstrip("+") for lbl, _ in fastest.values())
        rows = _run_configuration(args, mset, label, together, reference)
        results += rows
        row = next(r for r in rows if r["case"] == main_case)
        if not row.get("unavailable") and row["safe"] and row["seconds"] < best[0]:
            best = (row["seconds"], label, together)
    seconds, label, levers = best
    chosen = Levers(compile=bool(levers.get("compile")), attention=levers.get("attention") or None,
                    fp8=bool(levers.get("fp8")))  # fmt: skip
    klass = gpu_class(args.device)
    machine = _machine(args.device)
    facts = {
        "gpu": machine.get("gpu", machine.get("cpu", klass)),
        "date": machine["date"],
        "arch": args.arch,
        "case": main_case,
        "baseline_seconds": base["seconds"],
        "baseline_noise": round(noise, 4),
        "chosen_seconds": seconds,
        "chosen": label,
    }
    path = save_levers(klass, chosen, path=save_to, **facts)
    return {"gpu_class": klass, "levers": chosen.to_json() | {"source": "measured"}, "file": str(path), **facts}


def _lever_configs(args) -> list[tuple[str, dict]]:
    """Baseline plus each requested lever switched on alone (--sweep), or just the given set."""
    base = {"bf16": args.device != "cpu"}
    chosen = []
    for item in filter(None, (args.levers or "").split(",")):
        name, _, value = item.partition("=")
        if name not in LEVERS:
            from .errors import BadInput

            raise BadInput(f"unknown lever {name!r} (choose from: {', '.join(LEVERS)})")
        chosen.append((name, value or True))
    if not args.sweep:
        levers = {**base, **dict(chosen)}
        return [("+".join(k if v is True else f"{k}={v}" for k, v in levers.items() if v) or "fp32", levers)]
    configs = [("baseline " + ("bf16" if base["bf16"] else "fp32"), base)]
    for name, value in chosen:  # attention may come several times: one configuration per backend
        if name == "bf16":
            config = ("fp32" if base["bf16"] else "bf16", {**base, "bf16": not base["bf16"]})
        else:
            config = (f"+{name}" + (f"={value}" if value is not True else ""), {**base, name: value})
        if config[0] not in {label for label, _ in configs}:
            configs.append(config)
    return configs


def _tokens(width: int, height: int, frames: int) -> int:
    return (width // 32) * (height // 32) * ((frames - 1) // 8 + 1)


def _step_flops(transformer, tokens: int) -> float:
    """Matmul FLOPs of one transformer forward: 2 * params * tokens plus self-attention's 4 * n^2 * d per layer."""
    config = transformer.config
    width = config.num_attention_heads * config.attention_head_dim
    params = sum(p.numel() for p in transformer.parameters())
    return 2 * params * tokens + 4 * tokens**2 * width * config.num_layers


def _machine(device: str | None = None) -> dict:
    import os
    import platform

    import torch

    info = {"cpu": platform.processor() or platform.machine(), "cpu_count": os.cpu_count()}
    info |= {"python": platform.python_version(), "torch": torch.__version__}
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(torch.device(device) if str(device).startswith("cuda") else 0)
    info["date"] = time.strftime("%Y-%m-%d")
    return info


# --- output -------------------------------------------------------------------------------------


def format_studio(data: dict) -> str:
    lines = [
        f"studio bench · {data['model_set']}/{data['variant']} · {data['size']} · {data['steps']} steps · "
        f"{data['policy']} · median of {data['repeat']} after {data['warmup']} warm-up",
        f"{'case':14} {'A':40} {'A s':>9} {'B':32} {'B s':>9} {'A/B':>7} {'goal':>10} {'peak MB':>8}",
    ]
    for r in data["rows"]:
        lines.append(
            f"{r['case']:14} {r['a']['label']:40} {r['a']['seconds']:9.4f} {r['b']['label']:32} "
            f"{r['b']['seconds']:9.4f} {r['ratio']:7.3f} {r['goal']:>10} {r['peak_rss_mb']:8.0f}"
        )
        if "bytes_loaded_per_switch" in r:
            lines.append(
                f"{'':14} bytes loaded per switch {r['bytes_loaded_per_switch']:,} "
                f"(shared components not reloaded: {r['shared_bytes_not_reloaded']:,})"
            )
    return "\n".join(lines)


def format_arch(data: dict) -> str:
    lines = [
        f"arch bench · {data['arch']} on {data['device']} · median of {data['repeat']} after {data['warmup']} warm-up"
        f" · safe = one step within {data['safe_step_error']:.0%} of the baseline's"
    ]
    for r in data["results"]:
        if r.get("unavailable"):
            lines.append(f"{r['levers']:24} {r['case']:30} unavailable here")
            lines += [f"{'':24} note: {note}" for note in r["notes"]]
            continue
        stages = " ".join(f"{k} {v:.3f}" for k, v in r["stages"].items())
        gpu = f" · peak GPU {r['peak_gpu_gb']} GB" if r["peak_gpu_gb"] is not None else ""
        warm = f" · first run {r['warmup_seconds']:.2f} s" if r["warmup_seconds"] is not None else ""
        lines.append(
            f"{r['levers']:24} {r['case']:30} {r['size']:14} {r['seconds']:8.3f} s · {r['seconds_per_step'] * 1000:.1f} ms/step "
            f"(FLOP bound {r['flop_bound_seconds_per_step'] * 1000:.3f}){gpu} · peak RSS {r['peak_rss_gb']} GB{warm}"
        )
        lines.append(f"{'':24} {_judgement(r)} · warm-up {r['warm_up_seconds']:.2f} s")
        lines.append(f"{'':24} {stages}")
        lines += [f"{'':24} note: {note}" for note in r["notes"]]
    chosen = data.get("chosen") or {}
    if "error" in chosen:
        lines.append(f"not saved: {chosen['error']}")
    elif chosen:
        lines.append(
            f"chosen for {chosen['gpu_class']} ({chosen['gpu']}): {chosen['chosen']} · {chosen['chosen_seconds']:.3f} s "
            f"vs baseline {chosen['baseline_seconds']:.3f} s (runs {chosen['baseline_noise']:.1%} apart) on {chosen['case']}"
            f" · saved to {chosen['file']}"
        )
    return "\n".join(lines)


def _judgement(row: dict) -> str:
    if row["step_error"] is None:
        return "no baseline for this case to compare with"
    psnr = "identical" if row["psnr_db"] is None else f"PSNR {row['psnr_db']:g} dB"
    verdict = "safe" if row["safe"] else "NOT safe" if row["step_error"] > SAFE_STEP_ERROR else "not judged"
    return (
        f"vs baseline: one step {row['step_error']:.2%} -> {verdict}; "
        f"whole draft: video {psnr}, latents {row['latent_rel_error']:.2%} apart"
    )


def build_parser() -> argparse.ArgumentParser:
    from .commandline import OneLineParser

    parser = OneLineParser(prog="python -m ltx_studio bench", description=__doc__.splitlines()[0])
    parser.add_argument("--model-set", default="demo", help="for the studio bench (default demo)")
    parser.add_argument("--variants-file", metavar="FILE")
    parser.add_argument("--arch", choices=sorted(ARCH_CASES), help="real-size (or tiny) random-weight benchmark")
    parser.add_argument("--device", default="cuda", help="for --arch (cuda or cpu)")
    parser.add_argument("--levers", help=f"comma list of {', '.join(LEVERS)} (attention=NAME)")
    parser.add_argument("--sweep", action="store_true", help="measure each lever alone against the baseline")
    parser.add_argument(
        "--save",
        action="store_true",
        help="with --sweep: store the fastest safe levers as this GPU class's default for the studio",
    )
    parser.add_argument("--no-preview", action="store_true", help="for --arch: time without live previews")
    parser.add_argument("--width", type=int, default=None)
    parser.add_argument("--height", type=int, default=None)
    parser.add_argument("--frames", type=int, default=None)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--json", action="store_true")
    return parser


def main(argv: list[str]) -> int:
    from .commandline import quiet_libraries
    from .errors import StudioError

    args = build_parser().parse_args(argv)
    if args.repeat < 1 or args.warmup < 0:
        sys.stderr.write("error: --repeat must be at least 1 and --warmup at least 0\n")
        return 2
    if args.save and not (args.arch and args.sweep):
        sys.stderr.write("error: --save needs --arch and --sweep (it keeps what the sweep measured)\n")
        return 2
    if args.save and (args.warmup < 1 or args.repeat < 3):
        sys.stderr.write("error: --save needs --warmup 1 or more and --repeat 3 or more (a cold run is no figure)\n")
        return 2
    if args.save and args.arch == "tiny" and args.device != "cpu":
        sys.stderr.write(
            "error: --save with --arch tiny only on --device cpu: a GPU's levers come from its real sizes\n"
        )
        return 2
    quiet_libraries()
    try:
        if args.arch:
            if args.device.startswith("cuda"):
                import torch

                if not torch.cuda.is_available():
                    sys.stderr.write("error: no CUDA device here; use --device cpu (with --arch tiny)\n")
                    return 2
            data = arch_bench(args)
            text = format_arch(data)
        else:
            args.width, args.height, args.frames = args.width or 384, args.height or 256, args.frames or 25
            data = studio_bench(args)
            text = format_studio(data)
    except StudioError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2
    print(json.dumps(data, indent=2) if args.json else text)
    if "error" in data.get("chosen", {}):
        sys.stderr.write(f"error: not saved: {data['chosen']['error']}\n")
        return 2
    return 0
