"""The benchmark runs and emits well-formed figures (the numbers themselves live in BENCHMARKS.md)."""

from __future__ import annotations

import json

from ltx_studio.cli import main


def run(capsys, *argv):
    code = main(["bench", *argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_the_studio_bench_compares_side_by_side_and_prints_json(capsys):
    code, out, _ = run(
        capsys, "--json", "--repeat", "1", "--warmup", "0", "--width", "96", "--height", "64", "--frames", "9"
    )
    assert code == 0
    data = json.loads(out)
    cases = {row["case"]: row for row in data["rows"]}
    assert set(cases) == {"overhead", "overhead e2e", "switch", "prompt cache", "preview"}
    for row in data["rows"]:
        assert row["a"]["seconds"] >= 0 and row["b"]["seconds"] > 0 and row["ratio"] >= 0
        assert row["peak_rss_mb"] > 0
    transformer_only = cases["switch"]["bytes_loaded_per_switch"]
    assert 0 < transformer_only < cases["switch"]["shared_bytes_not_reloaded"]
    assert data["size"] == "96x64x9" and data["machine"]["cpu_count"] >= 1


def test_the_table_names_every_case(capsys):
    code, out, _ = run(capsys, "--repeat", "1", "--warmup", "0", "--width", "64", "--height", "64", "--frames", "9")
    assert code == 0
    for case in ("overhead", "switch", "prompt cache", "preview"):
        assert case in out


def test_the_arch_bench_runs_the_gpu_path_on_tiny_models_on_the_cpu(capsys, studio_cache):
    previews = studio_cache / "previews"
    before = sorted(previews.glob("*")) if previews.exists() else []
    code, out, _ = run(
        capsys, "--arch", "tiny", "--device", "cpu", "--sweep", "--levers", "tiling,cache",
        "--width", "64", "--height", "64", "--frames", "9", "--repeat", "1", "--warmup", "0", "--json",
    )  # fmt: skip
    assert code == 0
    data = json.loads(out)
    assert [r["levers"] for r in data["results"]] == ["baseline fp32"] * 2 + ["+tiling"] * 2 + ["+cache"] * 2
    for result in data["results"]:
        assert result["seconds"] > 0 and result["seconds_per_step"] > 0 and result["flop_bound_seconds_per_step"] > 0
        assert result["size"] == "64x64x9"
    final = next(r for r in data["results"] if r["case"] == "final")
    assert "stage2 upsample" in final["stages"]
    # Random weights under the demo set's name must not leave preview calibrations in the real cache.
    assert (sorted(previews.glob("*")) if previews.exists() else []) == before


def test_bad_bench_flags_exit_2(capsys):
    assert run(capsys, "--repeat", "0")[0] == 2
    code, _, err = run(capsys, "--arch", "tiny", "--device", "cpu", "--levers", "warp", "--repeat", "1")
    assert code == 2 and "unknown lever" in err
