"""How the bench's figures print: a plain table per bench, or Markdown headed with where the figures
came from (commit, date, machine, versions, command), as BENCHMARKS.md holds them."""

from __future__ import annotations

import shlex

from .levers import SAFE_STEP_ERROR


def format_studio(data: dict) -> str:
    """The studio bench's table: per comparison, each side's min/median/max, the ratio of medians and what it says."""
    lines = [
        f"studio bench · {data['model_set']}/{data['variant']} · {data['size']} · {data['steps']} steps"
        f"{' · sound' if data['audio'] else ''} · {data['policy']} · {data['repeat']} runs per side after "
        f"{data['warmup']} warm-up · {data['machine'].get('torch_threads')} torch thread(s)",
        f"{'case':15} {'A':40} {'A min/median/max s':>24}   {'B':38} {'B min/median/max s':>24} "
        f"{'A/B':>6} {'+-':>6}  verdict",
    ]
    for r in data["rows"]:
        half = "" if r["resolution"] is None else f"{r['resolution']:.1%}"
        lines.append(
            f"{r['case']:15} {r['a']['label']:40} {_spread(r['a']):>24}   {r['b']['label']:38} {_spread(r['b']):>24} "
            f"{r['ratio']:6.3f} {half:>6}  {r['verdict']}"
        )
        if "bytes_loaded_per_switch" in r:
            lines.append(
                f"{'':15} bytes loaded per switch {r['bytes_loaded_per_switch']:,} "
                f"(shared components not reloaded: {r['shared_bytes_not_reloaded']:,})"
            )
    if data.get("same_work"):
        lines.append(f"same work: {_same_work(data['same_work'])} (checked before timing)")
    return "\n".join(lines)


def _same_work(check: dict) -> str:
    latents = "equal" if check["latents_equal"] else f"{check.get('latents_apart', 0):.1e} apart (GPU kernels)"
    return f"the bare call's arguments equal the studio's, its latents are {latents}"


def _spread(side: dict) -> str:
    return f"{side['min']:.4f}/{side['median']:.4f}/{side['max']:.4f}"


def format_arch(data: dict) -> str:
    """The arch bench's table: per configuration and case, the times, the judgement and the stages (and the choice)."""
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
            f"{r['levers']:24} {r['case']:30} {r['size']:14} {r['seconds']:8.3f} s "
            f"({r['seconds_min']:.3f}-{r['seconds_max']:.3f}) · {r['seconds_per_step'] * 1000:.1f} ms/step "
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


# --- Markdown -----------------------------------------------------------------------------------


def provenance(data: dict, argv: list[str]) -> list[str]:
    """Where a table came from: the command, the code's commit, the date and the machine."""
    m = data["machine"]
    where = f"{m['cpu_count']}-core {m['cpu']}" + (f", {m['gpu']}" if m.get("gpu") else ", no GPU")
    return [
        f"`{' '.join(['python -m ltx_studio bench', *([shlex.join(argv)] if argv else [])])}`",
        "",
        f"Commit `{m['commit']}` · {m['date']} · {where} · Python {m['python']}, torch {m['torch']} "
        f"({m.get('torch_threads')} thread(s)), diffusers {m['diffusers']}, transformers {m['transformers']}",
    ]


def markdown(data: dict, argv: list[str]) -> str:
    """Either bench's figures as Markdown, headed with their provenance."""
    body = _markdown_arch(data) if data["bench"] == "arch" else _markdown_studio(data)
    return "\n".join([*provenance(data, argv), "", *body])


def _markdown_studio(data: dict) -> list[str]:
    lines = [
        f"{data['model_set']}/{data['variant']} · {data['size']} · {data['steps']} steps"
        f"{' · sound' if data['audio'] else ''} · {data['policy']} · {data['repeat']} runs per side after "
        f"{data['warmup']} warm-up (seconds, min / median / max)",
        "",
        "| case | A | A s | B | B s | A/B (medians) | +- (~95%) | goal | verdict |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in data["rows"]:
        half = "–" if r["resolution"] is None else f"{r['resolution']:.1%}"
        goal = "" if r["goal"] is None else f"<= {r['goal']:g}"
        lines.append(
            f"| {r['case']} | {r['a']['label']} | {_spread(r['a'])} | {r['b']['label']} | {_spread(r['b'])} "
            f"| {r['ratio']:.3f} | {half} | {goal} | {r['verdict']} |"
        )
    switch = next((r for r in data["rows"] if "bytes_loaded_per_switch" in r), None)
    if switch:
        lines += [
            "",
            f"A cold switch loads {switch['bytes_loaded_per_switch']:,} bytes (the transformer); the shared "
            f"components ({switch['shared_bytes_not_reloaded']:,} bytes) are not reloaded.",
        ]
    if data.get("same_work"):
        lines += ["", f"Same work, checked before timing: {_same_work(data['same_work'])}."]
    return lines


def _markdown_arch(data: dict) -> list[str]:
    lines = [
        f"{data['arch']} on {data['device']} · median of {data['repeat']} after {data['warmup']} warm-up · "
        f"safe = one step within {data['safe_step_error']:.0%} of the baseline's",
        "",
        "| levers | case | size | s (min-max) | ms/step | peak GPU GB | peak RSS GB | vs baseline | stages (s) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in data["results"]:
        if r.get("unavailable"):
            note = "; ".join(r["notes"]).replace("`", "'").replace("|", "/")
            lines.append(f"| {r['levers']} | {r['case']} | | unavailable: `{note}` | | | | | |")
            continue
        stages = ", ".join(f"{k} {v:.3f}" for k, v in r["stages"].items() if not k.endswith("total"))
        gpu = "" if r["peak_gpu_gb"] is None else r["peak_gpu_gb"]
        lines.append(
            f"| {r['levers']} | {r['case']} | {r['size']} | {r['seconds']:.3f} ({r['seconds_min']:.3f}-"
            f"{r['seconds_max']:.3f}) | {r['seconds_per_step'] * 1000:.1f} | {gpu} | {r['peak_rss_gb']} "
            f"| {_judgement(r)} | {stages} |"
        )
    chosen = data.get("chosen") or {}
    if "error" in chosen:
        lines += ["", f"Not saved: {chosen['error']}"]
    elif chosen:
        lines += [
            "",
            f"Chosen for {chosen['gpu_class']}: {chosen['chosen']} ({chosen['chosen_seconds']:.3f} s vs baseline "
            f"{chosen['baseline_seconds']:.3f} s, the baseline's two runs {chosen['baseline_noise']:.1%} apart).",
        ]
    return lines
