"""Our soundtrack front end (waveform -> log-mel, the audio VAE's input) is ltx_core's `AudioProcessor`.

ltx_core builds it from torchaudio (`MelSpectrogram`, slaney scale and norm, power 1, log clamped at
1e-5); ours rebuilds it with torch.stft and the same filterbank (library/sound.py), because torchaudio
has no build for our torch. So this is the one parity test that needs torchaudio, and it says so when
it is missing. Tolerance: 1e-5 relative to the largest |log-mel| (fp32).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from . import reference as R

TOLERANCE = 1e-5


def test_waveform_to_log_mel_is_the_references(reference_code, report):
    missing = reference_code.torchaudio_missing()
    if missing:
        pytest.skip(f"ltx_core's audio front end is torchaudio's MelSpectrogram, and {missing}")
    from ltx_core.model.audio_vae.ops import AudioProcessor
    from ltx_core.types import Audio

    from ltx_studio.library import sound

    rate, hop, bins = 16000, 160, 64  # LTX-2's audio VAE: 16 kHz, hop 160, 64 mel bins
    t = np.arange(rate) / rate  # one second, stereo: a tone and a chirp
    wave = np.stack([0.3 * np.sin(2 * np.pi * 440 * t), 0.2 * np.sin(2 * np.pi * (200 + 2000 * t) * t)])
    wave = wave.astype(np.float32)
    ours = sound.log_mel(wave, rate, sample_rate=rate, hop=hop, mel_bins=bins, in_channels=2)
    processor = AudioProcessor(target_sample_rate=rate, mel_bins=bins, mel_hop_length=hop, n_fft=sound.N_FFT)
    theirs = processor.waveform_to_mel(Audio(waveform=torch.from_numpy(wave)[None], sampling_rate=rate))
    assert ours.shape == theirs.shape
    figure = R.max_relative(ours, theirs)
    report(f"parity waveform -> log-mel: max relative difference {figure:.2e} (tolerance {TOLERANCE:.0e})")
    assert figure <= TOLERANCE
