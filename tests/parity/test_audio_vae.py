"""Our sound decode (latents -> mel -> waveform) and the audio VAE's encoder (mel -> latents) are ltx_core's.

One tiny LTX-2.0-layout file (audio_reference.py: `audio_vae.encoder/decoder/per_channel_statistics.*` and
`vocoder.*`, the config in its metadata) is loaded by ltx_core's own builders (`AudioEncoderConfigurator`,
`AudioDecoderConfigurator`, `VocoderConfigurator` with ModelLedger's key filters) and, on our side, converted by
diffusers' own mappings into a diffusers folder (`audio_vae/`, `vocoder/`: what a set holds), then loaded by the
family's `load_component`. ltx_core's audio-VAE package imports torchaudio (setup.sh --dev installs it).

Compared, fp32: (a) decode: random normalised latents [1, 2, 5, 16] (as ltx_core holds them) -> ltx_core's
AudioDecoder (which un-normalises them itself) -> its Vocoder; ours: the same latents un-normalised as the
pipeline leaves them for the family (its own pack / denormalise / unpack), then `LTX2Family.decode`, whose
audio VAE decode and vocoder give the waveform (mel 17 x 64 -> 2 x 4080 samples at 24 kHz). Figures: the mel,
the waveform end to end, and the vocoder alone on the reference's mel. (b) encode: the same log-mel
[1, 2, 17, 64] into ltx_core's AudioEncoder (normalised means) and into ours as the family calls it
(`encode(mel).latent_dist.mode()`), normalised by the pipeline's own `_normalize_audio_latents`. (c) the whole
soundtrack encode: a stereo waveform (at 16 kHz, and at 48 kHz, resampled first) into ltx_core's `encode_audio`
(AudioProcessor, then AudioEncoder), cut to the clip's latent steps as its retake pipeline does
(`AudioLatentShape.from_video_pixel_shape`), and into `LTX2Family.encode_audio` for a 1 s clip at 25 fps,
normalised as the pipeline does. Before ours resampled as ltx_core does (sound.sinc_resample), 48 kHz gave 2.6e-2.
Tolerance: 1e-5 relative to the reference's largest value; a different input moves each by far more.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from . import audio_reference as A
from . import reference as R
from .test_video_vae import DIFFUSERS_CONFIG as VIDEO_VAE_CONFIG
from .test_video_vae import LATENT_CHANNELS as VIDEO_CHANNELS

TOLERANCE = 1e-5
MOVES = 1e-2
LATENT_FRAMES, LATENT_MEL_BINS = 5, A.MEL_BINS // 4
MEL_FRAMES = (LATENT_FRAMES - 1) * 4 + 1  # the causal decoder's length


@pytest.fixture(scope="module")
def audio(audio_reference_code, tmp_path_factory):
    """(ltx_core's encoder, decoder, vocoder; our audio VAE, vocoder), from the same tiny file."""
    from ltx_studio.models.families.ltx2 import LTX2Family

    folder = tmp_path_factory.mktemp("ltx-audio-vae")
    file = A.write_audio_file(folder)
    encoder, decoder, vocoder = A.load_reference(file)
    A.convert_ours(file, folder)
    family = LTX2Family()
    vae = family.load_component("audio_vae", str(folder), "audio_vae", None, None, torch.float32).eval()
    ours_vocoder = family.load_component("vocoder", str(folder), "vocoder", None, None, torch.float32).eval()
    return SimpleNamespace(encoder=encoder, decoder=decoder, vocoder=vocoder, vae=vae, ours_vocoder=ours_vocoder)


def _pipeline():
    from diffusers import LTX2ConditionPipeline

    return LTX2ConditionPipeline


def _as_the_pass_leaves(latents: torch.Tensor, vae) -> torch.Tensor:
    """Normalised latents [B, C, L, M] un-normalised the way the pipeline returns them to the family."""
    P = _pipeline()
    packed = P._denormalize_audio_latents(P._pack_audio_latents(latents), vae.latents_mean, vae.latents_std)
    return P._unpack_audio_latents(packed, latents.shape[2], num_mel_bins=latents.shape[3])


def _tiny_picture_pipe(audio_vae, vocoder):
    """A stand-in pipe for `LTX2Family.decode`: our audio VAE and vocoder, and a one-latent tiny video VAE (the
    picture is decoded too, but not compared here: test_video_vae.py compares it)."""
    from diffusers import AutoencoderKLLTX2Video

    torch.manual_seed(0)
    vae = AutoencoderKLLTX2Video.from_config(VIDEO_VAE_CONFIG).eval()
    return SimpleNamespace(vae=vae, audio_vae=audio_vae, vocoder=vocoder, _execution_device=torch.device("cpu"))


def test_decode_is_ltx_cores(audio, report):
    from ltx_studio.models.families.base import Latents
    from ltx_studio.models.families.ltx2 import LTX2Family

    generator = torch.Generator().manual_seed(2)
    shape = (1, A.LATENT_CHANNELS, LATENT_FRAMES, LATENT_MEL_BINS)
    latents, other = torch.randn(shape, generator=generator), torch.randn(shape, generator=generator)
    raw = _as_the_pass_leaves(latents, audio.vae)
    with torch.no_grad():
        mel_expected = audio.decoder(latents)
        mel_other = audio.decoder(other)
        wave_expected = audio.vocoder(mel_expected)[0]
        wave_other = audio.vocoder(mel_other)[0]
        mel = audio.vae.decode(raw, return_dict=False)[0]  # the call LTX2Family.decode makes
        vocoder_alone = audio.ours_vocoder(mel_expected)[0]
    pipe = _tiny_picture_pipe(audio.vae, audio.ours_vocoder)
    video = torch.randn(1, VIDEO_CHANNELS, 1, 2, 2, generator=generator)
    sampling = SimpleNamespace(decoder="vae", decode_timestep=0.0, decode_noise_scale=None)
    decoded = LTX2Family().decode(pipe, Latents(video, raw), sampling, torch.Generator().manual_seed(0))
    wave = torch.from_numpy(decoded.audio)

    assert mel.shape == mel_expected.shape == (1, 2, MEL_FRAMES, A.MEL_BINS)
    assert wave.shape == wave_expected.shape == (2, MEL_FRAMES * 240)
    mel_figure = R.max_relative(mel, mel_expected)
    wave_figure = R.max_relative(wave, wave_expected)
    vocoder_figure = R.max_relative(vocoder_alone, wave_expected)
    mel_moved = R.max_relative(mel_other, mel_expected)
    wave_moved = R.max_relative(wave_other, wave_expected)
    report(
        f"parity audio decode (LTX-2.0 layout, latents 5x16 -> mel 17x64 -> 2x{wave.shape[1]} samples): max relative "
        f"difference mel {mel_figure:.2e}, waveform {wave_figure:.2e} (LTX2Family.decode), vocoder alone "
        f"{vocoder_figure:.2e} (tolerance {TOLERANCE:.0e}); other latents move the reference's mel by "
        f"{mel_moved:.2e}, its waveform by {wave_moved:.2e}"
    )
    assert decoded.sample_rate == audio.vocoder.output_sampling_rate == 24000
    assert mel_moved > MOVES and wave_moved > MOVES
    assert mel_figure <= TOLERANCE
    assert vocoder_figure <= TOLERANCE
    assert wave_figure <= TOLERANCE


def test_encode_is_ltx_cores(audio, report):
    P = _pipeline()
    generator = torch.Generator().manual_seed(3)
    shape = (1, 2, MEL_FRAMES, A.MEL_BINS)
    mel, other = (torch.randn(shape, generator=generator) - 4.0 for _ in range(2))  # log-mel-like values
    with torch.no_grad():
        expected = audio.encoder(mel)
        expected_other = audio.encoder(other)
        raw = audio.vae.encode(mel).latent_dist.mode()  # as LTX2Family.encode_audio calls it
    packed = P._normalize_audio_latents(P._pack_audio_latents(raw), audio.vae.latents_mean, audio.vae.latents_std)
    ours = P._unpack_audio_latents(packed, raw.shape[2], num_mel_bins=raw.shape[3])
    assert ours.shape == expected.shape == (1, A.LATENT_CHANNELS, LATENT_FRAMES, LATENT_MEL_BINS)
    figure = R.max_relative(ours, expected)
    moved = R.max_relative(expected_other, expected)
    report(
        f"parity audio encode (LTX-2.0 layout, mel 17x64 -> latents 5x16): max relative difference {figure:.2e} "
        f"(tolerance {TOLERANCE:.0e}); another mel moves the reference by {moved:.2e}"
    )
    assert moved > MOVES
    assert figure <= TOLERANCE


def _normalised(raw: torch.Tensor, vae) -> torch.Tensor:
    """Raw latents [B, C, L, M] normalised by the pipeline's own code, as ltx_core's encoder returns them."""
    P = _pipeline()
    packed = P._normalize_audio_latents(P._pack_audio_latents(raw), vae.latents_mean, vae.latents_std)
    return P._unpack_audio_latents(packed, raw.shape[2], num_mel_bins=raw.shape[3])


@pytest.mark.parametrize("rate", [16000, 48000])
def test_soundtrack_encode_is_ltx_cores(audio, report, rate):
    """Waveform -> log-mel -> latents for a clip, end to end: `LTX2Family.encode_audio` vs ltx_core's."""
    from ltx_core.model.audio_vae import encode_audio
    from ltx_core.types import Audio, AudioLatentShape, VideoPixelShape

    from ltx_studio.models.families.ltx2 import LTX2Family

    vae = audio.vae
    pipe = SimpleNamespace(  # the attributes LTX2ConditionPipeline.__init__ derives from its audio VAE
        audio_vae=vae,
        audio_sampling_rate=vae.config.sample_rate,
        audio_hop_length=vae.config.mel_hop_length,
        audio_vae_temporal_compression_ratio=vae.temporal_compression_ratio,
        audio_mel_bins=vae.config.mel_bins,
        _execution_device=torch.device("cpu"),
    )
    frames, fps = 25, 25
    generator = torch.Generator().manual_seed(4)
    wave, other = (0.3 * torch.randn(2, rate, generator=generator) for _ in range(2))  # 1 s, stereo
    steps = AudioLatentShape.from_video_pixel_shape(
        VideoPixelShape(batch=1, frames=frames, height=64, width=64, fps=fps)
    ).frames
    with torch.no_grad():
        expected = encode_audio(Audio(waveform=wave[None], sampling_rate=rate), audio.encoder)[:, :, :steps]
        expected_other = encode_audio(Audio(waveform=other[None], sampling_rate=rate), audio.encoder)[:, :, :steps]
    ours = _normalised(LTX2Family().encode_audio(pipe, wave.numpy(), rate, frames, fps), vae)
    assert ours.shape == expected.shape == (1, A.LATENT_CHANNELS, steps, LATENT_MEL_BINS)
    figure = R.max_relative(ours, expected)
    moved = R.max_relative(expected_other, expected)
    report(
        f"parity soundtrack encode ({rate} Hz waveform, 1 s clip -> latents {steps}x{LATENT_MEL_BINS}, "
        f"LTX2Family.encode_audio): max relative difference {figure:.2e} (tolerance {TOLERANCE:.0e}); another "
        f"waveform moves the reference by {moved:.2e}"
    )
    assert moved > MOVES
    assert figure <= TOLERANCE
