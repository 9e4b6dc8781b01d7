"""Safe doors, LoRAs: through the served app (the API, the MCP tools' functions) and the page's picker,
a LoRA is a file of the studio's LoRA folder or a Hub id its model set names, never a path. Every other
name is refused in the same one line, which says neither whether a path exists nor what a folder
holds; a file over the size cap is refused by its size on disk, unread. The page's upload adds a
checked .safetensors LoRA to the folder, where it is picked and live in the render. The command line
and Python on the studio's machine may still name paths (tests/test_lora.py)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch
from conftest import armed_pickle, small
from recording import recording
from safetensors.torch import save_file
from test_lora import ALPHA, RANK, make_lora

from ltx_studio.core.errors import BadInput
from ltx_studio.models import loras
from ltx_studio.models.manager import PipelineManager

REFUSED = f"LoRA 1 of the request {loras.NOT_OFFERED}"  # the one line every name outside the rule gets
OVERSIZED = loras.MAX_FILE_BYTES + 1024**3  # a sparse file: its size on disk, no byte written


@pytest.fixture(scope="module")
def made(shared_manager, registry, tmp_path_factory):
    """LoRAs made here for the demo set (two) and for the other family, outside any LoRA folder."""
    folder = tmp_path_factory.mktemp("made")
    return {
        "style": make_lora(shared_manager, "fast", folder / "style.safetensors", seed=11),
        "other": make_lora(shared_manager, "fast", folder / "other.safetensors", seed=12),
        "ltxv": make_lora(PipelineManager(registry["demo-ltxv"]), "fast", folder / "ltxv.safetensors", seed=13),
    }


@pytest.fixture
def elsewhere(made, tmp_path):
    """A private folder outside the LoRA folder: two LoRAs, a pickle, and a Hub repo in the HF cache."""
    from huggingface_hub import constants

    private = tmp_path / "private"
    private.mkdir()
    shutil.copy(made["style"], private / "alpha-private.safetensors")
    shutil.copy(made["other"], private / "beta-private.safetensors")
    armed_pickle(private / "lora.bin", tmp_path / "pickle-ran")
    commit = "0" * 40
    cached = Path(constants.HF_HUB_CACHE) / "models--someone--style-lora"
    (cached / "snapshots" / commit).mkdir(parents=True, exist_ok=True)
    shutil.copy(made["style"], cached / "snapshots" / commit / "style-lora.safetensors")
    (cached / "refs").mkdir(exist_ok=True)
    (cached / "refs" / "main").write_text(commit)
    return private


OUTSIDE = {  # a name the old doors let through or answered with what is on disk -> what a client sends
    "an existing .safetensors outside the folder": lambda private: str(private / "alpha-private.safetensors"),
    "a nonexistent path": lambda private: str(private / "missing" / "gone.safetensors"),
    "a folder path": lambda private: str(private),
    "a pickle": lambda private: str(private / "lora.bin"),
    "a relative path out of the LoRA folder": lambda private: "../../private/alpha-private.safetensors",
    "a Hub id the model set does not name": lambda private: "someone/style-lora",
    "a file of that Hub repo": lambda private: "someone/style-lora/style-lora.safetensors",
}


def one_line_without_secrets(message: str, private: Path, studio) -> bool:
    """One line that names no server path and no file of the private folder."""
    hidden = [str(private), str(studio.lora_folder), "alpha-private", "beta-private", "lora.bin", "style-lora"]
    return "\n" not in message.strip() and not any(h in message for h in hidden)


@pytest.mark.parametrize("case", list(OUTSIDE))
def test_the_api_refuses_a_lora_outside_the_folder_in_one_line_that_tells_nothing(served, client, elsewhere, case):
    from gradio_client.exceptions import AppError

    studio, _ = served
    name = OUTSIDE[case](elsewhere)
    with pytest.raises(AppError) as refused:
        client.predict(prompt="x", width=96, height=64, frames=9, loras=[{"lora": name}], api_name="/draft")

    message = str(refused.value)
    assert message == REFUSED and one_line_without_secrets(message, elsewhere, studio)
    assert not (elsewhere.parent / "pickle-ran").exists()


@pytest.mark.parametrize("case", list(OUTSIDE))
def test_the_page_refuses_a_lora_outside_the_folder_alike_in_the_studio_and_compare_pickers(studio, elsewhere, case):
    from ltx_studio.ui.lora_picker import lora_request
    from ltx_studio.ui.studio_tab.tab import draft_request

    name = OUTSIDE[case](elsewhere)
    settings = ["a cat", None, None, "fast", 7, False, "draft", 0.4, 24, None, None, True, None, False]
    with pytest.raises(BadInput) as from_studio:  # the Draft button's request
        draft_request(studio, *settings, lora_rows=[name, 1.0, "", 1.0, "", 1.0])
    with pytest.raises(BadInput) as from_compare:  # the Compare tab reads its rows the same way
        lora_request(studio, [name, 0.5])

    assert str(from_studio.value) == str(from_compare.value) == REFUSED
    assert one_line_without_secrets(str(from_studio.value), elsewhere, studio)


def test_a_lora_over_the_size_cap_is_refused_by_its_size_unread_at_every_door(
    served, client, studio, tmp_path, monkeypatch
):
    from gradio_client.exceptions import AppError

    from ltx_studio.models import lora_upload

    served_studio, _ = served
    read = loras.read

    def read_unless_too_big(path, name):
        assert path.stat().st_size <= loras.MAX_FILE_BYTES, "an oversized LoRA was read"
        return read(path, name)

    monkeypatch.setattr(loras, "read", read_unless_too_big)
    served_studio.lora_folder.mkdir(parents=True, exist_ok=True)
    huge = served_studio.lora_folder / "huge.safetensors"
    with huge.open("wb") as file:
        file.truncate(OVERSIZED)  # sparse: nothing written
    try:
        with pytest.raises(AppError) as by_api:
            client.predict(prompt="x", width=96, height=64, frames=9, loras=["huge.safetensors"], api_name="/draft")
        with pytest.raises(BadInput) as by_upload:  # the page's upload, as Gradio hands it over
            lora_upload.add(_oversized(tmp_path, None), studio.lora_folder, studio.model_set)
    finally:
        huge.unlink()

    for message in (str(by_api.value), str(by_upload.value)):
        assert "over the 4 GiB a LoRA may be" in message and "\n" not in message
        assert str(served_studio.lora_folder) not in message and str(studio.lora_folder) not in message
    assert not studio.lora_folder.exists() or studio.lora_files() == []


def test_a_lora_of_the_folder_is_live_in_the_render_by_its_name_through_the_api(served, client, made):
    studio, _ = served
    studio.lora_folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(made["style"], studio.lora_folder / "house-style.safetensors")

    with recording(studio, "fast") as calls:
        _, record = client.predict(
            prompt="a cat", width=96, height=64, frames=9, loras=[{"lora": "house-style", "weight": 0.5}],
            api_name="/draft",
        )  # fmt: skip

    (lora,) = record["settings"]["loras"]
    assert (lora["name"], lora["file"], lora["weight"]) == ("house-style.safetensors", "house-style.safetensors", 0.5)
    adapter = "lora_" + lora["sha256"][:16]
    assert calls and all(c.loras.get(adapter) == 0.5 * ALPHA / RANK for c in calls)  # live in every step


def test_an_upload_joins_the_folder_becomes_pickable_and_is_live_in_the_render(studio, made, tmp_path):
    from ltx_studio.ui.lora_picker import add_upload, folder_choices, lora_request, picked_after_upload

    upload = tmp_path / "gradio-upload" / "my-style.safetensors"  # as Gradio keeps an upload: its own name
    upload.parent.mkdir()
    shutil.copy(made["style"], upload)
    assert ("my-style.safetensors", "my-style.safetensors") not in folder_choices(studio)

    added = add_upload(studio, str(upload))

    assert added == "my-style.safetensors" and studio.lora_files() == [added]
    assert (studio.lora_folder / added).read_bytes() == upload.read_bytes()
    assert (added, added) in folder_choices(studio)
    rows = picked_after_upload(studio, added, ["", "", ""])
    assert rows[0]["value"] == added and all("value" not in row for row in rows[1:])
    assert all((added, added) in row["choices"] for row in rows)
    with recording(studio, "fast") as calls:
        take = studio.render(small(loras=lora_request(studio, [added, 1.0])), preview=False)
    adapter = "lora_" + take.settings["loras"][0]["sha256"][:16]
    assert calls and all(c.loras.get(adapter) == ALPHA / RANK for c in calls)


def _pickle_renamed(folder: Path, made) -> Path:
    return armed_pickle(folder / "renamed-pickle.safetensors", folder / "pickle-ran")


def _truncated(folder: Path, made) -> Path:
    path = folder / "truncated.safetensors"
    path.write_bytes(made["style"].read_bytes()[:-100])
    return path


def _whole_model(folder: Path, made) -> Path:
    path = folder / "model.safetensors"
    save_file({"proj_in.weight": torch.zeros(2, 2)}, str(path))
    return path


def _other_family(folder: Path, made) -> Path:
    return Path(shutil.copy(made["ltxv"], folder / "ltxv-style.safetensors"))


def _oversized(folder: Path, made) -> Path:
    path = folder / "huge.safetensors"
    with path.open("wb") as file:
        file.truncate(OVERSIZED)
    return path


BAD_UPLOADS = {
    "a pickle renamed .safetensors": (_pickle_renamed, "is a pickle file"),
    "a truncated file": (_truncated, "broken or truncated"),
    "a whole model, not a LoRA": (_whole_model, "holds no LoRA weights"),
    "a LoRA of the other family": (_other_family, "does not fit model set 'demo'"),
    "a file over the size cap": (_oversized, "over the 4 GiB a LoRA may be"),
}


@pytest.mark.parametrize("case", list(BAD_UPLOADS))
def test_an_upload_that_is_no_usable_lora_is_one_line_and_the_folder_stays_as_it_was(studio, made, tmp_path, case):
    from ltx_studio.ui.lora_picker import add_upload

    make, message = BAD_UPLOADS[case]
    uploads = tmp_path / "gradio-upload"
    uploads.mkdir()
    bad = make(uploads, made)

    with pytest.raises(BadInput, match=message) as refused:
        add_upload(studio, str(bad))

    assert "\n" not in str(refused.value) and str(tmp_path) not in str(refused.value)
    assert studio.lora_files() == [] and not (uploads / "pickle-ran").exists()


def test_an_upload_never_lands_outside_the_folder_nor_over_a_lora_there(studio, made, tmp_path):
    from ltx_studio.models import lora_upload

    first = lora_upload.add(made["style"], studio.lora_folder, studio.model_set)
    for name, message in (
        ("../escape.safetensors", "whose name is letters"),
        ("notes.txt", "must be a .safetensors file"),
        (first, "already holds"),
    ):
        with pytest.raises(BadInput, match=message):
            lora_upload.add(made["other"], studio.lora_folder, studio.model_set, name=name)
    assert studio.lora_files() == [first] and not (studio.lora_folder.parent / "escape.safetensors").exists()
    assert (studio.lora_folder / first).read_bytes() == made["style"].read_bytes()


def test_the_hub_ids_a_server_door_takes_are_the_ones_the_model_set_names(registry, tmp_path):
    from ltx_studio.models.set_loras import offered

    ltx2_19b = offered(registry["ltx2-19b"])
    named = registry["ltx2-19b"]
    assert set(named.cameras.values()) | set(named.ic_loras) <= ltx2_19b
    assert named.variants["pro"].sampling.refine_lora in ltx2_19b
    assert {"Lightricks/LTX-2-19b-IC-LoRA-Depth-Control/ltx-2-19b-ic-lora-depth-control.safetensors"} <= ltx2_19b
    assert offered(registry["demo"]) == frozenset()  # a demo set's LoRAs are built, not named

    depth = "Lightricks/LTX-2-19b-IC-LoRA-Depth-Control/ltx-2-19b-ic-lora-depth-control.safetensors"
    assert loras.served([f"{depth}:0.7"], tmp_path, ltx2_19b) == [(depth, 0.7)]
    for other in ("Lightricks/LTX-2", "Lightricks/LTX-2/ltx-2-19b-dev.safetensors", "Lightricks/LTX-2-19b-IC-LoRA"):
        with pytest.raises(BadInput) as refused:
            loras.served([other], tmp_path, ltx2_19b)
        assert str(refused.value) == REFUSED
