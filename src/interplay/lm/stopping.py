"""Stopping a training run on request without losing the work since its last checkpoint.

Checkpoints come every `checkpoint.every` steps, and on 2 CPU cores the cpu preset's 250 steps are
about 50 minutes: a Ctrl-C (or the SIGTERM of a batch scheduler, or of a session that ends) between two
of them used to throw all of that away. Inside `StopOnSignal`, the first SIGINT or SIGTERM only raises
a flag; the loop finishes the step it is in, writes a checkpoint, and stops (exit status 130), and the
same command resumes from there exactly as from any checkpoint. A second Ctrl-C stops at once.

The handler only sets the flag (printing from a signal handler can collide with the loop's own
printing); the loop says what happens when it sees it. With several processes (DDP), the flag is
combined over all of them every step, so they stop at the same step and write one checkpoint.
"""

from __future__ import annotations

import signal
import threading
from typing import Any

_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopOnSignal:
    def __init__(self) -> None:
        self.signal_name: str | None = None
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> StopOnSignal:
        if threading.current_thread() is threading.main_thread():  # handlers can only be set there
            for sig in _SIGNALS:
                self._previous[sig] = signal.signal(sig, self._on_signal)
        return self

    def __exit__(self, *exc: Any) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()

    def _on_signal(self, signum: int, frame: Any) -> None:
        self.signal_name = signal.Signals(signum).name
        # The next Ctrl-C interrupts at once (KeyboardInterrupt), the next SIGTERM as the default does.
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)

    def requested(self, world: int = 1, device: Any = None) -> bool:
        """Whether any process was asked to stop (a collective when `world` > 1: call it on every process)."""
        if world > 1:
            import torch
            import torch.distributed as tdist

            flag = torch.tensor([1.0 if self.signal_name else 0.0], device=device)
            tdist.all_reduce(flag, op=tdist.ReduceOp.MAX)
            if flag.item() and self.signal_name is None:
                self.signal_name = "a signal to another process"
        return self.signal_name is not None

    def end_step(self, stage: str, done: int, total: int, every: int, checkpoint: Any, save: Any,
                 metrics: Any, say: Any, world: int = 1, device: Any = None) -> None:
        """The end of training step `done` in both training loops: write the periodic checkpoint when one is
        due (every `every` steps; none after the last step, whose final checkpoint follows), and on a stop
        request make sure a checkpoint exists at this step, then leave. `save(path, step)` writes one at
        `checkpoint`. Call it on every process (the stop flag is a collective under DDP)."""
        if done == total:
            return
        due = bool(every) and done % every == 0
        if due:
            save(checkpoint, done)
        if self.requested(world, device):
            if not due:  # a stop between two checkpoints writes one where it stops
                save(checkpoint, done)
            self.leave(stage, done, total, str(checkpoint), metrics, say)

    def leave(self, stage: str, done: int, total: int, checkpoint: str | None, metrics: Any, say: Any) -> None:
        """Stop the run after its checkpoint at step `done` is written: say where it is, close the metrics
        (TensorBoard buffers), and raise KeyboardInterrupt (the CLI exits with status 130)."""
        say(f"{stage}: stopped on request ({self.signal_name}) after step {done} of {total}; checkpoint "
            f"{checkpoint}; run the same command to resume")
        if metrics is not None:
            metrics.close()
        raise KeyboardInterrupt
