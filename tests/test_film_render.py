"""A film rendered, edited and exported on the demo set: shots as takes against one soundtrack, a continue
fed the shot before's last frames and sound, a re-rendered shot that leaves the others' bits alone, the
mp4 joined frame-exactly with the song encoded once, and the .otio an editor reads."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np
import pytest
import torch
from recording import close, encoded, fails_when, fed_audio, fed_video, recording
from test_conditioning import free_audio_steps, steps, switch_off_the_hold, switch_off_the_video_condition
from test_jobs import wait_for
from test_sound_edits import beat

from ltx_studio.cli import main as cli
from ltx_studio.core import faults
from ltx_studio.core.errors import BadInput
from ltx_studio.jobs.ops import FilmRender
from ltx_studio.library import media, sound

FPS = 24


def shot_list(folder: Path, shots: list[dict], **film) -> Path:
    """A small film's shot list (96x64) as JSON next to its files."""
    path = folder / "film.json"
    path.write_text(json.dumps({"width": 96, "height": 64, **film, "shots": shots}))
    return path


def frames_of(path: Path) -> np.ndarray:
    return media.read_mp4(path)[0]


def test_a_film_follows_its_soundtrack_shot_by_shot_and_exports_in_sync(studio, tmp_path):
    song = beat(tmp_path / "song.wav", seconds=2.5)
    film = studio.make_film(shot_list(tmp_path, [
        {"prompt": "a drummer", "seconds": 0.9},
        {"prompt": "the band", "seconds": 0.5, "begins": "continue"},
        {"prompt": "the street", "seconds": 0.7},
    ], soundtrack="song.wav"))  # fmt: skip
    assert [shot["take"] for shot in film["shots"]] == [None] * 3
    film = studio.render_film(film["id"])

    shots = film["shots"]
    assert [s["frames"] for s in shots] == [22, 12, 17] and film["frames"] == 51  # round(seconds * 24), butt-joined
    assert [s["start"] for s in shots] == pytest.approx([0.0, 22 / FPS, 34 / FPS], abs=1e-6) and film[
        "seconds"
    ] == pytest.approx(51 / FPS)
    takes = [studio.take(s["take"]) for s in shots]
    assert [t.frames for t in takes] == [22, 12, 17] and [t.kind for t in takes] == ["shot"] * 3
    assert takes[1].parent == takes[0].id and takes[2].parent is None  # a continue's lineage
    assert takes[1].settings["film"] == {"id": film["id"], "version": 1, "shot": 2, "after": takes[0].id, "start": 22}

    written = studio.export_film(film["id"], mp4=tmp_path / "film.mp4", otio=tmp_path / "film.otio")
    assert written["copied"] and written["frames"] == 51
    info = media.probe_mp4(tmp_path / "film.mp4")
    assert info["frames"] == 51 and info["audio"]["sample_rate"] == 44100
    picture = frames_of(tmp_path / "film.mp4")
    for take, s in zip(takes, shots, strict=True):  # each shot's frames are its take's, bit for bit
        start = round(s["start"] * FPS)
        assert np.array_equal(picture[start : start + take.frames], frames_of(take.path("video")))
    heard, rate = media.read_audio(tmp_path / "film.mp4")
    given = sound.read_soundtrack(song).waveform
    for cut in (22 / FPS, 34 / FPS):  # the song at each cut, after AAC: the film carries it as given
        window = slice(round((cut - 0.2) * rate), round((cut + 0.2) * rate))
        assert np.corrcoef(heard[0, window], given[0, window])[0, 1] > 0.95


