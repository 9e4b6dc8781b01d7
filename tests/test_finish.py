"""Finishing passes (render/finish.py) on the demo set's tiny stand-ins: frame rate x2/x4 and slow motion,
repair and matte IC-LoRAs fed the source as their reference, HDR read back as HLG HEVC Main10 and EXR,
alpha as ProRes 4444, chains and their lineage, the memory plan's refusals and every door's one line."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace

import av
import numpy as np
import pytest
import torch
from recording import close, encoded, fails_when, fed_video, recording
from test_film_render import shot_list

from ltx_studio.cli import main as cli
from ltx_studio.core.errors import BadInput
from ltx_studio.jobs.ops import Draft, FilmRender, Finish, Upscale
from ltx_studio.library import media
from ltx_studio.models.pass_weights import temporal_upsampler
from ltx_studio.render import finish as finish_module
from ltx_studio.render.request import RenderRequest
from ltx_studio.render.story import load_latents
from ltx_studio.studio import Studio


@pytest.fixture(scope="module")
def finishing(tmp_path_factory, shared_manager):
    """A studio over the demo set and one source take with sound (17 frames, 192x128, 24 fps)."""
    studio = Studio(model_set_name="demo", outputs=tmp_path_factory.mktemp("finish"), manager=shared_manager)
    source = studio.render(RenderRequest(prompt="a lighthouse at dusk", frames=17, width=192, height=128, seed=7))
    yield studio, source
    studio.close()


def _seconds(path) -> tuple[int, float]:
    """(frames, fps) of an mp4 as its container says."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        return stream.frames, float(stream.average_rate)


@pytest.mark.parametrize("factor", [2, 4])
def test_frame_rate_x2_and_x4_keep_the_seconds_and_the_sound(finishing, factor):
    studio, source = finishing
    take = studio.finish(source.id, "frame-rate", factor=factor)
    assert take.parent == source.id and take.kind == "finish"
    assert take.frames == factor * (source.frames - 1) + 1 and take.fps == 24 * factor
    assert take.seconds == pytest.approx(source.seconds)
    assert _seconds(take.path("video")) == (take.frames, 24.0 * factor)
    assert take.settings["finish"] == {
        "pass": "frame-rate", "kind": "temporal", "factor": factor, "source": source.id, "sound": "kept"
    }  # fmt: skip
    theirs, rate = media.read_audio(source.path("video"))
    ours, our_rate = media.read_audio(take.path("video"))
    assert our_rate == rate and take.audio
    n = min(theirs.shape[1], ours.shape[1])
    assert abs(ours.shape[1] - theirs.shape[1]) <= 1024 + rate // 24  # the same seconds of sound (AAC framing)
    # The source's own sound through AAC once more (noise-like sound from tiny models: ~0.9), where a new one is ~0.
    assert np.corrcoef(theirs[0, :n], ours[0, :n])[0, 1] > 0.6


class _Blank(torch.nn.Module):
    """The temporal upsampler switched off: the latents it would make, all zero."""

    dtype = torch.float32

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, video):
        return torch.zeros_like(self.model(video))


