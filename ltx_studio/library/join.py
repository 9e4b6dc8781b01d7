"""Join mp4 clips into one, frame-exactly, without re-encoding their pictures where the codec allows.

Takes are written with one encoder setting (media.write_mp4: H.264, the same size and rate), and
every clip starts on a keyframe with a closed GOP, so clips of one size and rate join by copying
their packets, shifted in time: each clip's frames in the joined file are bit-for-bit the clip's
own. Clips whose streams differ (another size, rate or encoder setting) are decoded and encoded
once instead, and the result says so. The sound is given whole (a film's soundtrack, or the clips'
sound laid end to end) and encoded once over the joined length: AAC frames copied clip by clip would
click at every join.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from . import media


@dataclass(frozen=True)
class Joined:
    """What `join_mp4` wrote: its frames, and whether the pictures were copied or encoded again."""

    path: Path
    frames: int
    copied: bool


def join_mp4(
    parts: list[Path],
    path: Path,
    *,
    audio: np.ndarray | None = None,
    sample_rate: int | None = None,
    metadata: dict | None = None,
) -> Joined:
    """Write the clips `parts` one after another as `path`, with `audio` (float [channels, samples])
    as its sound, fitted to the joined length. Written aside, then renamed: a failure leaves nothing."""
    import av

    if not parts:
        raise ValueError("nothing to join")
    infos = [_stream_info(part) for part in parts]
    copy = all(info == infos[0] for info in infos) and infos[0]["codec"] == "h264"
    path = Path(path)
    tmp = media.tmp_path(path)
    total = 0
    out = av.open(str(tmp), mode="w", format="mp4", options={"movflags": "+faststart"})
    try:
        if metadata:
            out.metadata["comment"] = json.dumps(metadata, separators=(",", ":"))
        rate = infos[0]["rate"]
        if copy:
            with av.open(str(parts[0])) as first:
                stream = out.add_stream_from_template(first.streams.video[0])
            sound = media.add_aac_stream(out, int(sample_rate)) if audio is not None else None
            total = _copy_packets(out, stream, parts)
        else:
            stream = out.add_stream("libx264", rate=rate)
            stream.width, stream.height, stream.pix_fmt = infos[0]["width"], infos[0]["height"], "yuv420p"
            stream.options = {"crf": "18", "preset": "veryfast"}
            sound = media.add_aac_stream(out, int(sample_rate)) if audio is not None else None
            total = _encode_frames(out, stream, parts, infos[0]["width"], infos[0]["height"])
        if audio is not None:
            samples = media.fit_waveform(np.asarray(audio, dtype=np.float32), round(total / rate * sample_rate))
            media.encode_sound(out, sound, samples, int(sample_rate))
    finally:
        out.close()
    written = media.written_frames(tmp)
    if written != total:
        tmp.unlink(missing_ok=True)
        raise OSError(f"joining wrote {written} of {total} frames")
    return Joined(media.commit(tmp, path), total, copy)


def _stream_info(part: Path) -> dict:
    """What must match for two clips' packets to follow each other in one stream."""
    import av

    with av.open(str(part)) as container:
        video = container.streams.video[0]
        ctx = video.codec_context
        return {
            "codec": ctx.name,
            "width": ctx.width,
            "height": ctx.height,
            "rate": Fraction(video.average_rate or video.guessed_rate or 24),
            "time_base": video.time_base,
            "extradata": bytes(ctx.extradata or b""),
            "pix_fmt": ctx.pix_fmt,
        }


def _copy_packets(out, stream, parts: list[Path]) -> int:
    """Each clip's video packets in turn, their times shifted by the frames before them; the frames copied."""
    import av

    offset, total = 0, 0  # in the clips' time base (they share it)
    for part in parts:
        with av.open(str(part)) as container:
            video = container.streams.video[0]
            ticks = int(round(1 / (Fraction(video.average_rate) * video.time_base)))  # one frame's ticks
            frames = 0
            for packet in container.demux(video):
                if packet.size == 0:  # the demuxer's end marker
                    continue
                packet.pts = None if packet.pts is None else packet.pts + offset
                packet.dts = None if packet.dts is None else packet.dts + offset
                packet.stream = stream
                out.mux(packet)
                frames += 1
            offset += frames * ticks
            total += frames
    return total


def _encode_frames(out, stream, parts: list[Path], width: int, height: int) -> int:
    """Each clip decoded and encoded once into `stream` (clips of another size are fitted to the first's)."""
    import av

    total = 0
    for part in parts:
        frames, _ = media.read_mp4(part)
        for frame in media.fit_frames(frames, width, height):
            out.mux(stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")))
            total += 1
    out.mux(stream.encode())
    return total