@pytest.mark.parametrize("switch", [None, "video", "hold"], ids=["conditioned", "video-off", "hold-off"])
def test_a_continue_shot_is_fed_the_last_frames_and_sound_of_the_shot_before(studio, tmp_path, switch, monkeypatch):
    film = studio.make_film(shot_list(tmp_path, [
        {"prompt": "a drummer", "seconds": 1.0, "seed": 3},
        {"prompt": "the band", "seconds": 0.34, "begins": "continue"},
    ]))  # fmt: skip
    if switch == "hold":
        switch_off_the_hold(monkeypatch)
    elif switch == "video":
        switch_off_the_video_condition(monkeypatch)
    with recording(studio, "fast") as calls:
        film = studio.render_film(film["id"])
    before, after = (studio.take(s["take"]) for s in film["shots"])
    calls = calls[-steps(studio) :]  # the continue's
    assert after.frames == 8 and calls[0].frames == 4  # 17 overlap frames + one latent frame of its own

    frames = frames_of(before.path("video"))
    waveform, rate = media.read_audio(before.path("video"))
    pipe, family = studio.manager.get("fast"), studio.manager.family
    picture = fed_video(pipe, encoded(pipe, frames[-17:]))
    given = slice(0, picture.shape[1])
    heard = fed_audio(pipe, family.encode_audio(pipe, waveform[:, -round(17 / FPS * rate) :], rate, 25, FPS))
    held = ~free_audio_steps(calls[0], 17 / FPS, 25 / FPS, 25 / FPS)
    assert 0 < int(held.sum()) < len(held)
    with fails_when(switch == "video", match="the shot before's last frames are not what the transformer saw"):
        for call in calls:
            assert close(call.hidden[:, given], picture), (
                "the shot before's last frames are not what the transformer saw"
            )
            assert (call.timestep[:, given] == 0).all() and (call.timestep[:, given.stop :] > 0).all()
    with fails_when(switch == "hold", match="the shot before's sound is not held"):
        for call in calls:
            assert close(call.audio[:, held], heard[:, held]), "the shot before's sound is not held"
            assert (call.audio_timestep[:, held] == 0).all()


def test_re_rendering_shot_2_of_4_leaves_shots_1_3_and_4_bit_identical(studio, tmp_path):
    film = studio.make_film(
        shot_list(tmp_path, [{"prompt": p, "seconds": 0.4} for p in ("one", "two", "three", "four")])
    )
    first = studio.render_film(film["id"])
    studio.export_film(film["id"], mp4=tmp_path / "v1.mp4")
    again = studio.rerender_film(film["id"], [2])
    assert again["version"] == 2 and [s["take"] for s in again["shots"]][1] is None
    second = studio.render_film(film["id"])
    studio.export_film(film["id"], mp4=tmp_path / "v2.mp4")

    old, new = ([s["take"] for s in f["shots"]] for f in (first, second))
    assert old[0] == new[0] and old[2:] == new[2:] and old[1] != new[1]
    assert studio.film(film["id"], 1)["shots"][1]["take"] == old[1]  # the version before stays as it was
    a, b = frames_of(tmp_path / "v1.mp4"), frames_of(tmp_path / "v2.mp4")
    assert len(a) == len(b) == 40
    assert np.array_equal(a[:10], b[:10]) and np.array_equal(a[20:], b[20:])  # shots 1, 3 and 4, bit for bit
    assert not np.array_equal(a[10:20], b[10:20])
    (tmp_path / "v1.mp4").write_bytes(b"")  # and the film of version 1 can still be exported
    studio.export_film(film["id"], version=1, mp4=tmp_path / "v1.mp4")
    assert np.array_equal(frames_of(tmp_path / "v1.mp4"), a)


def test_a_continue_after_a_shot_rendered_again_is_stale_until_rendered_on_request(studio, tmp_path):
    film = studio.make_film(shot_list(tmp_path, [
        {"prompt": "one", "seconds": 0.4}, {"prompt": "two", "seconds": 0.4, "begins": "continue"},
    ]))  # fmt: skip
    first = studio.render_film(film["id"])
    second = studio.render_film(studio.rerender_film(film["id"], [1])["id"])
    assert second["shots"][1]["stale"] and second["shots"][1]["take"] == first["shots"][1]["take"]  # marked, kept
    with pytest.raises(BadInput, match="render the stale shots first"):
        studio.export_film(film["id"], mp4=tmp_path / "film.mp4")
    fixed = studio.render_film(studio.rerender_film(film["id"], [], stale=True)["id"])
    assert fixed["shots"][0]["take"] == second["shots"][0]["take"] and not any(s["stale"] for s in fixed["shots"])