def test_frame_rate_refines_the_upsampled_latents_at_the_new_rate(finishing, monkeypatch):
    studio, source = finishing
    model = temporal_upsampler(studio.manager, studio.model_set.passes["frame-rate"])
    with torch.no_grad():
        upsampled = model(load_latents(source).video)
    latent_frames = (source.frames - 1) // 8 + 1
    with recording(studio) as fed:
        take = studio.finish(source.id, "frame-rate", factor=2, seed=5)
    assert fed and all(call.frames == 2 * latent_frames - 1 for call in fed)  # T latent frames -> 2T - 1
    last_token_end = float(fed[0].coords[0, 0, fed[0].main_tokens - 1, 1])
    assert last_token_end == pytest.approx(take.frames / take.fps, abs=1.5 / take.fps)  # positions at 48 fps
    monkeypatch.setattr(finish_module, "temporal_upsampler", lambda manager, one: _Blank(model))
    with recording(studio) as blank:  # the same seed (the same noise) from zero latents
        studio.finish(source.id, "frame-rate", factor=2, seed=5)
    # The refine starts from its latents, noised to its first sigma: the first step's tokens differ from a
    # start at zero by exactly (1 - sigma) x the upsampled latents, as the loop feeds them.
    pipe = studio.manager.get(studio.model_set.default_variant)
    sigma = float(fed[0].timestep[0, 0]) / 1000
    expected = (1 - sigma) * (fed_video(pipe, upsampled) - fed_video(pipe, torch.zeros_like(upsampled)))
    assert close(fed[0].hidden - blank[0].hidden, expected, atol=1e-4)
    assert not close(fed[0].hidden, blank[0].hidden, atol=1e-4)


def test_slow_motion_plays_the_new_frames_at_the_sources_rate_without_sound(finishing):
    studio, source = finishing
    take = studio.finish(source.id, "slow-motion", factor=2)
    assert take.frames == 2 * (source.frames - 1) + 1 and take.fps == source.fps
    assert take.seconds == pytest.approx(2 * source.seconds)
    assert not take.audio and take.settings["finish"]["sound"] == "dropped"
    assert _seconds(take.path("video")) == (take.frames, 24.0)


@pytest.mark.parametrize("switched_off", [False, True], ids=["reference", "no-reference"])
def test_a_repair_pass_feeds_the_source_as_its_reference_through_its_ic_lora(finishing, switched_off, monkeypatch):
    studio, source = finishing
    if switched_off:  # the same pass with its reference and LoRA left out: the assertions must see it
        monkeypatch.setattr(finish_module, "RenderRequest", lambda **kw: RenderRequest(**{**kw, "reference": None,
                                                                                           "loras": []}))  # fmt: skip
    with recording(studio) as calls:
        take = studio.finish(source.id, "deblur")
    assert take.parent == source.id and (take.frames, take.width, take.height) == (17, 192, 128)
    pipe = studio.manager.get(studio.model_set.default_variant)
    frames, _ = media.read_mp4(source.path("video"))
    reference = fed_video(pipe, encoded(pipe, frames))
    with fails_when(switched_off, match="the source is not fed as the reference"):
        for call in calls:  # the clip's tokens, then as many again: the source's, held clean, the LoRA live
            assert call.hidden.shape[1] == 2 * call.main_tokens, "the source is not fed as the reference"
            assert (call.timestep[:, call.main_tokens :] == 0).all() and call.loras
            assert close(call.hidden[:, call.main_tokens :], reference, atol=1e-3)
    theirs, _ = media.read_audio(source.path("video"))
    ours, _ = media.read_audio(take.path("video"))
    assert ours.shape == theirs.shape  # the source's sound, kept


def test_hdr_writes_a_10_bit_hlg_master_and_exr_frames_beside_an_sdr_take(finishing):
    studio, source = finishing
    take = studio.finish(source.id, "hdr", exr=True)
    files = take.settings["files"]
    assert files == {"hdr": "hdr.mp4", "exr": "exr", "exr_zip": "exr.zip"}
    folder = take.path("video").parent
    with av.open(str(folder / "hdr.mp4")) as container:
        stream = container.streams.video[0]
        context = stream.codec_context
        assert (context.name, context.pix_fmt) == ("hevc", "yuv420p10le")  # HEVC Main10
        assert (context.color_primaries, context.color_trc) == (9, 18)  # BT.2020, HLG (arib-std-b67)
        assert stream.frames == take.frames and len(container.streams.audio) == 1
        first = next(container.decode(video=0))
        luma = np.frombuffer(first.planes[0], np.uint16).reshape(first.height, -1)[:, : first.width]
        assert luma.max() > 255 or len(np.unique(luma)) > 1  # 10-bit codes, not an 8-bit picture
    exr = sorted((folder / "exr").glob("*.exr"))
    assert [p.name for p in exr[:2]] == ["frame-00000.exr", "frame-00001.exr"] and len(exr) == take.frames
    with av.open(str(exr[0])) as container:
        frame = next(container.decode(video=0))
        green = np.frombuffer(frame.planes[0], np.float16).reshape(frame.height, -1)[:, : frame.width]
        assert frame.format.name == "gbrpf16le" and np.isfinite(green).all() and green.min() >= 0
    assert _seconds(take.path("video")) == (take.frames, 24.0)  # the SDR take plays in the page


