"""The tiny demo set is built offline and deterministically; real-size presets have real sizes."""

from __future__ import annotations

import json

import pytest

from ltx_studio.models import tiny


def test_the_demo_set_is_a_diffusers_folder_with_three_transformers_and_an_upsampler():
    folder = tiny.ensure_demo_set()
    index = json.loads((folder / "model_index.json").read_text())
    assert index["_class_name"] == "LTXConditionPipeline"
    for sub in ("transformer", "transformer-fast", "transformer-pro", "latent_upsampler", "vae", "text_encoder"):
        assert list((folder / sub).glob("*.safetensors")), sub
    layers = [
        json.loads((folder / s / "config.json").read_text())["num_layers"]
        for s in ("transformer-fast", "transformer", "transformer-pro")
    ]
    assert layers == [1, 2, 3]
    assert tiny.ensure_demo_set() == folder  # built once


def test_tiny_models_are_deterministic():
    a, b = (
        tiny.build_transformer(tiny.TINY_TRANSFORMERS["fast"], seed=3),
        tiny.build_transformer(tiny.TINY_TRANSFORMERS["fast"], seed=3),
    )
    assert all(x.equal(y) for x, y in zip(a.state_dict().values(), b.state_dict().values(), strict=True))


def test_the_tokenizer_is_built_in_code_and_tokenizes_prompts():
    tokenizer = tiny.build_tokenizer()
    ids = tokenizer("a cat walks on the street at night")["input_ids"]
    assert ids[-1] == tokenizer.eos_token_id and tokenizer.unk_token_id not in ids


@pytest.mark.parametrize(
    "build, billions",
    [
        (lambda: tiny.build_transformer("ltxv-2b"), 1.9),
        (lambda: tiny.build_transformer("ltxv-13b"), 13.0),
        (lambda: tiny.build_text_encoder(tiny.REAL_T5), 4.9),
    ],
)
def test_real_size_presets_have_the_real_parameter_counts(build, billions):
    from accelerate import init_empty_weights

    with init_empty_weights():  # no memory: shapes only
        model = build()
    assert sum(p.numel() for p in model.parameters()) / 1e9 == pytest.approx(billions, rel=0.03)