def test_the_otio_edit_references_every_shot_and_the_song_and_reads_back_as_the_film(studio, tmp_path):
    import opentimelineio as otio

    beat(tmp_path / "song.wav", seconds=1.5)
    film = studio.render_film(studio.make_film(shot_list(tmp_path, [
        {"prompt": "a drummer", "seconds": 0.5}, {"prompt": "the street", "seconds": 0.75, "camera": "dolly-in"},
    ], soundtrack="song.wav"))["id"])  # fmt: skip
    studio.export_film(film["id"], otio=tmp_path / "film.otio")

    timeline = otio.adapters.read_from_file(str(tmp_path / "film.otio"))
    picture, audio = timeline.tracks
    ranges = [(c.source_range.start_time.to_frames(), c.source_range.duration.to_frames()) for c in picture]
    assert ranges == [(0, 12), (0, 18)] and picture.duration().to_frames() == 30
    assert [c.range_in_parent().start_time.to_frames() for c in picture] == [0, 12]
    assert [Path(c.media_reference.target_url.removeprefix("file://")) for c in picture] == [
        studio.take(s["take"]).path("video") for s in film["shots"]
    ]
    (song,) = audio
    assert song.name == "song.wav" and song.source_range.duration.to_frames() == 30
    assert (
        Path(song.media_reference.target_url.removeprefix("file://")).read_bytes()
        == (tmp_path / "song.wav").read_bytes()
    )

    back = studio.make_film(tmp_path / "film.otio")  # a new film: the same shots, their takes kept
    assert back["id"] != film["id"] and [s["take"] for s in back["shots"]] == [s["take"] for s in film["shots"]]
    assert [(s["frames"], s["prompt"]) for s in back["shots"]] == [(12, "a drummer"), (18, "the street")]
    assert back["soundtrack"] == song.media_reference.target_url.rsplit("/", 1)[-1]

    gone = studio.take(film["shots"][1]["take"]).path("video")
    gone.unlink()
    with pytest.raises(BadInput, match=r"references 1 file\(s\) that are gone: Shot 2") as refused:
        studio.make_film(tmp_path / "film.otio")
    assert "\n" not in str(refused.value)


def test_a_film_job_survives_a_restart_and_resumes_after_the_shots_made(studio, tmp_path, monkeypatch):
    from ltx_studio.studio import Studio

    film = studio.make_film(shot_list(tmp_path, [{"prompt": f"shot {i}", "seconds": 0.4} for i in range(3)]))
    denoises, second = [], threading.Event()

    def inject(site: str) -> None:
        """The second shot's denoise waits until the server is told to stop: it is mid-render then, always."""
        if site != "denoise":
            return
        denoises.append(site)
        if len(denoises) == 2:
            token = studio.jobs._runner._tokens[job.id]
            second.set()
            wait_for(lambda: token.cancelled, 60, "the server to stop")

    monkeypatch.setattr(faults, "inject", inject)
    job = studio.submit(FilmRender(film["id"]), owner="ada")
    assert job.record.params["count"] == 3 and job.record.label.endswith("3 shot(s)")
    assert second.wait(120), f"the second shot did not start: {studio.job(job.id)}"
    with pytest.raises(BadInput, match=f"film {film['id']} is already rendering \\(job {job.id}"):
        studio.submit(FilmRender(film["id"]))  # one render of a film at a time
    studio.close()  # the server goes down while the second shot renders
    monkeypatch.undo()
    made = studio.film(film["id"])["shots"][0]["take"]
    assert made is not None and studio.job(job.id).state == "running"

    again = Studio(model_set_name="demo", outputs=studio.store.root, manager=studio.manager)
    try:
        again.start_jobs()
        wait_for(lambda: again.job(job.id).state == "done", 120, "the film job to end after the restart")
        shots = again.film(film["id"])["shots"]
        assert shots[0]["take"] == made and all(s["take"] for s in shots)
        assert len({t.id for t in again.takes() if t.kind == "shot"}) == 3  # no shot made twice
        with pytest.raises(BadInput, match="has its take"):
            again.submit(FilmRender(film["id"]))
    finally:
        again.close()


