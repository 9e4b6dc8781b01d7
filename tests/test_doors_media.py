"""Video and audio bombs, oversized requests and floods, sent to a real server process: each is refused
in one line before any heavy work, with the server's peak memory (VmHWM) up by less than 100 MB and
its CPU time by less than a few seconds; and what is accepted decodes only what the render uses."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import wave
from fractions import Fraction
from pathlib import Path

import httpx
import numpy as np
import pytest
from conftest import ROOT, free_port, small
from PIL import Image

from ltx_studio.core.errors import BadInput
from ltx_studio.jobs.ops import AddSound, Draft
from ltx_studio.library import probe, sound

MEMORY_BOUND_MB = 100  # generous: each of these cost 500-1000 MB before it was probed first
CPU_BOUND_S = 3.0  # the 1/20000-fps file cost 9 s of CPU before


def write_video(path: Path, frames: int, size=(1280, 720), rate=24) -> Path:
    """An H.264 mp4 of black frames: a few KB on disk, whatever its frame count."""
    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=rate)
        stream.width, stream.height, stream.pix_fmt = size[0], size[1], "yuv420p"
        stream.options = {"crf": "51"}
        black = av.VideoFrame.from_ndarray(np.zeros((size[1], size[0], 3), np.uint8), format="rgb24")
        for _ in range(frames):
            for packet in stream.encode(black):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return path


def write_wav(path: Path, seconds: float, rate: int) -> Path:
    samples = (np.sin(np.arange(int(seconds * rate)) * 0.01) * 3000).astype("<i2")
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(samples.tobytes())
    return path


def write_flac(path: Path, seconds: float, rate: int = 16000) -> Path:
    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream("flac", rate=rate, layout="mono")
        chunk = 4096
        for start in range(0, int(seconds * rate), chunk):
            wave_part = (np.sin(np.arange(start, start + chunk) * 0.01) * 3000).astype("<i2")[None]
            frame = av.AudioFrame.from_ndarray(wave_part, format="s16", layout="mono")
            frame.sample_rate, frame.pts = rate, start
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return path


@pytest.fixture(scope="module")
def bombs(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("bombs")
    huge = Image.new("RGB", (8000, 8000))  # 64 MP of black: a small PNG
    huge.save(folder / "huge.png")
    return {
        "black_300": write_video(folder / "black.mp4", 300),
        "slow_fps": write_video(folder / "slow.mp4", 3, (64, 64), Fraction(1, 20000)),
        "wav_100hz": write_wav(folder / "low.wav", 600, 100),
        "flac_10min": write_flac(folder / "long.flac", 600),
        "huge_png": folder / "huge.png",
    }


def _status(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) // 1024  # MB
    raise AssertionError(f"no {field} for {pid}")


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """`python app.py` in its own process (so its memory is its own), warmed by one small draft."""
    from gradio_client import Client

    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "GRADIO_ANALYTICS_ENABLED": "False"}
    proc = subprocess.Popen(
        [sys.executable, "app.py", "--model-set", "demo", "--outputs", str(tmp_path_factory.mktemp("served")),
         "--port", str(port), "--no-warmup"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 180
    while True:
        try:
            client = Client(url, verbose=False)
            break
        except Exception:
            assert proc.poll() is None and time.monotonic() < deadline, "the studio did not start"
            time.sleep(0.3)
    client.predict(prompt="warm up", width=96, height=64, frames=9, seed=1, api_name="/draft")
    yield proc, client, url
    proc.kill()
    proc.wait(timeout=30)


def refused(server, call) -> tuple[str, int, float]:
    """(the one-line message, peak memory growth MB, CPU seconds) of a request the server refuses."""
    proc, client, _ = server
    peak, cpu = _status(proc.pid, "VmHWM"), _cpu_seconds(proc.pid)
    with pytest.raises(Exception) as caught:
        call(client)
    message = str(caught.value).strip()
    return message, _status(proc.pid, "VmHWM") - peak, _cpu_seconds(proc.pid) - cpu


def test_video_and_audio_bombs_are_refused_from_their_headers(server, bombs, report):
    from gradio_client import handle_file

    small_draft = {"prompt": "x", "width": 96, "height": 64, "api_name": "/draft"}
    cases = {
        # 300 frames of 1280x720 as a source video, over the frame limit: probed, never decoded
        "mp4 of 300 HD frames": (
            lambda c: c.predict(video=handle_file(str(bombs["black_300"])), frames=100_000, **small_draft),
            "frames is over",
        ),
        "mp4 at 1/20000 fps": (
            lambda c: c.predict(video=handle_file(str(bombs["slow_fps"])), **small_draft),
            "minutes long",
        ),
        "WAV at 100 Hz": (
            lambda c: c.predict(soundtrack=handle_file(str(bombs["wav_100hz"])), **small_draft),
            "sample rate of 100 Hz",
        ),
        "FLAC of 10 minutes": (
            lambda c: c.predict(soundtrack=handle_file(str(bombs["flac_10min"])), frames=100_000, **small_draft),
            "frames is over",
        ),
        "soundtrack for 300 HD frames": (
            lambda c: c.predict(video=handle_file(str(bombs["black_300"])), api_name="/soundtrack"),
            "a soundtrack is made for at most",
        ),
        "four 64 MP keyframes": (
            lambda c: c.predict(
                keyframes=[{"image": handle_file(str(bombs["huge_png"])), "seconds": s} for s in (0, 0.1, 0.2, 0.3)],
                **small_draft,
            ),
            "image too large",
        ),
    }
    for name, (call, words) in cases.items():
        message, grown, cpu = refused(server, call)
        report(f"{name}: refused ({message.splitlines()[-1][:90]}), peak memory +{grown} MB, CPU {cpu:.2f} s")
        assert words in message, (name, message)
        assert grown < MEMORY_BOUND_MB, (name, grown)
        assert cpu < CPU_BOUND_S, (name, cpu)


def test_an_oversized_body_and_a_flood_of_rows_are_refused_before_they_are_read(server, report):
    proc, client, url = server
    peak, cpu = _status(proc.pid, "VmHWM"), _cpu_seconds(proc.pid)
    prompt = "a" * (40 * 2**20)  # 40 MB: refused by its length header, never parsed
    answer = httpx.post(url + "gradio_api/call/draft", json={"data": [prompt]}, timeout=60)
    assert answer.status_code == 413 and answer.text.count("\n") == 1 and "request too large" in answer.text
    lines = "\n".join(f"prompt number {i}" for i in range(25_000))  # 400 KB of rows
    with pytest.raises(Exception, match="prompt list is too long"):
        client.predict(prompts=lines, api_name="/batch")
    with pytest.raises(Exception, match="at most 64 renders"):
        client.predict(prompts="\n".join(f"p{i}" for i in range(20)), seeds=4, api_name="/batch")
    grown, spent = _status(proc.pid, "VmHWM") - peak, _cpu_seconds(proc.pid) - cpu
    report(f"40 MB prompt + 400 KB batch + 20 rows x 4 seeds: peak memory +{grown} MB, CPU {spent:.2f} s")
    assert grown < MEMORY_BOUND_MB and spent < CPU_BOUND_S


# --- what is accepted decodes only what the render uses ------------------------------------------------


def counting(monkeypatch, module, name):
    calls, real = [], getattr(module, name)

    def counted(*args, **kwargs):
        result = real(*args, **kwargs)
        calls.append(result)
        return result

    monkeypatch.setattr(module, name, counted)
    return calls


def test_a_long_source_video_is_probed_at_the_door_and_the_job_decodes_only_its_clip(studio, bombs, monkeypatch):
    decoded = counting(monkeypatch, probe, "video_frames")
    request = small(prompt="restyle", video=str(bombs["black_300"]), frames=17)
    studio.check(Draft(request))
    assert decoded == []  # the request's check only read the headers
    job = studio.submit(Draft(request, preview=False), owner="test")
    [take] = studio.wait(job.id, timeout=300)
    [frames] = decoded
    assert len(frames) == take.settings["video"]["frames"] == 17  # 17 of the file's 300 frames decoded
    assert all(max(f.size) <= 1280 and f.height >= take.height for f in frames)
    assert max(frames[0].size) < 1280  # scaled down at once to the size it renders at


def test_a_ten_minute_soundtrack_is_decoded_only_as_far_as_its_clip(studio, bombs, monkeypatch):
    decoded = counting(monkeypatch, sound, "_decode_soundtrack")
    track = sound.read_soundtrack(bombs["flac_10min"])  # what the page does to show its length
    assert round(track.seconds) == 600 and decoded == []
    take = studio.render(small(prompt="a drummer", soundtrack=str(bombs["flac_10min"]), frames=25))
    [waveform] = decoded
    assert take.settings["soundtrack"]["cut"] is True
    assert waveform.shape[1] / 16000 <= 25 / 24 + 1.01  # the clip and a second of mel window, of 600 s


def test_headers_are_checked_before_anything_is_decoded(studio, tmp_path, bombs, monkeypatch):
    decoded = counting(monkeypatch, probe, "video_frames")
    with pytest.raises(BadInput, match="^long.flac is not a video"):
        probe.probe_video(bombs["flac_10min"])
    with pytest.raises(BadInput, match="1000 minutes long"):  # 3 frames at 1/20000 fps: 60,000 s, it says
        probe.probe_video(bombs["slow_fps"])
    clamped = probe.probe_video(write_video(tmp_path / "fast.mp4", 3, (64, 64), 1000))
    assert clamped.fps == probe.FPS_RANGE[1]  # 1000 fps is not believed either
    assert probe.probe_audio(write_wav(tmp_path / "ok.wav", 1.0, 16000)).rate == 16000
    with pytest.raises(BadInput, match="sample rate of 100 Hz"):
        sound.read_soundtrack(bombs["wav_100hz"])
    with pytest.raises(BadInput, match="^black.mp4 is 12.5 s long: a soundtrack is made for at most"):
        studio.check(AddSound(str(bombs["black_300"])))
    assert decoded == []


def test_a_deleted_take_is_no_longer_served(served, client):
    """The page shows a take through a gr.Video: Gradio's postprocess gives it a link. Served from the
    take's own folder (no cache copy), the link dies with the take."""
    from gradio import processing_utils
    from gradio.data_classes import FileData

    studio, url = served
    _, record = client.predict(prompt="a kite", width=96, height=64, frames=9, seed=2, api_name="/draft")
    assert record["video"] == "video.mp4" and "/" not in record["poster"]  # names, never server paths
    take = studio.take(record["id"])
    shown = processing_utils.move_files_to_cache(
        FileData(path=str(take.path("video"))).model_dump(), _a_video_of(studio), postprocess=True
    )
    link = url + "gradio_api/file=" + shown["path"]
    assert httpx.get(link, timeout=30).status_code == 200
    studio.delete(take.id)
    assert httpx.get(link, timeout=30).status_code in (403, 404)  # no copy of it left in a cache


def _a_video_of(studio):
    import gradio as gr

    with gr.Blocks():
        return gr.Video()
