"""jobs: the server-owned queue (SQLite beside the takes), its runner and workers, submit/follow/wait/cancel,
live drafts, and execute(): a job record run through the recipes. Imports core, library, models, render."""
