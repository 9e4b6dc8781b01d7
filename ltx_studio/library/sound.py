"""Soundtracks in and out: read any file with sound (PyAV), turn a waveform into the log-mel
spectrogram LTX-2's audio VAE reads, resample, and splice one track into another.

Waveforms are float32 [channels, samples] in -1..1, as `media.write_mp4` takes them.
"""

from __future__ import annotations

import hashlib
import math
import threading
from collections import OrderedDict
from pathlib import Path

import numpy as np
import torch

from ..core.errors import BadInput
from .media import fit_waveform
from .probe import AudioInfo, audio_samples, probe_audio

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


class Soundtrack:
    """A soundtrack as given: where it came from, its content hash, and its waveform from `start`.

    A soundtrack read from a file knows its length from the file's headers (library/probe.py) and
    decodes nothing until its `waveform` is asked for: the request's check only probes it; the job
    decodes it, and then only the seconds it uses (`cut`). One made in memory holds its waveform."""

    def __init__(
        self, waveform: np.ndarray | None, rate: int, name: str, sha256: str, start: float = 0.0,
        full_seconds: float | None = None, *, path: Path | None = None, info: AudioInfo | None = None,
        seconds: float | None = None,
    ):  # fmt: skip
        if waveform is None and (path is None or info is None or seconds is None):
            raise ValueError("a Soundtrack needs its waveform, or the file, its probe and its seconds")
        self._waveform = waveform
        self.rate = int(rate)
        self.name = name
        self.sha256 = sha256
        self.start = float(start)
        self.full_seconds = full_seconds  # of the soundtrack as first given (a take's kept copy is already cut)
        self.path, self.info = path, info
        self._seconds = waveform.shape[1] / self.rate if waveform is not None else float(seconds)

    @property
    def seconds(self) -> float:
        """Seconds of sound from `start` (up to where it was cut)."""
        return self._seconds

    @property
    def waveform(self) -> np.ndarray:
        """float32 [channels, samples], read-only; a file's is decoded here, once, and only the part used."""
        if self._waveform is None:
            self._waveform = _decoded(self.path, self.info, self.start, self._seconds)
        return self._waveform

    def cut(self, seconds: float) -> Soundtrack:
        """The same soundtrack used for at most `seconds` (decoding stops there); it still knows its full length."""
        if seconds >= self._seconds:
            return self
        full = self.full_seconds or self._seconds
        if self._waveform is not None:
            wave = self._waveform[:, : max(1, round(seconds * self.rate))]
            return Soundtrack(wave, self.rate, self.name, self.sha256, self.start, full)
        return Soundtrack(
            None, self.rate, self.name, self.sha256, self.start, full, path=self.path, info=self.info, seconds=seconds
        )

    def record(self, used_seconds: float) -> dict:
        """What a take keeps of it: file name, hash, start, the seconds used and whether it was cut."""
        return {
            "file": self.name,
            "sha256": self.sha256,
            "start": round(self.start, 3),
            "seconds": round(used_seconds, 3),
            "cut": (self.full_seconds or self.seconds) > used_seconds + 0.5 / 24,
        }


_READ: OrderedDict[tuple, object] = OrderedDict()  # the last few files probed and decoded, by path, size, mtime
_READ_KEEP = 8
_READ_LOCK = threading.Lock()


def _remembered(key: tuple, make):
    """`make()`, or what it gave for the same key lately (a few kept)."""
    with _READ_LOCK:
        if key in _READ:
            _READ.move_to_end(key)
            return _READ[key]
    value = make()
    with _READ_LOCK:
        _READ[key] = value
        while len(_READ) > _READ_KEEP:
            _READ.popitem(last=False)
    return value


def _file_key(path: Path) -> tuple:
    stat = path.stat()
    return (str(path.resolve()), stat.st_size, stat.st_mtime_ns)


def read_soundtrack(path: str | Path, start: float = 0.0) -> Soundtrack:
    """The sound of an audio file (wav, mp3, m4a, flac, ...) or of a video's audio track, from `start` seconds.

    Only the file's headers are read here (probe.probe_audio: refused in one line when over a limit)
    and its bytes hashed; the sound is decoded when a render uses it, and then only what it uses.
    A file is probed and hashed once: the page reads an upload to show its length, then the draft
    that follows it is checked and run with the same file (keyed by the file's path, size and
    modification time, so a changed file is read again)."""
    path = Path(path)
    if not path.is_file():
        raise BadInput(f"soundtrack {path.name}: no such file")
    if start < 0 or start != start:
        raise BadInput(f"audio start must be 0 or more seconds, got {start}")
    info, digest = _remembered(("probe", *_file_key(path)), lambda: _probe(path))
    if start >= info.seconds:
        raise BadInput(f"audio start {start:g} s is past the end of {path.name} ({info.seconds:.2f} s)")
    rate = info.rate if info.rate in AAC_RATES else 48000  # the mp4 carries it as AAC, which takes only these
    return Soundtrack(None, rate, path.name, digest, start, path=path, info=info, seconds=info.seconds - start)


