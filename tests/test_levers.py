"""Speed levers: per GPU class defaults, measured ones adopted by the studio, compile warm-up once per process."""

from __future__ import annotations

import json
import shutil

import pytest
from conftest import cannot_run

from ltx_studio.cli import main
from ltx_studio.core.errors import BadInput
from ltx_studio.models.levers import Levers, default_levers, gpu_class, levers_file, save_levers
from ltx_studio.models.manager import PipelineManager


@pytest.fixture
def own_cache(tmp_path, monkeypatch):
    """A cache of this test's own: measured levers written here must not reach other tests."""
    monkeypatch.setenv("LTX_STUDIO_CACHE", str(tmp_path / "cache"))
    for name in ("LTX_STUDIO_COMPILE", "LTX_STUDIO_ATTENTION", "LTX_STUDIO_FP8"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path / "cache"


def test_without_measurements_every_class_gets_the_safe_baseline(own_cache, demo):
    assert gpu_class("cpu") == "cpu"
    assert default_levers("cpu") == Levers()
    policy = PipelineManager(demo).policy
    assert not (policy.compile or policy.attention_backend or policy.fp8) and policy.levers_from == "built-in"


def test_measured_levers_become_the_default_and_the_environment_still_wins(own_cache, demo, monkeypatch):
    save_levers("cpu", Levers(compile=True, attention="native"), gpu="test cpu", date="2026-11-24")
    save_levers("hopper", Levers(fp8=True), gpu="NVIDIA H100", date="2026-11-24")  # another class, kept apart
    table = json.loads(levers_file().read_text())
    assert set(table) == {"cpu", "hopper"}

    policy = PipelineManager(demo).policy
    assert policy.compile and policy.attention_backend == "native" and not policy.fp8
    assert policy.levers_from == "measured 2026-11-24 on test cpu"
    assert "compiled, attention native (speed levers measured 2026-11-24 on test cpu)" in policy.describe()

    monkeypatch.setenv("LTX_STUDIO_COMPILE", "0")
    monkeypatch.setenv("LTX_STUDIO_ATTENTION", "default")
    policy = PipelineManager(demo).policy
    assert (policy.compile, policy.attention_backend) == (False, None)
    assert policy.levers_from == "measured 2026-11-24 on test cpu, compile and attention from the environment"


def test_stale_measured_levers_never_stop_the_studio(own_cache, demo, caplog):
    """Levers measured under other versions, or naming a backend that is gone, are ignored with a warning."""
    save_levers("cpu", Levers(compile=True), gpu="test cpu", date="2026-11-24")
    table = json.loads(levers_file().read_text())
    table["cpu"]["torch"] = "1.0.0"
    levers_file().write_text(json.dumps(table))
    assert default_levers("cpu") == Levers()
    assert "measured with torch 1.0.0" in caplog.text

    save_levers("cpu", Levers(attention="_retired_backend"), gpu="test cpu", date="2026-11-24")
    policy = PipelineManager(demo).policy
    assert policy.attention_backend is None and policy.levers_from == "built-in"
    assert "attention backend '_retired_backend' is not available" in caplog.text


def test_a_broken_levers_file_counts_as_no_measurement(own_cache):
    levers_file().parent.mkdir(parents=True, exist_ok=True)
    levers_file().write_text("{not json")
    assert default_levers("cpu") == Levers()
    levers_file().write_text(json.dumps({"cpu": {"attention": "native"}}))  # no "compile" key
    assert default_levers("cpu") == Levers()


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("LTX_STUDIO_COMPILE", "maybe", "LTX_STUDIO_COMPILE='maybe': use 1 or 0"),
        ("LTX_STUDIO_FP8", "1", "LTX_STUDIO_FP8=1 needs a Hopper, Ada or Blackwell GPU; cpu has no FP8 matmuls"),
    ],
)
def test_bad_lever_settings_are_one_line_errors(own_cache, demo, monkeypatch, name, value, message):
    monkeypatch.setenv(name, value)
    with pytest.raises(BadInput) as raised:
        PipelineManager(demo)
    assert str(raised.value) == message


def test_a_compiled_transformer_compiles_once_per_process_for_every_size(own_cache, demo, tmp_path, monkeypatch):
    """The warm-up compiles; drafts at other sizes and frame counts, and another variant, compile nothing more.

    A variant with guidance (Pro: batch 2) compiles once more on its first render, then never again.
    """
    from torch._dynamo.utils import counters

    from ltx_studio.render.request import RenderRequest
    from ltx_studio.studio import Studio

    if not (shutil.which("cc") or shutil.which("gcc")):
        cannot_run("torch.compile on a CPU needs a C compiler (apt-get install gcc)")
    monkeypatch.setenv("LTX_STUDIO_COMPILE", "1")
    studio = Studio(model_set_name="demo-ltxv", outputs=tmp_path / "outputs")
    assert studio.manager.policy.compile
    before = counters["stats"]["unique_graphs"]
    assert set(studio.warm_up(["fast"])) == {"fast"}
    warm = counters["stats"]["unique_graphs"]
    assert warm > before  # the warm-up compiled

    def draft(variant, width, height, frames):
        take = studio.render(
            RenderRequest(prompt="a boat", variant=variant, width=width, height=height, frames=frames, seed=3)
        )
        assert (take.width, take.height, take.frames) == (width, height, frames) and take.path("video").exists()
        return counters["stats"]["unique_graphs"]

    assert draft("fast", 64, 64, 9) == warm
    assert draft("fast", 96, 64, 17) == warm
    assert draft("distilled", 128, 96, 9) == warm
    with_guidance = draft("pro", 96, 64, 9)
    assert draft("pro", 128, 64, 17) == with_guidance