def test_an_alpha_matte_is_a_prores_4444_with_a_varying_alpha_and_a_greyscale_mp4(finishing):
    studio, source = finishing
    take = studio.finish(source.id, "alpha")
    assert take.settings["files"] == {"alpha": "alpha.mov"}
    matte, _ = media.read_mp4(take.path("video"))
    spread = np.abs(matte.astype(int) - matte.mean(axis=-1, keepdims=True)).max()
    assert spread <= 3  # greyscale (chroma subsampling leaves a level or two)
    with av.open(str(take.path("video").parent / "alpha.mov")) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "prores" and stream.frames == take.frames
        rgba = next(container.decode(video=0)).to_ndarray(format="rgba")
    assert rgba[..., 3].min() < rgba[..., 3].max()  # an alpha channel, and it varies


def test_passes_chain_and_keep_their_lineage(finishing):
    studio, source = finishing
    restored = studio.finish(source.id, "restore")
    faster = studio.finish(restored.id, "frame-rate", factor=2)
    graded = studio.finish(faster.id, "hdr")
    assert (graded.parent, faster.parent, restored.parent) == (faster.id, restored.id, source.id)
    assert graded.fps == 48 and graded.frames == faster.frames == 2 * (source.frames - 1) + 1


def test_a_video_file_is_finished_like_a_take(finishing, tmp_path):
    studio, source = finishing
    clip = tmp_path / "my clip.mp4"
    shutil.copy(source.path("video"), clip)
    job = studio.submit(Finish(str(clip), "deblur"))
    take = studio.wait(job.id)[-1]
    assert take.parent is None and take.settings["finish"]["source"] == "my clip.mp4"
    assert len(take.settings["finish"]["sha256"]) == 64 and take.frames == source.frames


def test_bad_input_is_one_line_and_nothing_is_queued(finishing, tmp_path):
    studio, source = finishing
    before = len(studio.job_list(limit=10_000))
    not_video = tmp_path / "notes.mp4"
    not_video.write_text("not a video")
    refusals = [
        (Finish(source.id, "sharpen"), "has no pass 'sharpen'; its passes: frame-rate, slow-motion, hdr"),
        (Finish(str(not_video), "deblur"), "is not a video"),
        (Finish(source.id, "frame-rate", factor=3), "the frame-rate factor is 2 or 4, not 3"),
        (Finish(source.id, "deblur", factor=2), "keeps the frame rate"),
        (Finish(source.id, "clean-plate"), "needs a prompt"),
        (Finish("20990101-000000-abcdef", "deblur"), "neither a take id nor a video file"),
    ]
    for op, said in refusals:
        with pytest.raises(BadInput, match=said) as refused:
            studio.submit(op)
        assert "\n" not in str(refused.value)
    assert len(studio.job_list(limit=10_000)) == before


def test_hdr_on_a_set_without_the_hdr_lora_is_refused(finishing, monkeypatch):
    studio, source = finishing
    without = {k: v for k, v in studio.model_set.passes.items() if k != "hdr"}
    monkeypatch.setattr(studio.renderer, "model_set", replace(studio.model_set, passes=without))
    with pytest.raises(BadInput, match="has no HDR pass .it needs the HDR IC-LoRA.; its passes: frame-rate"):
        studio.submit(Finish(source.id, "hdr"))


