"""Media in and out: H.264 (+ AAC) mp4 that browsers play, poster PNGs, JSON sidecars, first-frame images.

Every file is written to a temporary name and renamed, so a reader never sees half a file.
"""

from __future__ import annotations

import json
import os
import secrets
from fractions import Fraction
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from ..core.errors import BadInput

MAX_IMAGE_PIXELS = 7680 * 4320  # 8K UHD (33 MP); checked from the header, before decoding (Pillow refuses twice this)


def tmp_path(path: Path) -> Path:
    """A hidden name beside `path` to write it under before it is renamed into place: its own for each
    writer (two threads writing one file, e.g. two exports of a film at once, never share it)."""
    return path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp{path.suffix}")


def commit(tmp: Path, path: Path) -> Path:
    """Make a fully written temporary file durable, then give it its final name (atomic rename)."""
    with open(tmp, "rb+") as handle:
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    sync_folder(path.parent)
    return path


def sync_folder(folder: Path) -> None:
    """fsync a folder so a rename inside it survives a power loss (where the OS allows it)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_mp4(
    path: Path,
    frames: np.ndarray,
    fps: int,
    metadata: dict | None = None,
    audio: np.ndarray | None = None,
    sample_rate: int | None = None,
) -> Path:
    """Write uint8 frames [F, H, W, 3] as H.264 yuv420p mp4 (faststart), metadata in its comment tag.

    With `audio` (float [channels, samples] in -1..1, mono or stereo) the file gets a stereo AAC
    track at `sample_rate`, of exactly the picture's duration.
    """
    import av

    path = Path(path)
    tmp = tmp_path(path)
    _, height, width, _ = frames.shape
    container = av.open(str(tmp), mode="w", format="mp4", options={"movflags": "+faststart"})
    try:
        if metadata:
            container.metadata["comment"] = json.dumps(metadata, separators=(",", ":"))
        stream = container.add_stream("libx264", rate=int(fps))
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"crf": "18", "preset": "veryfast"}
        sound = add_aac_stream(container, int(sample_rate)) if audio is not None else None  # before any packet
        for frame in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")))
        container.mux(stream.encode())
        if audio is not None:
            samples = fit_waveform(np.asarray(audio, dtype=np.float32), round(len(frames) / fps * sample_rate))
            encode_sound(container, sound, samples, int(sample_rate))
    finally:
        container.close()
    # Make sure the file holds every frame before it gets its final name.
    try:
        written = written_frames(tmp)
    except (OSError, ValueError) as exc:
        raise OSError(f"the video writer left an unreadable file ({exc})") from None
    if written != len(frames):
        raise OSError(f"the video writer wrote {written} of {len(frames)} frames")
    return commit(tmp, path)


def written_frames(path: Path) -> int:
    """The video frames an mp4 just written holds, read from its packets (one a frame in H.264 mp4): a
    demux reads the container without decoding (a tenth of probe_mp4's time on a draft). A file whose
    streams hold fewer packets than its index lists (cut short), or a damaged packet, is an OSError."""
    import av

    try:
        with av.open(str(path)) as container:
            counts = dict.fromkeys(container.streams, 0)
            for packet in container.demux():
                if packet.stream in counts and packet.size:
                    if packet.is_corrupt:
                        raise OSError(f"a damaged {packet.stream.type} packet")
                    counts[packet.stream] += 1
            video = container.streams.video[0]
            short = [f"{s.type} {n} of {s.frames}" for s, n in counts.items() if s.frames and n != s.frames]
    except av.error.FFmpegError as exc:
        raise OSError(str(exc)) from None
    if short:
        raise OSError(f"packets missing ({', '.join(short)})")
    return counts[video]


def add_aac_stream(container, rate: int):
    """A stereo AAC stream at `rate` (callers keep to rates AAC takes), in the encoder's default bit rate."""
    stream = container.add_stream("aac", rate=rate)
    stream.codec_context.layout = "stereo"
    stream.codec_context.time_base = Fraction(1, rate)  # one tick a sample: pts count samples
    return stream


def encode_sound(container, stream, waveform: np.ndarray, rate: int) -> None:
    """Encode a float [channels, samples] waveform into `stream` and flush the encoder.

    The track is always stereo: mono is played on both sides, as the LTX-2 exporters wrote it.
    """
    import av

    wave = np.atleast_2d(waveform)
    if wave.shape[0] == 1:
        wave = np.repeat(wave, 2, axis=0)
    if wave.shape[0] != 2:
        raise ValueError(f"expected a mono or stereo waveform [channels, samples], got shape {waveform.shape}")
    # On the 16-bit grid, as the sound was encoded before (diffusers' helpers went through s16): that
    # step is also a noise floor FFmpeg's AAC encoder handles pure synthetic tones better with.
    wave = (np.round(np.clip(wave, -1.0, 1.0) * 32767) / 32767).astype(np.float32)
    frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(wave), format="fltp", layout="stereo")
    frame.sample_rate, frame.pts, frame.time_base = rate, 0, Fraction(1, rate)
    # One frame for the whole track: PyAV cuts it into the encoder's 1024-sample frames and hands over
    # the short last one unpadded, so the track's duration ends on the last real sample.
    for packet in stream.encode(frame):
        container.mux(packet)
    for packet in stream.encode(None):  # flush: that short last frame, then what the encoder held back
        container.mux(packet)


