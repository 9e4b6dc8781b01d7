"""The command line: JSON out, exit 2 and one line for any bad input, the store untouched."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import FIRST_FRAMES, ROOT

from ltx_studio.cli import main


def cli(capsys, *args):
    """Run `python -m ltx_studio ARGS` in-process; returns (exit code, stdout, stderr)."""
    try:
        code = main([str(a) for a in args])
    except SystemExit as exc:  # argparse usage errors
        code = exc.code
    out = capsys.readouterr()
    return code, out.out, out.err


SMALL = ["--model-set", "demo", "--width", "96", "--height", "64", "--frames", "9", "--quiet"]


def test_render_prints_the_take_as_json(capsys, tmp_path):
    code, out, _ = cli(capsys, "render", "--prompt", "a cat", "--seed", "5", "--outputs", tmp_path, "--json", *SMALL)
    assert code == 0
    take = json.loads(out)
    for key in ("id", "video", "latents", "poster", "prompt", "seed", "width", "height", "frames", "fps"):
        assert key in take
    assert (take["seed"], take["width"], take["height"], take["frames"]) == (5, 96, 64, 9)
    assert (take["variant"], take["model_set"], take["parent"]) == ("fast", "demo", None)
    assert set(take["timings"]) >= {"load", "text", "denoise", "decode", "write"}
    assert os.path.exists(take["video"]) and os.path.exists(take["latents"])


def test_compare_renders_each_variant_with_one_seed_then_upscale_and_takes(capsys, tmp_path):
    code, out, _ = cli(
        capsys,
        "compare",
        "--prompt",
        "a dog runs",
        "--variants",
        "fast,distilled,pro",
        "--outputs",
        tmp_path,
        "--json",
        *SMALL,
        "--width",
        "128",  # two-stage variants (distilled, pro) need sides on the 64 grid
    )
    assert code == 0
    takes = json.loads(out)
    assert [t["variant"] for t in takes] == ["fast", "distilled", "pro"]
    assert len({t["seed"] for t in takes}) == 1

    code, out, _ = cli(
        capsys, "upscale", takes[1]["id"], "--outputs", tmp_path, "--json", "--model-set", "demo", "--quiet"
    )
    assert code == 0
    final = json.loads(out)
    assert (final["width"], final["height"], final["parent"]) == (256, 128, takes[1]["id"])

    code, out, _ = cli(capsys, "takes", "list", "--outputs", tmp_path, "--json")
    assert [t["id"] for t in json.loads(out)][0] == final["id"] and len(json.loads(out)) == 4
    code, out, _ = cli(capsys, "takes", "show", takes[1]["id"], "--outputs", tmp_path, "--json")
    assert json.loads(out)["approved"] is True
    code, out, _ = cli(capsys, "takes", "approve", takes[0]["id"], "--outputs", tmp_path, "--json")
    assert json.loads(out)["approved"] is True


def test_models_list_and_check_read_only_this_machines_hf_cache(capsys, tmp_path, monkeypatch):
    from huggingface_hub import constants

    # conftest gives the session an empty HF_HOME, so weights in the user's own cache never count.
    assert Path(constants.HF_HUB_CACHE).is_relative_to(os.environ["HF_HOME"])
    code, out, _ = cli(capsys, "models", "list", "--json")
    sets = json.loads(out)
    assert code == 0 and set(sets) >= {"ltxv", "demo"} and set(sets["ltxv"]["variants"]) == {"fast", "distilled", "pro"}
    code, out, _ = cli(capsys, "models", "check", "--model-set", "demo", "--json")
    assert {v["state"] for v in json.loads(out)["variants"].values()} == {"on disk"}
    code, out, _ = cli(capsys, "models", "check", "--model-set", "ltxv", "--json")
    assert {v["state"] for v in json.loads(out)["variants"].values()} == {"not downloaded"}

    # A cache holding the Fast transformer's file: check finds it there, and only it.
    hub = tmp_path / "hub"
    repo = hub / "models--Lightricks--LTX-Video"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text("0" * 40)
    (repo / "snapshots" / ("0" * 40)).mkdir(parents=True)
    (repo / "snapshots" / ("0" * 40) / "ltxv-2b-0.9.8-distilled.safetensors").write_bytes(b"")
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(hub))
    code, out, _ = cli(capsys, "models", "check", "--model-set", "ltxv", "--json")
    variants = json.loads(out)["variants"]
    assert "transformer (fast)" not in variants["fast"]["missing"]
    assert "transformer (pro)" in variants["pro"]["missing"] and variants["fast"]["state"] == "not downloaded"


def bad_variants_file(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text('[sets.demo]\nfamily = "ltxv"\n')
    return path


def not_an_image(tmp_path):
    path = tmp_path / "notes.png"
    path.write_text("this is not a picture")
    return path


def truncated_png(tmp_path):
    path = tmp_path / "cut.png"
    path.write_bytes((FIRST_FRAMES / "chelsea.png").read_bytes()[:2000])
    return path


def empty_file(tmp_path):
    path = tmp_path / "empty.jpg"
    path.write_bytes(b"")
    return path


# Each bad input: the argv after the command, and a word the one-line message must contain.
BAD_INPUTS = [
    (["render", "--prompt", ""], "prompt is empty"),
    (["render", "--prompt", "x", "--variant", "turbo"], "unknown variant"),
    (["render", "--prompt", "x", "--model-set", "nope"], "unknown model set"),
    (["render", "--prompt", "x", "--image", "/no/such.png"], "image not found"),
    (["render", "--prompt", "x", "--image", not_an_image], "cannot read image"),
    (["render", "--prompt", "x", "--image", truncated_png], "cannot read image"),
    (["render", "--prompt", "x", "--image", empty_file], "cannot read image"),
    (["render", "--prompt", "x", "--width", "5000", "--height", "5000"], "over"),
    (["render", "--prompt", "x", "--width", "abc"], "invalid int value"),
    (["render", "--prompt", "x", "--frames", "1000"], "over"),
    (["render", "--prompt", "x", "--frames", "-3"], "frames must be between"),
    (["render", "--prompt", "x", "--seconds", "-1"], "seconds must be between"),
    (["render", "--prompt", "x", "--seed", "-7"], "seed must be between"),
    (["render", "--prompt", "x", "--variants-file", bad_variants_file], "missing"),
    (["upscale", "20990101-000000-abcdef"], "no take with id"),
    (["upscale", "../../etc/passwd"], "no take with id"),
    (["takes", "show", "nope"], "no take with id"),
    (["takes", "approve", "../x"], "no take with id"),
    (["models", "download", "turbo"], "unknown variant"),
    (["render", "--prompt", "x", "--model-set", "ltx2", "--checkpoint", "/no/ltx-2.3.safetensors"], "no such file"),
    (["render", "--prompt", "x", "--checkpoint", "/no/ltx-2.3.safetensors"], "builds its own tiny models"),
    (["bogus"], "invalid choice"),
]


@pytest.mark.parametrize("argv, words", BAD_INPUTS, ids=[" ".join(map(str, a[:3])) for a, _ in BAD_INPUTS])
def test_bad_input_exits_2_with_one_line_and_leaves_the_store_alone(capsys, tmp_path, argv, words):
    outputs = tmp_path / "outputs"
    code, _, _ = cli(capsys, "render", "--prompt", "keep me", "--outputs", outputs, *SMALL)
    assert code == 0

    args = [a(tmp_path) if callable(a) else a for a in argv]
    if "--model-set" not in args and args[0] in ("render", "upscale", "models"):
        args += ["--model-set", "demo"]
    code, out, err = cli(capsys, *args, "--outputs", outputs)

    assert code == 2
    assert err.count("\n") == 1 and err.startswith("error: ") and words in err
    assert "Traceback" not in err
    code, out, _ = cli(capsys, "takes", "list", "--outputs", outputs, "--json")
    assert [t["prompt"] for t in json.loads(out)] == ["keep me"]


def test_a_real_process_exits_2_with_one_line_and_no_traceback(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "ltx_studio",
            "render",
            "--prompt",
            "",
            "--model-set",
            "demo",
            "--outputs",
            str(tmp_path),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == ["error: prompt is empty: describe the video (or give a first frame)"]
