"""Files for grading and compositing: HDR (LogC3 in, linear light, a 10-bit HLG HEVC mp4 and OpenEXR
frames out) and alpha (a ProRes 4444 .mov with the matte as its alpha channel). PyAV writes them all.

- The HDR IC-LoRA's decoded picture is LogC3 (ARRI, EI 800) of scene-linear Rec.709 light, as
  diffusers' `LTX2VideoHDRProcessor` and Lightricks' HDR pipeline read it; `logc3_to_linear` is that curve.
- The HDR mp4 is HEVC Main10 (yuv420p10le), BT.2020 primaries, HLG transfer (arib-std-b67), the master
  Lightricks' own HDR code writes (ltx_core color/hlg.py): linear Rec.709 rotated to BT.2020, diffuse
  white at 75% HLG signal, highlights above it rolled off softly, then the HLG OETF. HLG, not PQ: it
  plays as a watchable picture on an SDR screen too, and needs no mastering-display metadata.
- diffusers' own `encode_hdr_tensor_to_mp4` writes an 8-bit SDR H.264 preview (clip, sRGB), which is
  what the take's mp4 is here (`linear_to_srgb8`).
- Alpha: ProRes 4444 (prores_ks, yuva444p10le) in .mov, which Nuke, Resolve, After Effects and Premiere
  open with its alpha; VP9 alpha plays in browsers but few compositors read it, and a PNG sequence is a
  folder of large files."""

from __future__ import annotations

import zipfile
from fractions import Fraction
from pathlib import Path

import numpy as np

from .media import commit, tmp_path

# LogC3 (EI 800), as diffusers' image_processor and Lightricks' hdr.py define it.
_A, _B, _C, _D, _E, _F, _CUT = 5.555556, 0.052272, 0.247190, 0.385537, 5.367655, 0.092809, 0.010591
# HLG OETF (ITU-R BT.2100) and the Rec.709 -> BT.2020 primaries (BT.2087).
_HLG_A, _HLG_B, _HLG_C = 0.17883277, 0.28466892, 0.55991073
_709_TO_2020 = np.array(
    [[0.6274039, 0.3292830, 0.0433131], [0.0690973, 0.9195404, 0.0113623], [0.0163914, 0.0880133, 0.8955953]],
    dtype=np.float32,
)
HLG_WHITE_SIGNAL = 0.75  # diffuse white (linear 1.0) at 75% signal, as BT.2408 and Lightricks' writer place it
PRIMARIES_BT2020, TRANSFER_HLG, MATRIX_BT2020NC = 9, 18, 9  # ISO/IEC 23091-2 code points


def logc3_to_linear(unit: np.ndarray) -> np.ndarray:
    """Scene-linear float32 light from LogC3 code values in 0..1 (negative light clamped to 0)."""
    logc = np.clip(np.asarray(unit, dtype=np.float32), 0.0, 1.0)
    cut = _E * _CUT + _F
    linear = np.where(logc >= cut, (np.power(10.0, (logc - _D) / _C) - _B) / _A, (logc - _F) / _E)
    return np.maximum(linear, 0.0).astype(np.float32)


def linear_to_srgb8(linear: np.ndarray) -> np.ndarray:
    """uint8 sRGB of linear light, clipped at diffuse white (diffusers' HDR exporter's default tone map)."""
    x = np.clip(linear, 0.0, 1.0)
    srgb = np.where(x <= 0.0031308, 12.92 * x, 1.055 * np.power(x, 1 / 2.4) - 0.055)
    return np.round(srgb * 255).astype(np.uint8)


def _hlg_oetf(x: np.ndarray) -> np.ndarray:
    return np.where(
        x <= 1 / 12, np.sqrt(3 * np.maximum(x, 0)), _HLG_A * np.log(np.maximum(12 * x - _HLG_B, 1e-12)) + _HLG_C
    )


def _hlg_inverse_oetf(signal: float) -> float:
    return signal**2 / 3 if signal <= 0.5 else (np.exp((signal - _HLG_C) / _HLG_A) + _HLG_B) / 12


def linear_to_hlg(linear: np.ndarray) -> np.ndarray:
    """HLG signal (0..1, BT.2020 primaries) of scene-linear Rec.709 light, diffuse white at HLG_WHITE_SIGNAL."""
    rgb2020 = np.maximum(np.asarray(linear, dtype=np.float32) @ _709_TO_2020.T, 0.0)
    white = _hlg_inverse_oetf(HLG_WHITE_SIGNAL)
    k = white / (1 - white)  # the roll-off leaves white with the slope it arrives with
    scene = np.where(rgb2020 <= 1.0, rgb2020 * white, 1 - (1 - white) * np.exp(-k * (rgb2020 - 1.0)))
    return np.clip(_hlg_oetf(scene), 0.0, 1.0).astype(np.float32)


