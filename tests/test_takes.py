"""The take store: restarts, lineage, approval, deletion, missing files, crash leftovers."""

from __future__ import annotations

import json
import shutil
import sqlite3
from contextlib import closing

import pytest
import torch
from conftest import armed_pickle, small

from ltx_studio.core.errors import BadInput, StudioError, TakeNotFound
from ltx_studio.library.takes import TakeStore
from ltx_studio.studio import Studio


def test_a_restart_lists_every_take_newest_first(studio):
    made = [studio.render(small(seed=s)) for s in (1, 2, 3)]
    final = studio.upscale(made[0].id)

    reopened = TakeStore(studio.store.root)

    listed = reopened.list()
    assert [t.id for t in listed] == [final.id] + [t.id for t in reversed(made)]
    assert reopened.get(final.id).parent == made[0].id
    assert reopened.get(made[0].id).approved
    assert all(t.status == "ok" and t.path("video").exists() for t in listed)


def test_approve_and_unapprove_survive_a_restart(studio):
    take = studio.render(small())
    studio.approve(take.id)
    assert TakeStore(studio.store.root).get(take.id).approved
    studio.approve(take.id, False)
    assert not TakeStore(studio.store.root).get(take.id).approved
    assert json.loads(take.path("record").read_text())["approved"] is False


def test_a_take_whose_files_were_deleted_by_hand_shows_as_missing_and_can_be_removed(studio):
    take = studio.render(small())
    shutil.rmtree(take.folder)

    reopened = TakeStore(studio.store.root)
    assert reopened.get(take.id).status == "missing"
    assert [t.status for t in reopened.list()] == ["missing"]
    reopened.delete(take.id)
    assert reopened.list() == []


def test_delete_removes_files_and_row(studio):
    keep, doomed = studio.render(small(seed=1)), studio.render(small(seed=2))
    studio.delete(doomed.id)
    assert [t.id for t in studio.takes()] == [keep.id]
    assert not (studio.store.takes_dir / doomed.id).exists()


def test_a_take_folder_without_an_index_row_is_recovered_and_staging_leftovers_cleared(studio):
    take = studio.render(small())
    with closing(sqlite3.connect(studio.store.db_path)) as db, db:
        db.execute("DELETE FROM takes")  # as if killed between the rename and the insert
    staging = studio.store.root / ".staging"
    (staging / "999999999-dead00" / "half-made").mkdir(parents=True)  # a killed process's leftovers
    busy = studio.store.stage()  # this (live) process is still assembling a take

    reopened = TakeStore(studio.store.root)

    assert [t.id for t in reopened.list()] == [take.id]
    assert not (staging / "999999999-dead00").exists()
    assert busy.exists(), "another live process's work in progress must not be touched"


def test_an_unreadable_or_lying_record_is_skipped_not_fatal(studio):
    take = studio.render(small())
    with closing(sqlite3.connect(studio.store.db_path)) as db, db:
        db.execute("DELETE FROM takes")
    broken = studio.store.takes_dir / "20260101-000000-aaaaaa"
    broken.mkdir()
    (broken / "take.json").write_text('{"prompt": "no other fields"}')
    record = json.loads(take.path("record").read_text())
    record["id"] = "../../../tmp/evil"
    take.path("record").write_text(json.dumps(record))

    reopened = TakeStore(studio.store.root)

    assert [t.id for t in reopened.list()] == [take.id]  # the folder's name, not the record's claim
    assert reopened.get(take.id).folder == str(studio.store.takes_dir / take.id)


def test_an_unusable_outputs_folder_is_a_clear_error(tmp_path):
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("x")
    with pytest.raises(BadInput, match="cannot use outputs folder"):
        TakeStore(not_a_folder)


def test_approving_a_take_deleted_meanwhile_does_not_bring_it_back(studio):
    take = studio.render(small())
    stale = studio.store.get(take.id)
    studio.delete(take.id)
    with pytest.raises(TakeNotFound):
        studio.approve(stale.id)
    assert studio.takes() == []


@pytest.mark.parametrize("take_id", ["nope", "../../etc/passwd", "20990101-000000-abcdef", "", "x" * 500])
def test_unknown_or_path_like_take_ids_are_not_found(studio, take_id):
    with pytest.raises(TakeNotFound, match="no take with id"):
        studio.take(take_id)
    with pytest.raises(TakeNotFound):
        studio.upscale(take_id)


def test_a_studio_on_the_same_outputs_folder_sees_earlier_takes(tmp_path, shared_manager):
    first = Studio(model_set_name="demo", outputs=tmp_path, manager=shared_manager)
    take = first.render(small())
    second = Studio(model_set_name="demo", outputs=tmp_path, manager=shared_manager)
    assert [t.id for t in second.takes()] == [take.id]


def test_the_trap_is_armed_unpickling_it_runs_code(tmp_path):
    marker = tmp_path / "ran"
    torch.load(armed_pickle(tmp_path / "trap.pt", tmp_path / "ran"), weights_only=False)
    assert marker.exists()  # so a marker that never appears below means nothing was unpickled


def test_a_pickled_record_left_in_the_outputs_folder_is_skipped_never_unpickled(studio, tmp_path):
    marker = tmp_path / "ran"
    kept, planted = studio.render(small(seed=1)), studio.render(small(seed=2))
    armed_pickle(planted.path("record"), marker)
    with closing(sqlite3.connect(studio.store.db_path)) as db, db:
        db.execute("DELETE FROM takes WHERE id = ?", (planted.id,))  # the restart must read the planted record

    reopened = TakeStore(studio.store.root)

    assert [t.id for t in reopened.list()] == [kept.id]
    assert not marker.exists()


def test_upscaling_a_take_whose_latents_are_a_pickle_is_one_line_and_never_unpickles(studio, tmp_path):
    marker = tmp_path / "ran"
    take = studio.render(small())
    armed_pickle(take.path("latents"), marker)

    try:
        with pytest.raises(StudioError) as raised:
            studio.upscale(take.id)
    finally:
        assert not marker.exists(), "the studio unpickled a take's latents"
    assert str(raised.value).count("\n") == 0 and "latents" in str(raised.value)
    assert [t.id for t in studio.takes()] == [take.id]
