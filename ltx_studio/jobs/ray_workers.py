"""Workers as Ray actors, for more than one machine (`python app.py --ray ADDRESS`; ray is optional:
`pip install -r requirements-ray.txt`).

Each actor runs the same worker loop as a worker process (workers.worker_main), talking to the head
over two Ray queues instead of a pipe. The page, the queue and the take store stay on the head; an
actor stages a take on its own node and its files travel back with it (and a source take's files
travel to it, for an upscale or an extension). Each node loads the weights from its own Hugging
Face cache: see docs/scale-out.md.
"""

from __future__ import annotations

import contextlib
import gc
import os
import queue as stdlib_queue
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

from ..core.errors import BadInput, StudioError
from .workers import START_TIMEOUT_S, ProcessWorker, worker_main

# What an actor needs of the head's environment: the studio's own settings and where (and whether) to
# read Hugging Face weights. Never a token (HF_TOKEN, HUGGING_FACE_HUB_TOKEN, HF_TOKEN_PATH): an actor
# reads weights already on its node (docs/scale-out.md), and every node of the cluster would see it.
PASSED_PREFIXES = ("LTX_STUDIO_",)
PASSED_HF = (
    "HF_HOME", "HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "HF_ASSETS_CACHE", "HF_XET_CACHE", "TRANSFORMERS_CACHE",
    "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_HUB_DISABLE_TELEMETRY", "HF_HUB_DISABLE_PROGRESS_BARS",
    "HF_HUB_ENABLE_HF_TRANSFER", "HF_ENDPOINT",
)  # fmt: skip
CHECKPOINTS = "LTX_STUDIO_CHECKPOINTS"  # and its _SET: paths on the head machine, not passed on


def actor_env(environ: Mapping[str, str]) -> dict[str, str]:
    """The environment variables an actor is started with (taken from the head's `environ`)."""
    env = {
        k: v
        for k, v in environ.items()
        if (k.startswith(PASSED_PREFIXES) or k in PASSED_HF) and not k.startswith(CHECKPOINTS)
    }
    env["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(Path(__file__).resolve().parents[2]), environ.get("PYTHONPATH")])
    )
    return env


class QueueConn:
    """A pipe-like connection over two Ray queues: `send` on one, `recv`/`poll` on the other."""

    def __init__(self, inbox, outbox):
        self._in, self._out = inbox, outbox
        self._held: list = []

    def send(self, message) -> None:
        self._out.put(message)

    def poll(self, timeout: float = 0.0) -> bool:
        if self._held:
            return True
        from ray.util.queue import Empty

        try:
            self._held.append(self._in.get(timeout=max(timeout, 0.001)))
            return True
        except Empty:
            return False

    def recv(self):
        if self._held:
            return self._held.pop(0)
        return self._in.get()


def connect(address: str | None) -> dict:
    """Join the Ray cluster at `address` ("auto": the one this machine is part of; "local": start one
    here), or use the one this process already joined. Returns its resources."""
    try:
        import ray
    except ImportError:
        raise BadInput("--ray needs Ray: pip install -r requirements-ray.txt") from None
    if not ray.is_initialized():
        try:
            ray.init(address=None if address in (None, "local") else address, include_dashboard=False)
        except Exception as exc:
            raise BadInput(f"could not join the Ray cluster at {address!r}: {str(exc).splitlines()[0][:200]}") from None
    return ray.cluster_resources()


def actor_devices(resources: dict, devices: list[str] | None) -> list[str]:
    """One actor per GPU of the cluster (each gets one GPU), unless `--devices` names them (cpu
    actors for a cluster without GPUs, or to try it out)."""
    if devices:
        return devices
    gpus = int(resources.get("GPU", 0))
    return ["cuda"] * gpus if gpus else ["cpu"]


def _actor_class():
    import ray

    @ray.remote(max_restarts=0)
    class WorkerActor:
        """A worker on some node of the cluster: the worker loop over two Ray queues."""

        def run(self, inbox, outbox, device, name, model_set, variants_file):
            outputs = tempfile.mkdtemp(prefix="ltx-ray-worker-")  # this node's own staging and take copies
            worker_main(QueueConn(inbox, outbox), device, name, model_set, variants_file, outputs, ship=True)
            return "stopped"

        def pid(self):
            return os.getpid()

    return WorkerActor


class RayWorker(ProcessWorker):
    """A worker that is a Ray actor (one GPU, or one CPU) on whichever node Ray places it."""

    def __init__(self, index: int, device: str, **kwargs):
        self._actor = None
        self._done = None
        super().__init__(index, device, **kwargs)
        self.name = f"r{index} {device}"

    def start(self) -> None:
        import ray
        from ray.util.queue import Queue

        model_set, variants_file, _outputs = self._args
        inbox, outbox = Queue(), Queue()
        gpu = self.device.startswith("cuda")
        # not the single-file checkpoints: their paths are this machine's (an actor elsewhere uses its set's own)
        env = actor_env(os.environ)
        options = {"num_gpus": 1, "num_cpus": 1} if gpu else {"num_cpus": 1}
        actor = _actor_class().options(**options, runtime_env={"env_vars": env}).remote()
        name = f"r{self.index} {self.device}"
        done = actor.run.remote(inbox, outbox, "cuda" if gpu else self.device, name, model_set, variants_file)
        conn = QueueConn(outbox, inbox)
        deadline = time.monotonic() + START_TIMEOUT_S
        while not conn.poll(0.5):
            finished, _ = ray.wait([done], timeout=0)
            if finished or time.monotonic() > deadline:
                ray.kill(actor)
                raise StudioError(f"Ray worker {name} did not start: {_failure(done)}")
        message = conn.recv()
        if message[0] != "ready":
            ray.kill(actor)
            raise StudioError(f"Ray worker {name} could not start: {message[1]}")
        self._actor, self._done, self._conn = actor, done, conn
        self._queues = (inbox, outbox)
        self.warm = set()

    @property
    def pid(self) -> int | None:
        import ray

        return ray.get(self._actor.pid.remote()) if self._actor is not None else None

    def alive(self) -> bool:
        import ray

        if self._done is None:
            return False
        finished, _ = ray.wait([self._done], timeout=0)
        return not finished

    def _join(self) -> int | None:
        return None

    def _stop_child(self) -> None:
        import ray

        if self._actor is not None:
            with contextlib.suppress(Exception):
                ray.kill(self._actor)

    def close(self) -> None:
        import ray

        if self._conn is not None:
            try:
                self._conn.send(("stop",))
                ray.wait([self._done], timeout=10)
            except Exception:
                pass
        if self._actor is not None:
            with contextlib.suppress(Exception):
                ray.kill(self._actor)
        # Let go of every Ray handle now: one collected after ray.shutdown() makes Ray end this process.
        self._actor = self._done = self._conn = self._queues = None
        gc.collect()


def _failure(ref) -> str:
    import ray

    try:
        return str(ray.get(ref, timeout=1))
    except stdlib_queue.Empty:
        return "no answer"
    except Exception as exc:
        return str(exc).strip().splitlines()[-1][:200] if str(exc).strip() else type(exc).__name__
