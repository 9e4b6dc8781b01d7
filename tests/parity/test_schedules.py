"""Our LTX-2 sigma schedules are Lightricks' (ltx-core / ltx-pipelines 1.0.0), as plain lists.

Ours is what the condition pipeline's scheduler holds after its own step 5 (`calculate_shift`,
`retrieve_timesteps`) for the sigmas and step count the LTX-2 family hands it (`schedule`) inside the
family's `plain_schedule`, on the scheduler LTX-2 ships. Theirs: the distilled pipelines' constants
(`ltx_pipelines.utils.constants`) and, for the guided (Pro) pipelines, `LTX2Scheduler().execute(steps)`
without a latent (ti2vid_two_stages stage 1), i.e. the shift for 4096 tokens at every size.
Tolerance: 1e-6 absolute on every sigma (float32 rounding).
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

TOLERANCE = 1e-6

# Lightricks/LTX-2's scheduler/scheduler_config.json as copies of it read (the Hub file is not on this
# machine): FlowMatchEulerDiscreteScheduler with the resolution-dependent shift LTX2Scheduler uses.
SHIPPED_SCHEDULER = {
    "base_image_seq_len": 1024,
    "base_shift": 0.95,
    "invert_sigmas": False,
    "max_image_seq_len": 4096,
    "max_shift": 2.05,
    "num_train_timesteps": 1000,
    "shift": 1.0,
    "shift_terminal": 0.1,
    "stochastic_sampling": False,
    "time_shift_type": "exponential",
    "use_beta_sigmas": False,
    "use_dynamic_shifting": True,
    "use_exponential_sigmas": False,
    "use_karras_sigmas": False,
}
SETS = ("ltx2", "ltx2-19b")


def pipeline_sigmas(sampling, width: int, height: int, frames: int, refine: bool = False) -> list[float]:
    """The sigmas LTX2ConditionPipeline steps through for this pass (its step 5, on our family's inputs)."""
    from diffusers import FlowMatchEulerDiscreteScheduler
    from diffusers.pipelines.ltx2.pipeline_ltx2_condition import calculate_shift, retrieve_timesteps

    from ltx_studio.models.families.ltx2_reference import plain_schedule, schedule

    sigmas, steps = schedule(sampling, SimpleNamespace(refine=refine, steps=None))
    pipe = SimpleNamespace(scheduler=FlowMatchEulerDiscreteScheduler.from_config(SHIPPED_SCHEDULER))
    tokens = ((frames - 1) // 8 + 1) * (height // 32) * (width // 32)  # latents.shape[1], packed
    with plain_schedule(pipe, sigmas is not None):
        scheduler = pipe.scheduler
        given = np.linspace(1.0, 1 / steps, steps) if sigmas is None else sigmas
        mu = calculate_shift(
            tokens,
            scheduler.config.get("base_image_seq_len", 1024),
            scheduler.config.get("max_image_seq_len", 4096),
            scheduler.config.get("base_shift", 0.95),
            scheduler.config.get("max_shift", 2.05),
        )
        retrieve_timesteps(scheduler, steps, "cpu", None, sigmas=given, mu=mu)
        return scheduler.sigmas.float().tolist()


def gap(ours: list[float], theirs: list[float]) -> float:
    assert len(ours) == len(theirs), f"{len(ours)} sigmas, the reference has {len(theirs)}"
    return float(np.abs(np.asarray(ours, np.float64) - np.asarray(theirs, np.float64)).max())


@pytest.mark.parametrize("name", SETS)
@pytest.mark.parametrize("variant", ["fast", "distilled"])
def test_distilled_sigmas_are_the_references(name, variant, registry, reference_code, report):
    """8 distilled steps (stage 1) and the 3 refine steps, noised to the refine's first sigma as the reference
    noises stage 2 (`noise_scale=STAGE_2_DISTILLED_SIGMA_VALUES[0]`; the pipeline's default: sigmas[0])."""
    constants = reference_code.pipelines_module("ltx_pipelines.utils.constants")
    sampling = registry[name].variants[variant].sampling
    stage_1 = pipeline_sigmas(sampling, 768, 512, 121)
    stage_2 = pipeline_sigmas(sampling, 1536, 1024, 121, refine=True)
    first, second = (
        gap(stage_1, constants.DISTILLED_SIGMA_VALUES),
        gap(stage_2, constants.STAGE_2_DISTILLED_SIGMA_VALUES),
    )
    report(f"parity distilled sigmas ({name} {variant}): stage 1 {first:.1e}, refine {second:.1e} (tolerance 1e-6)")
    assert first <= TOLERANCE and second <= TOLERANCE
    assert stage_2[0] == pytest.approx(constants.STAGE_2_DISTILLED_SIGMA_VALUES[0], abs=TOLERANCE)


@pytest.mark.parametrize("name", SETS)
@pytest.mark.parametrize("size", [(768, 512), (960, 544)], ids=["768x512", "960x544"])
def test_pro_stage_one_sigmas_are_the_references(name, size, registry, reference_code, report):
    """Pro's guided stage 1 (121 frames at the stage-1 size): LTX2Scheduler().execute(steps) shifts for 4096
    tokens whatever the size (6144 tokens at 768x512, 8160 at 960x544); diffusers' scheduler alone would
    shift for the clip's own token count (figure reported)."""
    from ltx_core.components.schedulers import LTX2Scheduler

    sampling = registry[name].variants["pro"].sampling
    theirs = LTX2Scheduler().execute(steps=sampling.num_steps).tolist()
    ours = pipeline_sigmas(sampling, *size, 121)
    figure = gap(ours, theirs)
    report(f"parity Pro stage-1 sigmas ({name}, {sampling.num_steps} steps, {size[0]}x{size[1]}x121): {figure:.1e}")
    assert figure <= TOLERANCE


def test_scheduler_alone_would_shift_by_the_clips_tokens(reference_code, report):
    """What the shipped scheduler does with no sigma list (diffusers' own Pro path): at 4096 tokens it is the
    reference's schedule, at 768x512x121 (6144 tokens) it is not. Shows the Pro test above has teeth."""
    from diffusers import FlowMatchEulerDiscreteScheduler
    from diffusers.pipelines.ltx2.pipeline_ltx2_condition import calculate_shift, retrieve_timesteps
    from ltx_core.components.schedulers import LTX2Scheduler

    theirs = LTX2Scheduler().execute(steps=30).tolist()
    figures = {}
    for tokens in (4096, 6144):
        scheduler = FlowMatchEulerDiscreteScheduler.from_config(SHIPPED_SCHEDULER)
        mu = calculate_shift(tokens, 1024, 4096, 0.95, 2.05)
        retrieve_timesteps(scheduler, 30, "cpu", None, sigmas=np.linspace(1.0, 1 / 30, 30), mu=mu)
        figures[tokens] = gap(scheduler.sigmas.float().tolist(), theirs)
    report(f"parity scheduler by token count: 4096 tokens {figures[4096]:.1e}, 6144 tokens {figures[6144]:.1e}")
    assert figures[4096] <= TOLERANCE < 100 * TOLERANCE < figures[6144]
