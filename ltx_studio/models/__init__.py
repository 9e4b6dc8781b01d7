"""models: the pipeline manager, memory policy, placement, levers, LoRAs, variants (variants.toml), previews,
camera moves, the tiny demo models and downloads; families/ is the only code that calls diffusers. Imports core, library."""