def _yuv10(signal: np.ndarray) -> np.ndarray:
    """Planar 10-bit limited-range Y'CbCr (BT.2020 non-constant luminance), 4:2:0, as one yuv420p10le buffer."""
    r, g, b = signal[..., 0], signal[..., 1], signal[..., 2]
    y = 0.2627 * r + 0.6780 * g + 0.0593 * b
    cb, cr = (b - y) / 1.8814, (r - y) / 1.4746
    luma = np.round(64 + 876 * y).astype(np.uint16)

    def chroma(c):
        half = (c[0::2, 0::2] + c[1::2, 0::2] + c[0::2, 1::2] + c[1::2, 1::2]) / 4
        return np.round(512 + 896 * half).astype(np.uint16)

    return np.concatenate([luma.ravel(), chroma(cb).ravel(), chroma(cr).ravel()])


def write_hlg_mp4(path: Path, linear: np.ndarray, fps: int, audio=None, sample_rate: int | None = None) -> Path:
    """HEVC Main10 HLG mp4 (BT.2020) of linear Rec.709 frames [F, H, W, 3] (even sides), with the sound if given."""
    import av

    from .media import add_aac_stream, encode_sound, fit_waveform

    path = Path(path)
    tmp = tmp_path(path)
    frames, height, width, _ = linear.shape
    container = av.open(str(tmp), mode="w", format="mp4", options={"movflags": "+faststart"})
    try:
        stream = container.add_stream("libx265", rate=int(fps))
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p10le"
        stream.codec_tag = "hvc1"  # as Apple's players and the browsers that play HEVC want it tagged
        context = stream.codec_context
        context.color_primaries, context.color_trc, context.colorspace = PRIMARIES_BT2020, TRANSFER_HLG, MATRIX_BT2020NC
        stream.options = {
            "crf": "16",
            "preset": "fast",
            "x265-params": "log-level=error:colorprim=bt2020:transfer=arib-std-b67:colormatrix=bt2020nc:range=limited",
        }
        sound = add_aac_stream(container, int(sample_rate)) if audio is not None else None
        for frame in linear:
            picture = av.VideoFrame(width, height, "yuv420p10le")
            data = _yuv10(linear_to_hlg(frame))
            offset = 0
            for plane, (w, h) in zip(picture.planes, [(width, height)] + [(width // 2, height // 2)] * 2, strict=True):
                rows = data[offset : offset + w * h].reshape(h, w)
                offset += w * h
                view = np.frombuffer(plane, dtype=np.uint16).reshape(h, plane.line_size // 2)
                view[:, :w] = rows
            container.mux(stream.encode(picture))
        container.mux(stream.encode())
        if audio is not None:
            encode_sound(
                container,
                sound,
                fit_waveform(np.asarray(audio, np.float32), round(frames / fps * sample_rate)),
                int(sample_rate),
            )
    finally:
        container.close()
    return commit(tmp, path)


def write_exr_frames(folder: Path, linear: np.ndarray) -> Path:
    """One half-float OpenEXR file per frame (frame-00000.exr, ...): scene-linear Rec.709 for grading."""
    import av

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    _, height, width, _ = linear.shape
    with av.open(str(folder / "frame-%05d.exr"), mode="w", format="image2") as container:
        stream = container.add_stream("exr", rate=1)
        stream.width, stream.height, stream.pix_fmt = width, height, "gbrpf32le"
        stream.options = {"compression": "zip1", "format": "half"}
        for i, frame in enumerate(linear):
            picture = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame, dtype=np.float32), format="gbrpf32le")
            picture.pts, picture.time_base = i, Fraction(1, 1)
            container.mux(stream.encode(picture))
        container.mux(stream.encode())
    for made in sorted(folder.glob("frame-*.exr")):  # image2 counts from 1: from 0, as frames are counted
        made.rename(folder / f"frame-{int(made.stem.split('-')[1]) - 1:05d}.exr")
    return folder


def write_alpha_mov(path: Path, rgb: np.ndarray, alpha: np.ndarray, fps: int) -> Path:
    """ProRes 4444 .mov of uint8 frames [F, H, W, 3] with `alpha` (uint8 [F, H, W], 255 opaque) as alpha."""
    import av

    path = Path(path)
    tmp = tmp_path(path)
    _, height, width, _ = rgb.shape
    container = av.open(str(tmp), mode="w", format="mov")
    try:
        stream = container.add_stream("prores_ks", rate=int(fps))
        stream.width, stream.height, stream.pix_fmt = width, height, "yuva444p10le"
        stream.options = {"profile": "4444", "alpha_bits": "16"}
        for picture, matte in zip(rgb, alpha, strict=True):
            rgba = np.concatenate([picture, matte[..., None]], axis=-1)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(rgba), format="rgba")))
        container.mux(stream.encode())
    finally:
        container.close()
    return commit(tmp, path)


def zip_folder(folder: Path) -> Path:
    """The folder's files as one zip beside it, for a download (stored: EXR frames are compressed already)."""
    folder = Path(folder)
    target = folder.with_suffix(".zip")
    tmp = tmp_path(target)
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED) as archive:
        for item in sorted(folder.iterdir()):
            archive.write(item, f"{folder.name}/{item.name}")
    return commit(tmp, target)
