"""A set runs from a single-file checkpoint a person already has (ComfyUI's, LTX-Desktop's): nothing is
downloaded twice. The file is one of the tiny Lightricks-layout checkpoints the parity tests build."""

from __future__ import annotations

import shutil

import pytest
import torch

from ltx_studio.core.errors import BadInput
from ltx_studio.models.checkpoints import with_checkpoints
from ltx_studio.models.families.ltx2 import LTX2Family
from ltx_studio.models.variants import load_registry


def test_a_set_takes_its_transformers_from_files_on_disk(reference_code, tmp_path):
    made = reference_code.write_checkpoint(tmp_path / "ComfyUI" / "models" / "checkpoints", "2.3", seed=3)
    folder = made.file.parent
    shutil.copytree(made.diffusers / "transformer", folder / "transformer")  # its architecture, beside it
    ltx2 = load_registry()["ltx2"]

    named = with_checkpoints(ltx2, [f"fast={made.file}"])
    source = named.variants["fast"].transformer
    assert (source.repo, source.file, source.config) == (str(folder), made.file.name, str(folder))
    assert named.variants["distilled"].transformer == ltx2.variants["distilled"].transformer  # only the one named
    loaded = LTX2Family().load_component("transformer", source.repo, None, source.file, source.config, torch.float32)
    reference = reference_code.load_ours(made)
    ours, theirs = loaded.state_dict(), reference.state_dict()
    assert ours.keys() == theirs.keys() and all(torch.equal(ours[k], theirs[k]) for k in ours)

    distilled = folder / "ltx-2.3-22b-distilled.safetensors"
    shutil.copy(made.file, distilled)
    served = with_checkpoints(ltx2, [str(distilled)])  # by its name: the variants on the distilled transformer
    assert {n for n, v in served.variants.items() if v.transformer.file == distilled.name} == {"fast", "distilled"}
    dev = with_checkpoints(ltx2, [str(made.file)])  # any other name: Pro's
    assert {n for n, v in dev.variants.items() if v.transformer.file == made.file.name} == {"pro"}


def test_a_checkpoint_that_cannot_serve_is_one_line(tmp_path):
    registry = load_registry()
    with pytest.raises(BadInput, match=r"^--checkpoint .*nothing\.safetensors: no such file$"):
        with_checkpoints(registry["ltx2"], [str(tmp_path / "nothing.safetensors")])
    with pytest.raises(BadInput, match="a single-file checkpoint is a .safetensors file"):
        with_checkpoints(registry["ltx2"], [str(tmp_path / "model.ckpt")])
    with pytest.raises(BadInput, match="builds its own tiny models"):
        with_checkpoints(registry["demo"], [str(tmp_path / "x.safetensors")])


def test_the_checkpoints_stay_with_their_set_across_switches(reference_code, tmp_path, monkeypatch):
    from ltx_studio.studio import Studio

    made = reference_code.write_checkpoint(tmp_path / "models", "2.3", seed=4)
    studio = Studio(model_set_name="ltx2", outputs=tmp_path / "outputs", checkpoints=[f"fast={made.file}"])
    assert studio.model_set.variants["fast"].transformer.file == made.file.name
    studio.use_model_set("demo")
    studio.use_model_set("ltx2")  # back: still the file, not the diffusers folder the set names
    assert studio.model_set.variants["fast"].transformer.file == made.file.name
    assert "ltx2" in studio.available_sets()
    monkeypatch.setenv("LTX_STUDIO_CHECKPOINTS", str(made.file))  # exported in a shell, say: a demo studio starts
    assert Studio(model_set_name="demo", outputs=tmp_path / "other").model_set.name == "demo"