def bench(capsys, *argv):
    code = main(["bench", *argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_the_sweep_judges_each_lever_and_saves_the_fastest_safe_set_for_the_studio(own_cache, demo, capsys):
    code, out, _ = bench(
        capsys, "--arch", "tiny", "--device", "cpu", "--sweep", "--save", "--levers", "attention=native,cache,bf16",
        "--width", "64", "--height", "64", "--frames", "9", "--repeat", "3", "--warmup", "1", "--json",
    )  # fmt: skip
    assert code == 0
    data = json.loads(out)
    rows = {(r["levers"], r["case"]): r for r in data["results"]}
    baseline = rows[("baseline fp32", "draft")]
    assert baseline["step_error"] == 0 and baseline["psnr_db"] is None and baseline["safe"]  # None: identical
    bf16 = rows[("bf16", "draft")]  # bf16's own rounding: well inside the bar, yet not nothing
    assert 0 < bf16["step_error"] < data["safe_step_error"] and bf16["psnr_db"] < 200
    cache = rows[("+cache", "draft")]  # a step cache: judged by its worst step along a whole render, not the first
    assert cache["safe"] == (cache["step_error"] <= data["safe_step_error"]) and "worst step" in cache["notes"][-1]
    for row in data["results"]:
        assert {"step_error", "psnr_db", "latent_rel_error", "safe", "warm_up_seconds"} <= set(row)

    chosen = data["chosen"]
    assert chosen["gpu_class"] == "cpu" and chosen["chosen"] in ("baseline fp32", "+attention=native", "+cache")
    saved = json.loads(levers_file().read_text())["cpu"]
    assert saved["attention"] == chosen["levers"]["attention"] and saved["compile"] is False
    assert saved["step_cache"] == chosen["levers"]["step_cache"] and saved["step_cache"] in (None, "first-block")
    policy = PipelineManager(demo).policy  # the studio now starts with what was measured
    assert policy.attention_backend == saved["attention"] and policy.levers_from.startswith("measured ")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--device", "cpu"], "--save needs --arch and --sweep"),
        (["--device", "cpu", "--sweep", "--repeat", "1"], "--save needs --warmup 1 or more and --repeat 3 or more"),
        (["--device", "cuda", "--sweep"], "--save with --arch tiny only on --device cpu"),
    ],
)
def test_save_refuses_what_would_store_a_bad_figure(own_cache, capsys, argv, message):
    code, _, err = bench(capsys, "--arch", "tiny", "--save", *argv)
    assert code == 2 and message in err
    assert not levers_file().exists()


def test_the_warm_up_skips_variants_whose_weights_are_missing(own_cache, tmp_path, monkeypatch):
    """On a machine without the real weights the warm-up does nothing; the first draft says what is missing."""
    from huggingface_hub import constants

    from ltx_studio.studio import Studio

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))  # real weights here must not load
    studio = Studio(model_set_name="ltxv", outputs=tmp_path / "outputs")
    assert studio.warm_up() == {}
    assert all(state != "ready" for state in studio.variant_states().values())


def test_the_app_warms_up_the_draft_variants_in_the_background(own_cache, tmp_path, capsys):
    from ltx_studio.app_main import build_parser, start_warm_up
    from ltx_studio.studio import Studio

    assert build_parser().parse_args([]).warmup and not build_parser().parse_args(["--no-warmup"]).warmup
    studio = Studio(model_set_name="demo", outputs=tmp_path / "outputs")
    start_warm_up(studio).join(timeout=120)
    err = capsys.readouterr().err
    assert "warming up: demo" in err and "warm: fast" in err
    assert studio.variant_states()[studio.model_set.live_variant] == "ready"


def test_a_step_cache_the_sweep_kept_runs_on_pro_and_the_header_says_so(own_cache, demo, tmp_path):
    from ltx_studio.models.levers import Levers, save_levers
    from ltx_studio.studio import Studio
    from ltx_studio.ui.header import header_html

    save_levers("cpu", Levers(step_cache="taylorseer"), gpu="cpu", date="2026-12-03")
    studio = Studio(model_set_name="demo", outputs=tmp_path / "outputs", manager=PipelineManager(demo))
    assert (
        studio.manager.policy.step_cache == "taylorseer" and "step cache taylorseer" in studio.manager.policy.describe()
    )
    assert "Pro: step cache taylorseer" in header_html(studio)
    assert studio.manager.get("pro").transformer.is_cache_enabled  # a multi-step variant
    assert not studio.manager.get("fast").transformer.is_cache_enabled  # 8 steps: nothing to gain
