"""`bench --workers N`: M independent drafts through the studio's queue with one worker and with N,
as throughput (drafts per minute) and the ratio, rounds alternating so both see the same machine.

Each worker is a process with its own device (cuda:0..N-1 where there are GPUs, else the CPU); on
the CPU every worker gets the same number of torch threads in both runs (--threads, default 1), so
the ratio shows what the dispatch costs, not how torch shares cores. Models load (and a first draft
runs) before the clock starts.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from ..jobs.ops import Draft
from .measure import machine_info


def workers_bench(args: argparse.Namespace) -> dict:
    import torch

    from ..render.request import RenderRequest
    from ..studio import Studio

    n = args.workers
    gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    devices = [f"cuda:{i}" for i in range(n)] if gpus >= n else ["cpu"] * n
    drafts = args.drafts
    width, height, frames = args.width or 192, args.height or 128, args.frames or 17
    os.environ["LTX_STUDIO_WORKER_THREADS"] = str(args.threads or 1)  # the workers read it when they start
    runs: dict[int, list[float]] = {1: [], n: []}
    root = Path(tempfile.mkdtemp(prefix="ltx-bench-workers-"))
    studios = {}

    def request(seed: int) -> RenderRequest:
        return RenderRequest(prompt="a kite over a beach", width=width, height=height, frames=frames, seed=seed)

    try:
        for count in (1, n):
            studio = Studio(model_set_name=args.model_set, variants_file=args.variants_file, outputs=root / str(count))
            studio.start_jobs(devices[:count])
            studios[count] = studio
            warm = [studio.submit(Draft(request(i), preview=False)) for i in range(count)]  # each worker loads once
            for job in warm:
                studio.wait(job.id)
        for _round in range(args.repeat):
            for count in (1, n):
                studio = studios[count]
                started = time.perf_counter()
                jobs = [studio.submit(Draft(request(100 + i), preview=False)) for i in range(drafts)]
                for job in jobs:
                    studio.wait(job.id)
                runs[count].append(drafts / (time.perf_counter() - started) * 60)
    finally:
        for studio in studios.values():
            studio.close()
        shutil.rmtree(root, ignore_errors=True)
        os.environ.pop("LTX_STUDIO_WORKER_THREADS", None)
    one, many = statistics.median(runs[1]), statistics.median(runs[n])
    pair = [b / a for a, b in zip(runs[1], runs[n], strict=True)]
    return {
        "bench": "workers",
        "model_set": args.model_set,
        "size": f"{width}x{height}x{frames}",
        "devices": devices,
        "drafts": drafts,
        "repeat": args.repeat,
        "threads_per_worker": None if gpus >= n else args.threads or 1,
        "per_minute": {
            "1": [round(x, 2) for x in runs[1]],
            str(n): [round(x, 2) for x in runs[n]],
        },
        "ratio": round(many / one, 3),
        "pair_ratio_range": [round(min(pair), 3), round(max(pair), 3)],
        "goal": 1.6 if n == 2 else None,
        "machine": machine_info(),
    }


def format_workers(data: dict) -> str:
    n = len(data["devices"])
    one, many = data["per_minute"]["1"], data["per_minute"][str(n)]
    lines = [
        f"workers bench · {data['model_set']} · {data['size']} · {data['drafts']} drafts per run, {data['repeat']} "
        f"runs each · devices {', '.join(data['devices'])}"
        + (f" · {data['threads_per_worker']} torch thread(s) per worker" if data["threads_per_worker"] else ""),
        f"1 worker   drafts/min min/median/max {min(one):.1f}/{statistics.median(one):.1f}/{max(one):.1f}",
        f"{n} workers  drafts/min min/median/max {min(many):.1f}/{statistics.median(many):.1f}/{max(many):.1f}",
        f"ratio {data['ratio']:.2f} (runs paired: {data['pair_ratio_range'][0]:.2f} to {data['pair_ratio_range'][1]:.2f})"
        + (
            f" · goal >= {data['goal']:g}: {'met' if data['ratio'] >= data['goal'] else 'not met'}"
            if data["goal"]
            else ""
        ),
    ]
    return "\n".join(lines)
