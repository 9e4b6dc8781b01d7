"""Our soundtrack front end (waveform -> log-mel, the audio VAE's input) is ltx_core's `AudioProcessor`.

ltx_core's `waveform_to_mel` resamples to 16 kHz with torchaudio.functional.resample, then takes torchaudio's
`MelSpectrogram` (slaney scale and norm, power 1) and the log clamped at 1e-5. Ours (library/sound.py
`log_mel`, as `LTX2Family.encode_audio` calls it) rebuilds both in torch, because the studio does not depend
on torchaudio; the parity install has it (scripts/setup.sh --dev, in its extension-less mode). Compared on
the same stereo waveform at 16 kHz and at the rates soundtracks come in (48 and 44.1 kHz, resampled first),
fp32. Tolerance: 1e-5 relative to the largest |log-mel|. What is left (3e-6) is the mel filterbank, which
ours builds in float64 and torchaudio in float32; the STFT and the resampling are bit-identical. Before
`sound.sinc_resample`, ours resampled by FFmpeg: 48 kHz input moved the top mel bins by up to 0.3 in log.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from . import reference as R

TOLERANCE = 1e-5
RATE, HOP, BINS = 16000, 160, 64  # LTX-2's audio VAE: 16 kHz, hop 160, 64 mel bins


def _tone_chirp_and_noise(rate: int, seconds: float = 1.0) -> np.ndarray:
    """Stereo: a tone over a little noise, and a chirp (the noise fills the band up to the new Nyquist)."""
    t = np.arange(round(rate * seconds)) / rate
    noise = 0.05 * np.random.default_rng(0).standard_normal((2, t.size))
    wave = np.stack([0.3 * np.sin(2 * np.pi * 440 * t), 0.2 * np.sin(2 * np.pi * (200 + 2000 * t) * t)]) + noise
    return wave.astype(np.float32)


@pytest.mark.parametrize("rate", [16000, 48000, 44100])
def test_waveform_to_log_mel_is_the_references(audio_reference_code, report, rate):
    from ltx_core.model.audio_vae import AudioProcessor
    from ltx_core.types import Audio

    from ltx_studio.library import sound

    wave = _tone_chirp_and_noise(rate)
    ours = sound.log_mel(wave, rate, sample_rate=RATE, hop=HOP, mel_bins=BINS, in_channels=2)
    processor = AudioProcessor(target_sample_rate=RATE, mel_bins=BINS, mel_hop_length=HOP, n_fft=sound.N_FFT)
    theirs = processor.waveform_to_mel(Audio(waveform=torch.from_numpy(wave)[None], sampling_rate=rate))
    assert ours.shape == theirs.shape == (1, 2, 101, BINS)
    figure = R.max_relative(ours, theirs)
    report(f"parity waveform at {rate} Hz -> log-mel: max relative difference {figure:.2e} (tolerance {TOLERANCE:.0e})")
    assert figure <= TOLERANCE
