"""write_mp4's sound track: what goes in comes back out of the mp4 (through AAC)."""

from __future__ import annotations

import numpy as np
import pytest

from ltx_studio.library import media

AAC_FRAME = 1024  # samples per AAC frame: the decoder hands back whole frames


def tone(channels: int, rate: int, seconds: float = 1.0) -> np.ndarray:
    t = np.arange(round(seconds * rate)) / rate
    wave = 0.5 * np.sin(2 * np.pi * 440 * t)
    return np.stack([wave * (1 - 0.2 * c) for c in range(channels)]).astype(np.float32)


@pytest.mark.parametrize(("channels", "rate"), [(2, 44100), (1, 24000)])
def test_write_mp4_carries_the_sound_as_given(tmp_path, channels, rate):
    fps, count = 8, 8  # a few frames: 1 s of picture, so the 1 s tone is neither cut nor padded
    given = tone(channels, rate)
    frames = np.random.default_rng(0).integers(0, 255, (count, 64, 64, 3), dtype=np.uint8)
    path = media.write_mp4(tmp_path / "tone.mp4", frames, fps, {"k": 1}, given, rate)

    decoded, got_rate = media.read_audio(path)
    assert got_rate == rate
    assert decoded.shape[0] == 2  # the track is always stereo: mono is written on both sides
    assert abs(decoded.shape[1] - given.shape[1]) < AAC_FRAME
    n = given.shape[1]
    for side in range(2):
        source = given[min(side, channels - 1)]
        assert np.corrcoef(decoded[side, :n], source)[0, 1] > 0.9
    assert media.probe_mp4(path)["frames"] == count


def test_written_frames_counts_what_a_decoder_gets_and_refuses_a_file_cut_short(tmp_path):
    """write_mp4 checks its file by its packets (no decode): as many as the frames a decoder returns; a file
    cut short, in its picture or only in its sound's last packets, is refused (the writer keeps none such)."""
    frames = np.random.default_rng(1).integers(0, 255, (9, 64, 96, 3), dtype=np.uint8)
    path = media.write_mp4(tmp_path / "clip.mp4", frames, 24, None, tone(1, 48000, 9 / 24), 48000)
    assert media.written_frames(path) == media.probe_mp4(path)["frames"] == 9
    whole = path.read_bytes()
    for cut in (1, 2000, len(whole) // 2):  # the sound's packets come last; then the picture's too
        short = tmp_path / f"cut-{cut}.mp4"
        short.write_bytes(whole[: len(whole) - cut])
        with pytest.raises(OSError):
            media.written_frames(short)
