"""Soundtracks in and out: read any file with sound (PyAV), turn a waveform into the log-mel
spectrogram LTX-2's audio VAE reads, resample, and splice one track into another.

Waveforms are float32 [channels, samples] in -1..1, as `media.write_mp4` takes them.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..core.errors import BadInput
from .media import fit_waveform

AUDIO_SUFFIXES = ("wav", "mp3", "m4a", "flac", "ogg", "aac", "opus")
N_FFT = 1024  # LTX-2's mel front end: 1024-point Hann STFT, hop 160 at 16 kHz, slaney mel, log
SPLICE_FADE_S = 0.02
AAC_RATES = (
    8000,
    11025,
    12000,
    16000,
    22050,
    24000,
    32000,
    44100,
    48000,
    64000,
    88200,
    96000,
)  # a cross-fade at each seam of a retaken segment


@dataclass
class Soundtrack:
    """A soundtrack as given: its waveform from `start`, where it came from, and its content hash."""

    waveform: np.ndarray  # float32 [channels, samples]
    rate: int
    name: str
    sha256: str
    start: float = 0.0
    full_seconds: float | None = None  # of the soundtrack as first given (a take's kept copy is already cut)

    @property
    def seconds(self) -> float:
        return self.waveform.shape[1] / self.rate

    def record(self, used_seconds: float) -> dict:
        """What a take keeps of it: file name, hash, start, the seconds used and whether it was cut."""
        return {
            "file": self.name,
            "sha256": self.sha256,
            "start": round(self.start, 3),
            "seconds": round(used_seconds, 3),
            "cut": (self.full_seconds or self.seconds) > used_seconds + 0.5 / 24,
        }


_READ: OrderedDict[tuple, Soundtrack] = OrderedDict()  # the last few files read, by path, size, mtime and start
_READ_KEEP = 4
_READ_LOCK = threading.Lock()


def read_soundtrack(path: str | Path, start: float = 0.0) -> Soundtrack:
    """The sound of an audio file (wav, mp3, m4a, flac, ...) or of a video's audio track, from `start` seconds.

    A file is decoded and hashed once: the page reads an upload to show its length, then the draft
    that follows it is checked and run with the same file; each of those reads after the first is a
    lookup (keyed by the file's path, size and modification time, so a changed file is read again)."""
    path = Path(path)
    if not path.is_file():
        raise BadInput(f"soundtrack {path.name}: no such file")
    if start < 0 or start != start:
        raise BadInput(f"audio start must be 0 or more seconds, got {start}")
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns, float(start))
    with _READ_LOCK:
        if key in _READ:
            _READ.move_to_end(key)
            return _READ[key]
    track = _decode_soundtrack(path, start)
    track.waveform.setflags(write=False)  # shared by every reader of the file: never changed in place
    with _READ_LOCK:
        _READ[key] = track
        while len(_READ) > _READ_KEEP:
            _READ.popitem(last=False)
    return track


def _decode_soundtrack(path: Path, start: float) -> Soundtrack:
    import av

    try:
        with av.open(str(path)) as container:
            if not container.streams.audio:
                raise BadInput(
                    f"{path.name} has no sound: give an audio file (wav, mp3, m4a, flac) or a video with sound"
                )
            track = container.streams.audio[0]
            resampler = av.AudioResampler(format="fltp")
            chunks = []
            for frame in container.decode(track):
                for out in resampler.resample(frame):
                    chunks.append(out.to_ndarray())
            rate = int(track.codec_context.sample_rate or track.rate or 0)
    except BadInput:
        raise
    except (av.error.FFmpegError, ValueError, OSError):  # not a media file at all
        raise BadInput(f"{path.name} is not audio: give a wav, mp3, m4a or flac file, or a video with sound") from None
    if not chunks or rate <= 0 or sum(c.shape[1] for c in chunks) == 0:
        raise BadInput(f"{path.name} has no sound in it (zero length)")
    waveform = np.concatenate(chunks, axis=1).astype(np.float32)
    if rate not in AAC_RATES:  # the mp4 carries it as AAC, which takes only these
        waveform, rate = resample(waveform, rate, 48000), 48000
    skip = round(start * rate)
    if skip >= waveform.shape[1]:
        raise BadInput(f"audio start {start:g} s is past the end of {path.name} ({waveform.shape[1] / rate:.2f} s)")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return Soundtrack(np.ascontiguousarray(waveform[:, skip:]), rate, path.name, digest, float(start))