def fit_waveform(waveform: np.ndarray, samples: int) -> np.ndarray:
    """Trim or pad (with silence) a [channels, n] waveform to exactly `samples`, so sound and picture end together."""
    have = waveform.shape[-1]
    if have >= samples:
        return waveform[..., :samples]
    return np.pad(waveform, [(0, 0)] * (waveform.ndim - 1) + [(0, samples - have)])


def probe_mp4(path: Path) -> dict:
    """What an mp4 holds: frames, size, fps, and its sound track (seconds, sample rate, channels) if any."""
    import av

    try:
        with av.open(str(path)) as container:
            video = container.streams.video[0]
            frames = sum(1 for _ in container.decode(video))
            info = {
                "frames": frames,
                "width": video.codec_context.width,
                "height": video.codec_context.height,
                "fps": float(video.average_rate or 0),
                "comment": container.metadata.get("comment"),
                "audio": None,
            }
            if container.streams.audio:
                track = container.streams.audio[0]
                container.seek(0)
                samples = sum(f.samples for f in container.decode(track))
                info["audio"] = {
                    "seconds": samples / track.rate,
                    "sample_rate": track.rate,
                    "channels": track.channels,
                    "codec": track.codec_context.name,
                }
            return info
    except av.error.FFmpegError as exc:
        raise OSError(str(exc)) from None


def read_mp4(path: Path) -> tuple[np.ndarray, dict]:
    """Decode an mp4 to uint8 frames [F, H, W, 3] and its ffmpeg metadata (for tests and checks)."""
    import imageio_ffmpeg

    reader = imageio_ffmpeg.read_frames(str(path))
    meta = next(reader)
    width, height = meta["size"]
    frames = [np.frombuffer(f, dtype=np.uint8).reshape(height, width, 3) for f in reader]
    return np.stack(frames), meta


def read_audio(path: Path) -> tuple[np.ndarray | None, int | None]:
    """The soundtrack of an mp4 as float32 [channels, samples] and its sample rate (None, None if silent)."""
    import av

    with av.open(str(path)) as container:
        if not container.streams.audio:
            return None, None
        track = container.streams.audio[0]
        chunks = [frame.to_ndarray() for frame in container.decode(track)]
        rate = track.codec_context.sample_rate
    if not chunks:
        return None, None
    return np.concatenate(chunks, axis=1).astype(np.float32), int(rate)


def write_png(path: Path, image: np.ndarray | Image.Image) -> Path:
    path = Path(path)
    tmp = tmp_path(path)
    (image if isinstance(image, Image.Image) else Image.fromarray(image)).save(tmp, format="PNG")
    return commit(tmp, path)


def write_json(path: Path, data: dict) -> Path:
    path = Path(path)
    tmp = tmp_path(path)
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True), encoding="utf-8")
    return commit(tmp, path)


def check_image(path: str | Path) -> tuple[int, int]:
    """An image file's (width, height) from its header, nothing decoded; BadInput in one line when it is no
    image Pillow reads or has more than MAX_IMAGE_PIXELS (the page refuses a first frame at upload with it)."""
    path = Path(path)
    if not path.is_file():
        raise BadInput(f"image not found: {path.name}")
    try:
        with Image.open(path) as opened:
            size = opened.size
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        raise BadInput(f"{path.name} is not an image this studio reads (PNG, JPEG, WebP...)") from None
    if size[0] * size[1] > MAX_IMAGE_PIXELS:
        raise BadInput(f"image too large: {path.name} is {size[0]}x{size[1]} (at most {MAX_IMAGE_PIXELS:,} pixels)")
    return size