BAD = {
    "a shot longer than the set renders": ([{"prompt": "a", "seconds": 30}], {}, "split it into shots that continue"),
    "a soundtrack shorter than the shots": (
        [{"prompt": "a", "seconds": 2}],
        {"soundtrack": "short.wav"},
        "shorter than",
    ),
    "a continue first shot": ([{"prompt": "a", "seconds": 1, "begins": "continue"}], {}, "nothing before it"),
    "an empty film": ([], {}, "has no shots"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_the_cli_refuses_a_bad_film_in_one_line_and_makes_nothing(case, studio, tmp_path, capsys):
    shots, film, words = BAD[case]
    beat(tmp_path / "short.wav", seconds=1.0)
    path = shot_list(tmp_path, shots, **film)
    assert cli(["film", str(path), "--outputs", str(studio.store.root), "--model-set", "demo"]) == 2
    err = capsys.readouterr().err.strip()
    assert words in err and "\n" not in err
    assert studio.film_list() == []


def test_the_cli_renders_a_film_prints_its_record_and_exports_it(studio, tmp_path, capsys):
    beat(tmp_path / "song.wav", seconds=1.5)
    path = shot_list(
        tmp_path, [{"prompt": "a", "seconds": 0.5}, {"prompt": "b", "seconds": 0.5}], soundtrack="song.wav"
    )
    common = ["--outputs", str(studio.store.root), "--model-set", "demo", "--quiet"]
    assert cli(["film", str(path), "--json", *common]) == 0
    film = json.loads(capsys.readouterr().out)
    assert {"id", "version", "seconds", "frames", "fps"} <= set(film) and film["frames"] == 24 and film["fps"] == FPS
    assert [(s["start"], s["seconds"]) for s in film["shots"]] == [(0.0, 0.5), (0.5, 0.5)]
    assert all(studio.take(s["take"]).status == "ok" for s in film["shots"])

    assert cli(["film", "rerender", film["id"], "--shot", "3", *common]) == 2
    assert "has shots 1 to 2, not 3" in capsys.readouterr().err
    assert cli(["film", "rerender", film["id"], "--shot", "2", "--json", *common]) == 0
    second = json.loads(capsys.readouterr().out)
    assert second["version"] == 2 and second["shots"][0]["take"] == film["shots"][0]["take"]
    mp4, edit = tmp_path / "out.mp4", tmp_path / "out.otio"
    assert cli(["film", "export", film["id"], "--mp4", str(mp4), "--otio", str(edit), *common]) == 0
    assert media.probe_mp4(mp4)["frames"] == 24 and edit.is_file()


def test_editing_a_shot_makes_a_version_and_marks_what_no_longer_fits(studio, tmp_path):
    beat(tmp_path / "song.wav", seconds=2.0)
    made = studio.make_film(shot_list(tmp_path, [
        {"prompt": "one", "seconds": 0.4}, {"prompt": "two", "seconds": 0.4, "begins": "continue"},
        {"prompt": "three", "seconds": 0.4},
    ], soundtrack="song.wav"))  # fmt: skip
    film = studio.render_film(made["id"])
    films = studio.films.edits
    takes = [s["take"] for s in film["shots"]]

    edited = films.edit_shot(film["id"], 1, prompt="one, closer")  # shot 1 to render; shot 2 went on from it
    assert edited.version == 2 and [s["take"] for s in edited.record["shots"]] == [None, *takes[1:]]
    longer = films.edit_shot(film["id"], 3, seconds=0.5)  # its take is 10 frames, its place 12 now
    assert longer.record["shots"][2]["take"] is None and studio.film(film["id"])["shots"][2]["stale"] is False
    moved = films.move_shot(film["id"], 3, 1)  # every shot moves on the song: each is stale where rendered
    assert [s["prompt"] for s in moved.record["shots"]] == ["three", "one, closer", "two"]
    assert moved.record["shots"][1]["begins"] == "cut" and studio.films.stale(moved) == [3]
    gone = films.delete_shot(film["id"], 1)
    assert [s["begins"] for s in gone.record["shots"]] == ["cut", "continue"]
    with pytest.raises(BadInput, match="shots 1 to 2, not 5"):
        films.edit_shot(film["id"], 5, prompt="x")
    with pytest.raises(BadInput, match="split it into shots that continue"):
        films.edit_shot(film["id"], 1, seconds=60)
    assert [v.version for v in films.store.versions(film["id"])] == [1, 2, 3, 4, 5]
    assert [s["take"] for s in studio.film(film["id"], 1)["shots"]] == takes  # version 1 as it was


@pytest.mark.parametrize("switched_off", [False, True], ids=["both-ends", "keyframes-at-index-0"])
def test_a_bridge_runs_from_the_last_frame_before_it_to_the_first_frame_after_it(studio, tmp_path, switched_off,
                                                                                  monkeypatch):  # fmt: skip
    from diffusers.pipelines.ltx2 import LTX2VideoCondition
    from PIL import Image

    film = studio.render_film(studio.make_film(shot_list(tmp_path, [
        {"prompt": "a door", "seconds": 0.5, "seed": 1}, {"prompt": "a street", "seconds": 0.5, "seed": 2},
    ]))["id"])  # fmt: skip
    bridged = studio.films.edits.bridge(film["id"], 1, "walking out", seconds=0.4)
    assert [s["begins"] for s in bridged.record["shots"]] == ["cut", "bridge", "cut"]
    assert bridged.record["shots"][1]["seconds"] == 10 / FPS  # its last frame on the keyframe grid (frame 9)
    if switched_off:
        family = type(studio.manager.family)
        monkeypatch.setattr(family, "keyframe_index", staticmethod(lambda frame, frames: (0, 0)))
    with recording(studio, "fast") as calls:
        done = studio.render_film(film["id"])
    take = studio.take(done["shots"][1]["take"])
    assert take.frames == 10 and [s["take"] for s in done["shots"]][::2] == [s["take"] for s in film["shots"]]
    assert take.settings["film"]["after"] == film["shots"][0]["take"] and not done["shots"][1]["stale"]

    pipe = studio.manager.get("fast")
    crf = studio.model_set.variant("fast").sampling.image_crf
    first_after = Image.fromarray(frames_of(studio.take(film["shots"][1]["take"]).path("video"))[0])
    pixels = pipe.preprocess_conditions(
        [LTX2VideoCondition(frames=first_after, index=2, strength=1.0, crf=crf)], 64, 96, 17, pipe._execution_device
    )[0][0]
    with torch.no_grad():
        end = fed_video(pipe, pipe.vae.encode(pixels).latent_dist.mode())
    main = calls[0].main_tokens
    with fails_when(switched_off, match="the bridge does not end on the next shot's first frame"):
        assert [k["frame"] for k in take.settings["keyframes"]] == [0, 9], (
            "the bridge does not end on the next shot's first frame"
        )
        for call in calls:
            assert close(call.hidden[:, -end.shape[1] :], end), "the bridge does not end on the next shot's first frame"
            assert (call.timestep[:, main:] == 0).all()


@pytest.mark.parametrize("switched_off", [False, True], ids=["subject-sheet", "first-frame"])
def test_a_cuts_reference_is_a_subject_sheet_through_the_sets_ic_lora(studio, tmp_path, switched_off, monkeypatch):
    from dataclasses import replace

    from conftest import FIRST_FRAMES

    if switched_off:  # a set without the reference-sheet IC-LoRA: the reference is the cut's first frame
        monkeypatch.setattr(studio.renderer, "model_set", replace(studio.model_set, subject_lora=None))
    (tmp_path / "sheet.jpg").write_bytes((FIRST_FRAMES / "rocket.jpg").read_bytes())
    film = studio.make_film(shot_list(tmp_path, [{"prompt": "the rocket", "seconds": 0.5, "reference": "sheet.jpg"}]))
    with recording(studio, "fast") as calls:
        film = studio.render_film(film["id"])
    take = studio.take(film["shots"][0]["take"])
    with fails_when(switched_off, match="the sheet is not fed beside the clip"):
        assert take.settings.get("reference") and take.image is None, "the sheet is not fed beside the clip"
        for call in calls:  # the still looped to the clip's 17 frames: as many tokens again, held clean
            assert call.hidden.shape[1] == 2 * call.main_tokens, "the sheet is not fed beside the clip"
            assert (call.timestep[:, call.main_tokens :] == 0).all() and call.loras
    if switched_off:
        assert take.image == "first_frame.png" and not calls[0].loras


def test_a_shot_retaken_or_extended_is_the_films_new_version_and_the_others_stay(studio, tmp_path, capsys):
    beat(tmp_path / "song.wav", seconds=3.0)
    film = studio.render_film(studio.make_film(shot_list(tmp_path, [
        {"prompt": "one", "seconds": 0.7}, {"prompt": "two", "seconds": 0.7, "begins": "continue"},
        {"prompt": "three", "seconds": 0.7},
    ], soundtrack="song.wav"))["id"])  # fmt: skip
    takes = [s["take"] for s in film["shots"]]
    common = ["--outputs", str(studio.store.root), "--model-set", "demo", "--quiet", "--json"]
    assert cli(["film", "retake", film["id"], "--shot", "2", "--start", "0.2", "--end", "0.5", *common]) == 0
    retaken = json.loads(capsys.readouterr().out)
    new = retaken["shots"][1]["take"]
    assert studio.take(new).kind == "retake" and studio.take(new).parent == takes[1]
    assert [s["take"] for s in retaken["shots"]] == [takes[0], new, takes[2]] and not any(
        s["stale"] for s in retaken["shots"]
    )
    assert retaken["frames"] == film["frames"]  # a retake keeps the shot's length: nothing moves

    longer = studio.extend_shot(film["id"], 1, 0.33)  # one latent frame more: the shots after it move along
    assert longer["shots"][0]["frames"] == 17 + 8 and longer["frames"] == film["frames"] + 8
    assert [s["stale"] for s in longer["shots"]] == [False, True, True]  # shot 2 went on from the old shot 1
    assert cli(["film", "extend", film["id"], "--shot", "9", "--seconds", "1", *common]) == 2
    assert "has shots 1 to 3, not 9" in capsys.readouterr().err
    with pytest.raises(BadInput, match="was not made from shot 3's take"):
        studio.films.edits.use_take(film["id"], 3, takes[0])


def test_rendering_a_shot_again_with_stale_takes_the_bridge_and_the_continue_beside_it(studio, tmp_path):
    film = studio.render_film(studio.make_film(shot_list(tmp_path, [
        {"prompt": "a", "seconds": 0.5}, {"prompt": "b", "seconds": 0.5}, {"prompt": "c", "seconds": 0.5, "begins": "continue"},
    ]))["id"])  # fmt: skip
    studio.films.edits.bridge(film["id"], 1, "a to b", seconds=0.4)  # shots: a, bridge, b, c (continues b)
    bridged = studio.render_film(film["id"])
    again = studio.rerender_film(film["id"], [3], stale=True)  # b again: the bridge ends on it, c goes on from it
    assert [s["take"] is None for s in again["shots"]] == [False, True, True, True]
    done = studio.render_film(film["id"])
    assert done["shots"][0]["take"] == bridged["shots"][0]["take"] and not any(s["stale"] for s in done["shots"])


def test_a_shot_is_retaken_as_one_job_of_the_queue_that_also_revises_the_film(studio, tmp_path):
    from ltx_studio.jobs.ops import FilmShot

    film = studio.render_film(studio.make_film(shot_list(tmp_path, [{"prompt": "a", "seconds": 0.7}] * 2))["id"])
    job = studio.submit(FilmShot(film["id"], 2, "retake", 0.1, 0.4), owner="ada")
    (take,) = studio.wait(job.id, timeout=120)
    now = studio.film(film["id"])
    assert take.kind == "retake" and take.parent == film["shots"][1]["take"]
    assert now["version"] == film["version"] + 1 and [s["take"] for s in now["shots"]] == [
        film["shots"][0]["take"],
        take.id,
    ]
    with pytest.raises(BadInput, match="retaken or extended, not 'zoom'"):
        studio.submit(FilmShot(film["id"], 1, "zoom"))
    with pytest.raises(BadInput, match="has shots 1 to 2, not 3"):
        studio.submit(FilmShot(film["id"], 3, "extend", seconds=1))
