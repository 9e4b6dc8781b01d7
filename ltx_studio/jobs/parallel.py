"""One final across several GPUs (`python app.py --parallel-final N`): UNVERIFIED, no multi-GPU
machine was at hand when it was written.

A final (Approve & upscale's refine, or Re-render with Pro) is one long pass at full resolution. With
`--parallel-final N` the studio runs it as N processes under `torch.distributed.run` (torchrun),
one per GPU, each with the same pipelines and the same seed, and diffusers' context parallelism
(`ContextParallelConfig(ulysses_degree=N)` through `transformer.enable_parallelism`) splits the
transformer's sequence across them; both LTX transformers declare the `_cp_plan` it needs. Rank 0
stages the take's files in a folder the server gave it and writes the take's record there; the
server's TakeStore adds it, as with any worker. Progress comes back as JSON lines on rank 0's stdout.

What is checked before anything starts: N >= 2, torch.distributed, N CUDA devices, the transformer
class's `_cp_plan`. diffusers' `enable_parallelism` needs an accelerator (it divides by
`torch.accelerator.device_count()`), so this cannot run on the CPU, not even with gloo.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ..core.errors import BadInput, Cancelled, StudioError
from ..core.events import CancelToken, EventSink, Progress, TakeDone


def check_parallel_final(n: int, family) -> None:
    """A one-line BadInput unless N GPUs and the family's transformer can split a final."""
    import torch

    if n < 2:
        raise BadInput(f"--parallel-final needs 2 or more GPUs, not {n}")
    if not torch.distributed.is_available():
        raise BadInput("--parallel-final needs torch.distributed, which this torch build lacks")
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if count < n:
        raise BadInput(f"--parallel-final {n} needs {n} CUDA GPUs; this machine has {count or 'none'}")
    if not getattr(family.component_class("transformer"), "_cp_plan", None):
        raise BadInput("--parallel-final: this diffusers' transformer has no context-parallel plan")


def run_final(renderer, take_id: str, mode: str, n: int, emit: EventSink, cancel: CancelToken, width=None, height=None):
    """Render the final of `take_id` across N GPUs (torchrun) and add it to the renderer's store."""
    import queue
    import signal
    import threading

    draft = renderer.store.get(take_id)
    renderer.store.approve(draft.id)  # as a one-GPU final does first
    staged = renderer.store.stage()
    command = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={n}",
        "-m", "ltx_studio.jobs.parallel", "--take", draft.id, "--mode", mode, "--outputs", str(renderer.store.root),
        "--stage", str(staged), "--model-set", renderer.model_set.name,
    ]  # fmt: skip
    if renderer.variants_file:
        command += ["--variants-file", str(renderer.variants_file)]
    if width or height:
        command += ["--width", str(width or ""), "--height", str(height or "")]
    emit(Progress("final", 0.0, f"Rendering the final across {n} GPUs"))
    log = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115 - the ranks' stderr (a pipe could fill and block them)
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=log, text=True, start_new_session=True)
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: [lines.put(x) for x in process.stdout] + [lines.put(None)], daemon=True).start()
    try:
        while True:
            if cancel.cancelled:
                _stop(process, signal)
                raise Cancelled("stopped")
            try:
                line = lines.get(timeout=0.5)
            except queue.Empty:
                continue
            if line is None:
                break
            with contextlib.suppress(ValueError, KeyError, TypeError):  # rank 0's progress, a JSON object a line
                event = json.loads(line)
                emit(Progress(event["stage"], float(event["fraction"]), event.get("message", "")))
        code = process.wait()
        if code != 0:
            log.seek(0)
            tail = log.read().strip().splitlines()[-1:] or ["no message"]
            raise StudioError(f"the {n}-GPU final failed (exit code {code}): {tail[0][:200]}")
        from ..library.takes import Take

        record = json.loads((staged / "take.json").read_text(encoding="utf-8"))
        take = Take.from_record(record, staged)
        take.worker = f"{n} GPUs (context parallel)"
        take = renderer.store.add(take, staged)
    except BaseException:
        if process.poll() is None:
            _stop(process, signal)
        renderer.store.discard(staged)
        raise
    finally:
        log.close()
    emit(TakeDone(take))
    return take


def _stop(process, signal) -> None:
    """Stop torchrun and its ranks: SIGTERM to the group (torchrun passes it on), SIGKILL after 15 s."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(15)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(5)


class _RankStore:
    """A rank's store: reads from the studio's takes; rank 0 stages into the server's folder and
    writes the record there (the server adds it); the other ranks' files are thrown away."""

    def __init__(self, outputs: Path, stage: Path, rank: int):
        from ..library.takes import TakeStore

        self._store = TakeStore(outputs)
        self.root, self.takes_dir, self.worker = self._store.root, self._store.takes_dir, ""
        self._stage, self._rank = stage, rank

    def get(self, take_id: str):
        return self._store.get(take_id)

    def approve(self, take_id: str, approved: bool = True):
        return self._store.get(take_id)  # the server approved it before starting

    def stage(self) -> Path:
        return self._stage if self._rank == 0 else Path(tempfile.mkdtemp())

    def discard(self, staged: Path) -> None:
        if self._rank != 0:
            import shutil

            shutil.rmtree(staged, ignore_errors=True)

    def add(self, take, staged: Path):
        from ..library.media import write_json

        if self._rank == 0:
            take.folder = str(staged)
            write_json(take.path("record"), take.record())
        else:
            self.discard(staged)
        return take


def main(argv: list[str] | None = None) -> int:
    """One rank of a parallel final (started by run_final through torchrun)."""
    import torch
    import torch.distributed as dist

    parser = argparse.ArgumentParser(prog="python -m ltx_studio.jobs.parallel")
    for flag in ("--take", "--mode", "--outputs", "--stage", "--model-set"):
        parser.add_argument(flag, required=True)
    parser.add_argument("--variants-file")
    parser.add_argument("--width", type=lambda v: int(v) if v else None)
    parser.add_argument("--height", type=lambda v: int(v) if v else None)
    args = parser.parse_args(argv)
    local = int(os.environ.get("LOCAL_RANK", "0"))
    torch.cuda.set_device(local)
    os.environ["LTX_STUDIO_DEVICE"] = f"cuda:{local}"
    dist.init_process_group("nccl")
    rank, world = dist.get_rank(), dist.get_world_size()
    try:
        from diffusers import ContextParallelConfig

        from ..core.commandline import quiet_libraries
        from ..render.renderer import Renderer
        from ..render.upscale import upscale

        quiet_libraries()

        store = _RankStore(Path(args.outputs), Path(args.stage), rank)
        renderer = Renderer(model_set_name=args.model_set, variants_file=args.variants_file, store=store)
        renderer.manager.transformer_hook = lambda transformer: transformer.enable_parallelism(
            config=ContextParallelConfig(ulysses_degree=world)
        )
        last = [0.0]

        def report(event) -> None:
            if rank == 0 and isinstance(event, Progress) and time.monotonic() - last[0] > 0.5:
                last[0] = time.monotonic()
                print(
                    json.dumps({"stage": event.stage, "fraction": event.fraction, "message": event.message}), flush=True
                )

        upscale(renderer, args.take, mode=args.mode, width=args.width, height=args.height, on_event=report)
    finally:
        dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main())