def resample(waveform: np.ndarray, rate: int, target: int) -> np.ndarray:
    """Band-limited resampling (FFmpeg's, through PyAV): no aliasing into the 16 kHz mel the VAE reads.
    More than two channels are mixed down to two; the length is exactly the source's duration."""
    if rate == target:
        return waveform
    import av

    wave = np.ascontiguousarray(waveform if waveform.shape[0] <= 2 else channels(waveform, 2), dtype=np.float32)
    layout = "mono" if wave.shape[0] == 1 else "stereo"
    frame = av.AudioFrame.from_ndarray(wave, format="fltp", layout=layout)
    frame.sample_rate = int(rate)
    resampler = av.AudioResampler(format="fltp", layout=layout, rate=int(target))
    parts = [out.to_ndarray() for out in [*resampler.resample(frame), *resampler.resample(None)]]
    out = np.concatenate(parts, axis=1) if parts else np.zeros((wave.shape[0], 0), np.float32)
    return fit_waveform(out.astype(np.float32), max(1, round(waveform.shape[1] * target / rate)))


def channels(waveform: np.ndarray, count: int) -> np.ndarray:
    """`waveform` with exactly `count` channels (mono duplicated, extra channels averaged down)."""
    if waveform.shape[0] == count:
        return waveform
    if waveform.shape[0] == 1:
        return np.repeat(waveform, count, axis=0)
    mixed = waveform.mean(axis=0, keepdims=True)
    return np.repeat(mixed, count, axis=0)


def log_mel(
    waveform: np.ndarray, rate: int, *, sample_rate: int, hop: int, mel_bins: int, in_channels: int
) -> torch.Tensor:
    """[1, channels, frames, mel_bins] log-mel spectrogram, LTX-2's audio VAE input."""
    wave = torch.from_numpy(channels(resample(waveform, rate, sample_rate), in_channels).copy())
    window = torch.hann_window(N_FFT)
    spec = torch.stft(wave, N_FFT, hop_length=hop, win_length=N_FFT, window=window, center=True, pad_mode="reflect",
                      return_complex=True).abs()  # fmt: skip
    mel = torch.from_numpy(_slaney_filters(sample_rate, N_FFT, mel_bins)) @ spec  # [channels, mel, frames]
    return torch.log(mel.clamp(min=1e-5)).permute(0, 2, 1).unsqueeze(0).float()


def _slaney_filters(rate: int, n_fft: int, bins: int) -> np.ndarray:
    """The slaney-scale, slaney-normalised mel filterbank [bins, n_fft // 2 + 1] (as torchaudio builds it)."""

    def hz_to_mel(f):
        f = np.asarray(f, dtype=np.float64)
        linear = f / (200.0 / 3)
        log_part = 15.0 + np.log(np.maximum(f, 1e-10) / 1000.0) / (np.log(6.4) / 27.0)
        return np.where(f >= 1000.0, log_part, linear)

    def mel_to_hz(m):
        m = np.asarray(m, dtype=np.float64)
        return np.where(m >= 15.0, 1000.0 * np.exp((np.log(6.4) / 27.0) * (m - 15.0)), m * (200.0 / 3))

    freqs = np.linspace(0, rate / 2, n_fft // 2 + 1)
    points = mel_to_hz(np.linspace(hz_to_mel(0.0), hz_to_mel(rate / 2), bins + 2))
    widths = np.diff(points)
    slopes = points[None, :] - freqs[:, None]
    down = -slopes[:, :-2] / widths[:-1]
    up = slopes[:, 2:] / widths[1:]
    filters = np.maximum(0.0, np.minimum(down, up))
    filters *= (2.0 / (points[2 : bins + 2] - points[:bins]))[None, :]
    return filters.T.astype(np.float32)


def splice(source: np.ndarray, new: np.ndarray, rate: int, start_s: float, end_s: float) -> np.ndarray:
    """`source` with [start_s, end_s) taken from `new` (same rate and channels), cross-faded at each seam."""
    samples = source.shape[1]
    new = fit_waveform(channels(new, source.shape[0]), samples)
    start, end = round(start_s * rate), min(samples, round(end_s * rate))
    fade = max(1, round(SPLICE_FADE_S * rate))
    weight = np.zeros(samples, dtype=np.float32)
    weight[start:end] = 1.0
    if start > 0:  # ramp in over the samples just before the segment
        ramp = np.linspace(0, 1, min(fade, start) + 1, dtype=np.float32)[1:]
        weight[start - len(ramp) : start] = ramp
    if end < samples:
        ramp = np.linspace(1, 0, min(fade, samples - end) + 1, dtype=np.float32)[1:]
        weight[end : end + len(ramp)] = ramp
    return source * (1 - weight) + new * weight


def write_wav(path: Path, waveform: np.ndarray, rate: int) -> Path:
    """16-bit PCM wav of a waveform [channels, samples] (written aside, then renamed into place)."""
    import wave

    from .media import _tmp_path, commit

    path = Path(path)
    tmp = _tmp_path(path)
    pcm = (np.clip(waveform, -1, 1).T * 32767).round().astype("<i2")
    with wave.open(str(tmp), "wb") as out:
        out.setnchannels(waveform.shape[0])
        out.setsampwidth(2)
        out.setframerate(int(rate))
        out.writeframes(pcm.tobytes())
    return commit(tmp, path)