def test_a_request_too_large_for_the_memory_plan_is_refused_before_it_is_queued(finishing, monkeypatch, tmp_path):
    from ltx_studio.models.policy import activation_bytes

    studio, source = finishing
    room = activation_bytes(192, 128, 17, tiled=False)  # this card holds a 17-frame 192x128 render whole
    monkeypatch.setattr(studio.manager, "policy", replace(studio.manager.policy, room_bytes=room, vae_tiling=False))
    most = studio.manager.policy.max_frames(192, 128)  # with its denoise in tiles, more than 17 fit
    assert 17 < most < 65
    before = len(studio.job_list(limit=10_000))
    request = RenderRequest(prompt="too long", frames=97, width=192, height=128, guidance=1.0)
    limit = rf"longest clip that fits at this size is {most} frames \({(most - 1) / 24:.2f} s\)"
    with pytest.raises(BadInput, match=limit):
        studio.submit(Draft(request))
    with pytest.raises(BadInput, match=rf"longest clip that fits at this size is {most} frames"):
        studio.submit(Finish(source.id, "frame-rate", factor=4))  # 65 frames at 96 fps
    with pytest.raises(BadInput, match=r"17 frames \(0\.67 s\) at 384x256 does not fit this card's memory plan"):
        studio.submit(Upscale(source.id))  # its x2 final
    film = studio.make_film(shot_list(tmp_path, [{"prompt": "short", "seconds": 0.5}, {"prompt": "long", "seconds": 4}],
                                      width=192, height=128))  # fmt: skip
    with pytest.raises(BadInput, match=rf"97 frames \(4\.00 s\) at 192x128 .* is {most} frames"):
        studio.submit(FilmRender(film["id"]))  # its longest shot
    assert len(studio.job_list(limit=10_000)) == before
    studio.submit(Draft(replace(request, frames=most)))  # what fits is queued


def test_the_cli_prints_the_new_takes_record(finishing, capsys):
    studio, source = finishing
    common = ["--outputs", str(studio.store.root), "--model-set", "demo", "--quiet"]
    assert cli(["finish", source.id, "--pass", "frame-rate", "--factor", "2", "--json", *common]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["parent"] == source.id and (printed["fps"], printed["frames"]) == (48, 33)
    assert printed["pass"]["pass"] == "frame-rate" and printed["path"].endswith("video.mp4")
    assert cli(["finish", source.id, "--pass", "frame-rate", "--factor", "3", *common]) == 2
    assert capsys.readouterr().err.strip() == "error: the frame-rate factor is 2 or 4, not '3'"
    assert cli(["finish", "--list", *common]) == 0
    assert "clean-plate" in capsys.readouterr().out


def test_a_clip_off_the_grid_comes_back_at_its_own_size_and_length(finishing, tmp_path):
    studio, _ = finishing
    rng = np.random.default_rng(3)
    frames = rng.integers(0, 255, (13, 120, 200, 3), dtype=np.uint8)  # 200x120, 13 frames: neither on the grid
    clip = media.write_mp4(tmp_path / "plate.mp4", frames, 24)
    repaired = studio.finish(str(clip), "deblur")
    assert (repaired.width, repaired.height, repaired.frames) == (200, 120, 13)  # padded to 224x128, cropped back
    faster = studio.finish(str(clip), "frame-rate", factor=2)
    assert (faster.width, faster.height, faster.frames, faster.fps) == (200, 120, 25, 48)
    matte = studio.finish(str(clip), "alpha")
    with av.open(str(matte.path("video").parent / "alpha.mov")) as container:
        plate = next(container.decode(video=0)).to_ndarray(format="rgb24")
    theirs, _ = media.read_mp4(clip)
    assert plate.shape == (120, 200, 3) and np.abs(plate.astype(int) - theirs[0]).mean() < 6  # the plate's own pixels
