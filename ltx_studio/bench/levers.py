"""The speed-lever sweep: which configurations to run, how far each is from the baseline, and the
fastest safe set kept as this GPU class's default for the studio (`--save`)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

from ..core.errors import BadInput
from .measure import machine_info

LEVERS = ("bf16", "compile", "attention", "fp8", "cache", "tiling")
SPEED_LEVERS = ("compile", "attention", "fp8", "cache")  # the ones the studio may switch on by default
SAFE_STEP_ERROR = 0.02  # one step's prediction within 2% of the baseline's counts as the same model
FASTER_BELOW = 0.97  # a lever must save at least 3% end to end to be worth a default
PAYBACK_RENDERS = 20  # ...and win back its one-off warm-up (compiling) within this many drafts


def lever_configs(args: argparse.Namespace) -> list[tuple[str, dict]]:
    """Baseline plus each requested lever switched on alone (--sweep), or just the given set."""
    base = {"bf16": args.device != "cpu"}
    chosen = []
    for item in filter(None, (args.levers or "").split(",")):
        name, _, value = item.partition("=")
        if name not in LEVERS:
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


def lever_policy(device: str, levers: dict):
    """The memory/speed policy a lever configuration asks for: the studio applies it, not the bench."""
    import torch

    from ..models.policy import MemoryPolicy

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


def step_cache_of(levers: dict) -> str | None:
    """The step cache a configuration asks for: `cache` alone is FirstBlockCache, `cache=taylorseer` TaylorSeer."""
    from ..models.placement import STEP_CACHES

    value = levers.get("cache")
    if not value:
        return None
    kind = "first-block" if value is True else str(value)
    if kind not in STEP_CACHES:
        raise BadInput(f"unknown step cache {kind!r} (choose from: {', '.join(STEP_CACHES)})")
    return kind


# --- judging against the baseline -------------------------------------------------------------


def frames_psnr(a, b) -> float:
    """PSNR in dB of two uint8 videos (inf when identical)."""
    import numpy as np

    mse = float(np.mean((a.astype(np.float32) - b.astype(np.float32)) ** 2))
    return float("inf") if mse == 0 else 10 * float(np.log10(255.0**2 / mse))


def step_error(output, reference) -> float:
    """Relative L2 distance of one step's prediction from the baseline's."""
    return float((output - reference).norm() / reference.norm().clamp_min(1e-12))


def against_reference(reference: dict, case: str, step, frames, latents, baseline: bool) -> dict:
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


# --- choosing and saving the default ----------------------------------------------------------


def choose_levers(
    args: argparse.Namespace,
    configs: list[tuple[str, dict]],
    results: list[dict],
    run: Callable[[str, dict], list[dict]],
    main_case: str,
    save_to: Path,
    step_case: str | None = None,
) -> dict:
    """The fastest safe combination of the speed levers on the main case, stored for this GPU class.

    `run(label, levers)` measures one more configuration (its rows join `results`). The baseline
    runs again after the sweep: its faster run is the figure to beat, and the drift between its
    two runs is this machine's noise. A lever counts when one step's prediction stays within
    SAFE_STEP_ERROR of the baseline's, it saves at least 3% (or the noise, if larger) end to end
    alone, and its warm-up (compiling) pays back within PAYBACK_RENDERS drafts; the levers that
    count are then measured together and kept together only if that is safe and faster than the
    best single one.
    """
    from ..models.levers import Levers, gpu_class, save_levers

    base_label = configs[0][0]
    results += run(f"{base_label} again", configs[0][1])
    main = {r["levers"]: r for r in results if r["case"] == main_case and not r.get("unavailable")}
    if base_label not in main or f"{base_label} again" not in main:
        return {"error": f"the baseline ({base_label}) did not run here, so no lever can be judged: see its note"}
    first, again = main[base_label]["seconds"], main[f"{base_label} again"]["seconds"]
    base = dict(main[base_label], seconds=min(first, again))
    noise = abs(first - again) / min(first, again)
    steps_case = {r["levers"]: r for r in results if r["case"] == step_case and not r.get("unavailable")}
    good = _singles_that_count(configs, main, base, faster_below=min(FASTER_BELOW, 1 - noise), steps_case=steps_case)
    best = good[0] if good else (base["seconds"], base_label, configs[0][1])
    fastest = {}  # lever -> (label, value) of its fastest safe configuration (one attention backend)
    for _, label, levers in good:
        for name in SPEED_LEVERS:
            if levers.get(name) and name not in fastest:
                fastest[name] = (label, levers[name])
    if len(fastest) >= 2:
        together = {**configs[0][1], **{name: value for name, (_, value) in fastest.items()}}
        label = "fastest safe: " + "+".join(lbl.lstrip("+") for lbl, _ in fastest.values())
        rows = run(label, together)
        results += rows
        row = next(r for r in rows if r["case"] == main_case)
        if not row.get("unavailable") and row["safe"] and row["seconds"] < best[0]:
            best = (row["seconds"], label, together)
    seconds, label, levers = best
    chosen = Levers(compile=bool(levers.get("compile")), attention=levers.get("attention") or None,
                    fp8=bool(levers.get("fp8")), step_cache=step_cache_of(levers))  # fmt: skip
    klass = gpu_class(args.device)
    machine = machine_info(args.device)
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


def _singles_that_count(
    configs: list[tuple[str, dict]], main: dict, base: dict, faster_below: float, steps_case: dict | None = None
) -> list[tuple[float, str, dict]]:
    """(seconds, label, levers) of each one-speed-lever configuration that is safe, faster and pays back, fastest
    first. A step cache is judged on the multi-step case (`steps_case`: Pro), where it can pay, against its baseline."""
    good = []
    for label, levers in configs[1:]:
        row = main.get(label)
        alone = set(levers) - set(configs[0][1])  # the one lever this configuration adds
        if alone == {"cache"}:
            steps_case = steps_case or {}
            row, case_base = steps_case.get(label), steps_case.get(configs[0][0])
            if not (row and case_base and row["safe"]):
                continue
            if row["seconds"] <= faster_below * case_base["seconds"]:
                good.append((base["seconds"] * row["seconds"] / case_base["seconds"], label, levers))
            continue
        if not (row and len(alone) == 1 and alone <= set(SPEED_LEVERS) and row["safe"]):
            continue
        saving = base["seconds"] - row["seconds"]
        warmup = max(row["warm_up_seconds"] - base["warm_up_seconds"], 0.0)  # compiling, once per process
        if row["seconds"] <= faster_below * base["seconds"] and warmup <= PAYBACK_RENDERS * saving:
            good.append((row["seconds"], label, levers))
    good.sort(key=lambda g: g[0])
    return good