def load_image(path: str | Path) -> Image.Image:
    """An RGB image from any file Pillow reads: EXIF orientation applied, alpha flattened on white."""
    path = Path(path)
    if not path.is_file():
        raise BadInput(f"image not found: {path.name}")
    Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS
    try:
        with Image.open(path) as opened:
            if opened.width * opened.height > MAX_IMAGE_PIXELS:
                raise BadInput(
                    f"image too large: {path.name} is {opened.width}x{opened.height} (at most {MAX_IMAGE_PIXELS:,} pixels)"
                )
            opened.load()
            image = ImageOps.exif_transpose(opened)
    except Image.DecompressionBombError:
        raise BadInput(f"image too large: {path.name} has more than {MAX_IMAGE_PIXELS:,} pixels") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        reason = "not an image Pillow can read" if isinstance(exc, UnidentifiedImageError) else str(exc)
        raise BadInput(f"cannot read image {path.name}: {reason[:200]}") from None
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        flat = Image.new("RGB", rgba.size, (255, 255, 255))
        flat.paste(rgba, mask=rgba.getchannel("A"))
        return flat
    return image.convert("RGB")


def h264_roundtrip(image: Image.Image, crf: int) -> Image.Image:
    """The image after one H.264 encode/decode at `crf`: what a frame of a compressed video looks like."""
    import tempfile

    frame = np.asarray(image.convert("RGB"))
    with tempfile.TemporaryDirectory(prefix="ltx-frame-") as folder:
        path = Path(folder) / "frame.mp4"
        import imageio_ffmpeg

        writer = imageio_ffmpeg.write_frames(
            str(path),
            (frame.shape[1], frame.shape[0]),
            codec="libx264",
            pix_fmt_out="yuv420p",
            macro_block_size=1,
            output_params=["-crf", str(crf)],
            ffmpeg_log_level="error",
        )
        writer.send(None)
        writer.send(np.ascontiguousarray(frame))
        writer.close()
        frames, _ = read_mp4(path)
    return Image.fromarray(frames[0])


def fit_frames(frames: np.ndarray, width: int, height: int) -> np.ndarray:
    """uint8 frames [F, H, W, 3] fitted to width x height (as `fit_image`), or as they are if they already are."""
    if frames.shape[1:3] == (height, width):
        return frames
    return np.stack([np.asarray(fit_image(Image.fromarray(f), width, height)) for f in frames])


def bounded(image: Image.Image, longest: int = 2048) -> Image.Image:
    """The image, shrunk to at most `longest` pixels on its long side (kept for re-fitting later)."""
    if max(image.size) <= longest:
        return image
    scale = longest / max(image.size)
    return image.resize((round(image.width * scale), round(image.height * scale)), Image.Resampling.LANCZOS)


def fit_image(image: Image.Image, width: int, height: int) -> Image.Image:
    """Scale to cover width x height and crop the centre (keeps the aspect, no stretching)."""
    return ImageOps.fit(image, (width, height), method=Image.Resampling.LANCZOS)


def disk_full(exc: BaseException, folder: Path) -> bool:
    """Whether a failed write means the disk is full.

    The errno or message of the error (or what caused it) says so; ffmpeg running out of space shows
    up only as a broken pipe or a short file, so an I/O error with almost no space left counts too.
    """
    import errno
    import shutil

    import torch

    from ..core.errors import Cancelled, StudioError

    if isinstance(exc, (StudioError, torch.OutOfMemoryError, KeyboardInterrupt, Cancelled)):
        return False
    chain, seen = exc, 0
    while chain is not None and seen < 5:
        if getattr(chain, "errno", None) in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
            return True
        text = str(chain).lower()
        if "no space left" in text or "disk is full" in text or "quota exceeded" in text:
            return True
        chain, seen = chain.__cause__ or chain.__context__, seen + 1
    if not isinstance(exc, OSError):
        return False
    try:
        return shutil.disk_usage(folder).free < 64 * 2**20
    except OSError:
        return False