def _probe(path: Path) -> tuple[AudioInfo, str]:
    info = probe_audio(path)
    return info, hashlib.sha256(path.read_bytes()).hexdigest()


def _decoded(path: Path, info: AudioInfo, start: float, seconds: float) -> np.ndarray:
    """The track's float32 waveform from `start` for `seconds`, at an AAC rate (decoded once per file and span)."""

    def decode() -> np.ndarray:
        waveform = _decode_soundtrack(path, info, start, seconds)
        waveform.setflags(write=False)  # shared by every reader of the file: never changed in place
        return waveform

    return _remembered(("wave", *_file_key(path), float(start), float(seconds)), decode)


def _decode_soundtrack(path: Path, info: AudioInfo, start: float, seconds: float) -> np.ndarray:
    waveform = audio_samples(path, info, start, seconds)
    if waveform.shape[1] == 0:
        raise BadInput(f"{path.name} has no sound in it from {start:g} s")
    if info.rate not in AAC_RATES:  # the mp4 carries it as AAC, which takes only these
        waveform = resample(waveform, info.rate, 48000)
    return np.ascontiguousarray(waveform)


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


def sinc_resample(waveform: np.ndarray, rate: int, target: int) -> np.ndarray:
    """`waveform` at `target` Hz the way LTX-2's audio front end resamples before its mel: ltx_core's
    `AudioProcessor.resample_audio` (ltx_core/model/audio_vae/ops.py) calls torchaudio.functional.resample
    with its defaults (windowed sinc, Hann window, 6 zero crossings, rolloff 0.99), rebuilt here in torch,
    in float32 as torchaudio computes it. FFmpeg's resampler (`resample`) filters the band near the new
    Nyquist differently: from 48 kHz it moved the top mel bins by up to 0.3 in log, the latents by 2.6e-2."""
    if rate == target:
        return waveform
    gcd = math.gcd(int(rate), int(target))
    orig, new = int(rate) // gcd, int(target) // gcd
    zeros, base = 6, min(orig, new) * 0.99
    width = math.ceil(zeros * orig / base)
    idx = torch.arange(-width, width + orig, dtype=torch.float32)[None, None] / orig
    t = (torch.arange(0, -new, -1, dtype=torch.float32)[:, None, None] / new + idx) * base
    t = t.clamp(-zeros, zeros)
    window = torch.cos(t * math.pi / zeros / 2) ** 2
    t = t * math.pi
    kernel = torch.where(t == 0, torch.tensor(1.0), t.sin() / t) * (window * (base / orig))  # [new, 1, taps]
    wave = torch.from_numpy(np.array(waveform, dtype=np.float32))  # a copy: soundtracks are read-only
    padded = torch.nn.functional.pad(wave, (width, width + orig))[:, None]
    out = torch.nn.functional.conv1d(padded, kernel, stride=orig).transpose(1, 2).reshape(wave.shape[0], -1)
    return out[:, : math.ceil(new * wave.shape[1] / orig)].numpy()


def log_mel(
    waveform: np.ndarray, rate: int, *, sample_rate: int, hop: int, mel_bins: int, in_channels: int
) -> torch.Tensor:
    """[1, channels, frames, mel_bins] log-mel spectrogram, LTX-2's audio VAE input: ltx_core's
    `AudioProcessor.waveform_to_mel` (its resampling, then torchaudio's MelSpectrogram, log clamped at 1e-5)."""
    wave = torch.from_numpy(channels(sinc_resample(waveform, rate, sample_rate), in_channels).copy())
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

    from .media import commit, tmp_path

    path = Path(path)
    tmp = tmp_path(path)
    pcm = (np.clip(waveform, -1, 1).T * 32767).round().astype("<i2")
    with wave.open(str(tmp), "wb") as out:
        out.setnchannels(waveform.shape[0])
        out.setsampwidth(2)
        out.setframerate(int(rate))
        out.writeframes(pcm.tobytes())
    return commit(tmp, path)
