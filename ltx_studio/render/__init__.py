"""render: a request and its plan, conditions, prompts, the Renderer (one render on the device) and one file
per recipe (upscale, extend, retake, soundtrack, hold). Imports core, library, models; never the Studio."""
