"""The benchmark compares the studio with bare diffusers doing the same work, prints every run's spread,
notices an injected slowdown, prints its tables with their provenance, and runs LTX-2.3's 22B layout
(tiny here, real size counted on the meta device)."""

from __future__ import annotations

import json
import os
import statistics

import numpy as np
import pytest
import torch

from ltx_studio.cli import main
from ltx_studio.core import faults

SMALL = ("--width", "96", "--height", "64", "--frames", "9")


def run(capsys, *argv):
    code = main(["bench", *argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_every_row_prints_each_sides_spread_and_the_ratio_of_medians(capsys):
    cases = "overhead,overhead e2e,plain diffusers,switch,prompt cache,preview,batch of 8"  # (the rest: below)
    code, out, err = run(capsys, "--json", "--cases", cases, "--repeat", "2", "--warmup", "0", *SMALL)
    assert code == 0, err
    data = json.loads(out)
    assert data["model_set"] == "demo" and data["audio"] and data["size"] == "96x64x9"
    rows = {row["case"]: row for row in data["rows"]}
    assert list(rows) == [
        "overhead", "overhead e2e", "plain diffusers", "switch", "prompt cache", "preview", "batch of 8"
    ]  # fmt: skip
    for row in data["rows"]:
        for side in (row["a"], row["b"]):
            assert side["runs"] == 2 and side["min"] <= side["median"] <= side["max"]
        if min(row["a"]["median"], row["b"]["median"]) >= 1e-3:  # (medians print rounded to 10 us)
            assert row["ratio"] == pytest.approx(row["a"]["median"] / row["b"]["median"], rel=1e-2)
        assert row["resolution"] is None and row["verdict"].startswith("too few runs")  # 2 runs judge nothing
    assert rows["plain diffusers"]["b"]["label"] == 'pipe(prompt, "np") + encode_video'
    assert data["same_work"]["arguments_equal"] and data["same_work"]["latents_equal"]
    assert 0 < rows["switch"]["bytes_loaded_per_switch"] < rows["switch"]["shared_bytes_not_reloaded"]
    assert rows["batch of 8"]["a"]["label"] == "one batch job of 8 seeds"
    assert data["machine"]["cpu_count"] >= 1 and data["machine"]["diffusers"] and data["machine"]["commit"]


def test_the_bare_call_gets_the_arguments_the_studio_gives_the_pipeline(studio):
    """Both pipeline calls recorded as the pipeline saw them (defaults included): equal, and built from the plan."""
    from ltx_studio.bench.baseline import bare_latents, differences, recorded_calls
    from ltx_studio.render.plan import plan_render
    from ltx_studio.render.request import RenderRequest
    from ltx_studio.render.story import load_latents

    request = RenderRequest(prompt="a red rocket flies over the sea", width=96, height=64, frames=9, seed=3)
    plan = plan_render(request, studio.model_set)
    pipe, family = studio.manager.get(plan.variant.name), studio.manager.family
    studio.manager.prompt_cache.clear()
    with recorded_calls(pipe) as studio_calls:
        take = studio.render(request)
    with recorded_calls(pipe) as bare_calls:
        latents = bare_latents(plan, family, pipe, torch.Generator("cpu").manual_seed(plan.seed))
    assert len(studio_calls) == len(bare_calls) == 1
    studio_args, bare_args = studio_calls[0], bare_calls[0]
    assert differences(studio_args, bare_args) == []
    assert (studio_args["width"], studio_args["height"], studio_args["num_frames"]) == (96, 64, 9)
    assert studio_args["sigmas"] == list(plan.variant.sampling.sigmas) and studio_args["output_type"] == "latent"
    assert studio_args["prompt_embeds"].shape[0] == 1 and studio_args["prompt"] is None
    assert torch.equal(load_latents(take).video, latents.video.float())  # same work, same result

    # The check is not blind: another seed is another generator state.
    with recorded_calls(pipe) as other_calls:
        bare_latents(plan, family, pipe, torch.Generator("cpu").manual_seed(plan.seed + 1))
    assert differences(studio_args, other_calls[0]) == ["generator"]


def _overhead(capsys) -> dict:
    code, out, err = run(capsys, "--json", "--cases", "overhead", "--repeat", "7", "--warmup", "1", *SMALL)
    assert code == 0, err
    return json.loads(out)["rows"][0]


def test_the_bench_sees_a_slowdown_injected_into_the_studio(capsys, monkeypatch):
    """A sleep before the studio's decode raises the overhead ratio by about its share of the bare call's
    time, and by more than the spread the runs measured: a bench blind to the studio's time fails here.

    The delay is three clean drafts long (at least 0.1 s), so it stands well out of a busy machine's
    spread; "about" is half to one and a half times the share, plus the spread: the runs are timed on a
    shared machine, so the test asserts the size of the effect, never the clock's last digits."""
    clean = _overhead(capsys)
    delay = max(0.1, round(3 * clean["a"]["median"], 2))
    monkeypatch.setenv("LTX_STUDIO_FAULTS", f"sleep={delay}@decode")
    faults.reset()
    try:
        slowed = _overhead(capsys)
    finally:
        faults.reset()
    rise = slowed["ratio"] - clean["ratio"]
    expected = delay / slowed["b"]["median"]
    spread = clean["resolution"] + slowed["resolution"]
    assert rise > spread, ("the injected delay must stand out of the measured spread", rise, spread)
    assert 0.5 * expected - spread <= rise <= 1.5 * expected + spread, (rise, expected, spread)
    assert slowed["a"]["min"] >= delay  # the studio side really waited


def test_markdown_tables_say_where_they_came_from(capsys):
    code, out, err = run(
        capsys, "--markdown", "--cases", "switch,prompt cache", "--repeat", "1", "--warmup", "0", *SMALL
    )
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == "`python -m ltx_studio bench --markdown --cases 'switch,prompt cache' --repeat 1 --warmup 0 " + (
        " ".join(SMALL) + "`"
    )
    provenance = lines[2]
    import diffusers

    assert provenance.startswith("Commit `") and f"{os.cpu_count()}-core" in provenance
    assert f"torch {torch.__version__} (1 thread(s))" in provenance
    assert f"diffusers {diffusers.__version__}" in provenance
    table = [line for line in lines if line.startswith("|")]
    assert table[0].startswith("| case | A | A s | B | B s | A/B (medians)")
    assert [row.split("|")[1].strip() for row in table[2:]] == ["switch", "prompt cache"]


def test_previews_still_arrive_every_step_on_the_cpu(studio):
    from ltx_studio.core.events import Preview
    from ltx_studio.render.request import RenderRequest

    previews = []
    take = studio.render(
        RenderRequest(prompt="a cat walks on the street", width=96, height=64, frames=9, seed=7),
        on_event=lambda event: previews.append(event) if isinstance(event, Preview) else None,
    )
    assert [p.step for p in previews] == list(range(1, take.steps + 1)) and take.steps == 8
    assert all(p.image.dtype == np.uint8 and p.image.shape == (2, 3, 3) for p in previews)


def test_step_previews_hand_cpu_estimates_straight_on():
    from ltx_studio.models.preview import StepPreviews

    seen = []
    previews = StepPreviews(seen.append)
    estimates = [torch.full((2, 3, 4), float(i)) for i in range(3)]
    for x0 in estimates:
        previews.push(x0)
        assert seen[-1] is x0  # no copy, no delay
    previews.flush()
    assert len(seen) == 3


def test_the_ltx2_arch_path_runs_its_cases_at_tiny_size_on_the_cpu(capsys, studio_cache):
    previews = studio_cache / "previews"
    before = sorted(previews.glob("*")) if previews.exists() else []
    code, out, err = run(
        capsys, "--arch", "ltx2-tiny", "--device", "cpu", "--width", "128", "--height", "128", "--frames", "9",
        "--repeat", "1", "--warmup", "0", "--json",
    )  # fmt: skip
    assert code == 0, err
    results = {r["case"]: r for r in json.loads(out)["results"]}
    assert list(results) == ["fast draft", "two-stage final", "pro"]  # pro: where a step cache may pay
    fast, final = results["fast draft"], results["two-stage final"]
    for result in (fast, final):
        assert result["size"] == "128x128x9" and result["seconds"] > 0 and result["flop_bound_seconds_per_step"] > 0
        assert result["step_error"] == 0 and result["safe"]  # the baseline against itself
    assert fast["steps"] == 8 and fast["audio"]
    assert final["passes"] == [{"size": [64, 64], "steps": 8}, {"size": [128, 128], "steps": 3}] and final["audio"]
    # Random weights under the demo set's name must not leave preview calibrations in the real cache.
    assert (sorted(previews.glob("*")) if previews.exists() else []) == before


def test_the_ltx23_preset_is_22b_counted_on_the_meta_device():
    """Transformer + connectors (the DiT checkpoint) of LTX-2.3 at real size, without allocating a byte."""
    from ltx_studio.bench.ltx2_arch import parameter_counts

    counts = parameter_counts("ltx2-22b", ("transformer", "connectors", "text_encoder"))
    assert counts["transformer"] == 18_988_838_144
    assert counts["dit checkpoint (transformer + connectors)"] == 22_161_065_728  # "22B"
    assert 12.1e9 < counts["text_encoder"] < 12.3e9  # Gemma 3 12B with its vision tower, tied output head


def test_the_ltxv_arch_bench_still_runs_the_gpu_path_on_tiny_models_on_the_cpu(capsys, studio_cache):
    code, out, err = run(
        capsys, "--arch", "tiny", "--device", "cpu", "--sweep", "--levers", "tiling",
        "--width", "64", "--height", "64", "--frames", "9", "--repeat", "1", "--warmup", "0", "--json",
    )  # fmt: skip
    assert code == 0, err
    data = json.loads(out)
    assert [r["levers"] for r in data["results"]] == ["baseline fp32"] * 2 + ["+tiling"] * 2
    for result in data["results"]:
        assert result["seconds"] > 0 and result["seconds_per_step"] > 0 and result["size"] == "64x64x9"
    final = next(r for r in data["results"] if r["case"] == "final")
    assert "stage2 upsample" in final["stages"]


def test_bad_bench_flags_exit_2(capsys):
    assert run(capsys, "--repeat", "0")[0] == 2
    code, _, err = run(capsys, "--cases", "overhead,warp")
    assert code == 2 and "unknown case warp" in err
    code, _, err = run(capsys, "--arch", "tiny", "--device", "cpu", "--levers", "warp", "--repeat", "1")
    assert code == 2 and "unknown lever" in err
    code, _, err = run(capsys, "--arch", "ltx2-22b", "--device", "cpu")
    assert code == 2 and "needs a GPU" in err
    code, _, err = run(capsys, "--variant", "distilled", "--cases", "overhead", *SMALL, "--repeat", "1")
    assert code == 2 and "two-stage" in err


def test_spread_statistics_judge_only_what_the_runs_resolve():
    from ltx_studio.bench.measure import Samples

    steady = Samples(a=[1.00, 1.01, 0.99, 1.00, 1.02, 1.00], b=[1.00] * 6)
    assert steady.ratio == pytest.approx(1.0) and steady.resolution < 0.03
    assert steady.verdict(1.03).startswith("meets <= 1.03")
    noisy = Samples(a=[1.0, 1.5, 0.7, 1.3, 0.8, 1.2], b=[1.0] * 6)
    assert noisy.resolution > 0.03 and "not distinguishable from this spread" in noisy.verdict(1.03)
    slower = Samples(a=[1.20, 1.21, 1.19, 1.20], b=[1.0] * 4)
    assert slower.verdict(1.05).startswith("misses <= 1.05")
    assert statistics.median(slower.pair_ratios) == pytest.approx(1.2)


def test_the_throughput_rows_say_whether_their_outputs_matched(capsys):
    cases = "batch of 4,text kv cache,restart,cost vs frames"
    code, out, err = run(capsys, "--json", "--cases", cases, "--repeat", "1", "--warmup", "0", *SMALL)
    assert code == 0, err
    rows = {row["case"]: row for row in json.loads(out)["rows"]}
    assert list(rows) == cases.split(",")
    assert rows["batch of 4"]["equal"] is True and rows["batch of 4"]["latents_apart"] <= 1e-5
    assert rows["text kv cache"]["equal"] is True
    assert set(rows["cost vs frames"]["per_frame"]) == {"25", "49", "97", "121"}
    assert all(row["a"]["seconds"] and row["b"]["seconds"] for row in rows.values())


def test_a_step_cache_is_judged_by_every_step_of_a_pro_render(capsys, studio_cache):
    code, out, err = run(
        capsys, "--arch", "ltx2-tiny", "--device", "cpu", "--sweep", "--levers", "cache=taylorseer",
        "--width", "128", "--height", "128", "--frames", "9", "--repeat", "1", "--warmup", "0", "--json",
    )  # fmt: skip
    assert code == 0, err
    rows = {(r["levers"], r["case"]): r for r in json.loads(out)["results"]}
    base, cached = rows[("baseline fp32", "pro")], rows[("+cache=taylorseer", "pro")]
    assert cached["step_error"] > 0 and cached["latent_rel_error"] > 0  # its worst step, and the whole render
    assert cached["safe"] == (cached["step_error"] <= json.loads(out)["safe_step_error"])
    assert base["steps"] == cached["steps"] and cached["seconds"] > 0
