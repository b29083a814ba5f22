"""CostMeter: what a search spent, per phase. The numbers behind a "search cost" column.

Wall seconds, device seconds (CUDA events on GPU; equal to wall time on CPU), supernet epochs and steps, images
seen, forward passes and peak memory, each attributed to the phase that was open when it was spent. Phases nest by
name ("stage1/smd"); counters go to the innermost open phase, times are inclusive of nested phases.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

COUNTERS = ("wall_s", "device_s", "epochs", "steps", "images", "forwards")


@dataclass(frozen=True)
class PhaseCost:
    phase: str
    wall_s: float
    device_s: float
    epochs: float
    steps: int
    images: int
    forwards: int
    peak_mem_mb: float


class CostMeter:
    def __init__(self, device_type: str = "cpu") -> None:
        self._device_type = device_type
        self._totals: dict[str, dict[str, float]] = defaultdict(lambda: dict.fromkeys(COUNTERS, 0.0))
        self._peak: dict[str, float] = defaultdict(float)
        self._stack: list[str] = []

    @property
    def current_phase(self) -> str:
        return self._stack[-1] if self._stack else "other"

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        """Charge time spent inside to `name`; counters added inside go to `name` too."""
        full = f"{self._stack[-1]}/{name}" if self._stack else name
        self._stack.append(full)
        start_wall = time.perf_counter()
        start_event = end_event = None
        if self._device_type == "cuda":
            import torch

            start_event = torch.cuda.Event(enable_timing=True)
            end_event = torch.cuda.Event(enable_timing=True)
            torch.cuda.reset_peak_memory_stats()
            start_event.record()
        try:
            yield
        finally:
            wall = time.perf_counter() - start_wall
            device_s = wall
            if start_event is not None and end_event is not None:
                import torch

                end_event.record()
                torch.cuda.synchronize()
                device_s = start_event.elapsed_time(end_event) / 1000.0
                self._peak[full] = max(self._peak[full], torch.cuda.max_memory_allocated() / 2**20)
            else:
                self._peak[full] = max(self._peak[full], _cpu_peak_rss_mb())
            self._stack.pop()
            # Time is inclusive: a parent's wall time contains its nested phases' (which are rows of their own).
            self._totals[full]["wall_s"] += wall
            self._totals[full]["device_s"] += device_s

    def add(self, *, epochs: float = 0, steps: int = 0, images: int = 0, forwards: int = 0) -> None:
        row = self._totals[self.current_phase]
        row["epochs"] += epochs
        row["steps"] += steps
        row["images"] += images
        row["forwards"] += forwards

    def counters_state(self) -> dict[str, dict[str, float]]:
        """Work counters per phase (not times): saved with a checkpoint so a resumed run counts like an unbroken one."""
        return {
            name: {k: row[k] for k in ("epochs", "steps", "images", "forwards")} for name, row in self._totals.items()
        }

    def restore_counters(self, state: dict[str, dict[str, float]]) -> None:
        """Replace the work counters by a `counters_state()` snapshot (times and peaks are kept)."""
        for row in self._totals.values():
            for key in ("epochs", "steps", "images", "forwards"):
                row[key] = 0.0
        for name, counters in state.items():
            for key, value in counters.items():
                self._totals[name][key] = float(value)

    def phases(self) -> list[PhaseCost]:
        return [
            PhaseCost(
                phase=name,
                wall_s=row["wall_s"],
                device_s=row["device_s"],
                epochs=row["epochs"],
                steps=int(row["steps"]),
                images=int(row["images"]),
                forwards=int(row["forwards"]),
                peak_mem_mb=self._peak.get(name, 0.0),
            )
            for name, row in self._totals.items()
        ]

    def totals_for(self, prefix: str) -> dict[str, float]:
        """Counters summed over `prefix` and its sub-phases (time: the outermost matching phases only)."""
        out = dict.fromkeys(COUNTERS, 0.0)
        for name, row in self._totals.items():
            if name == prefix or name.startswith(prefix + "/"):
                for key in ("epochs", "steps", "images", "forwards"):
                    out[key] += row[key]
                if name == prefix:
                    out["wall_s"] += row["wall_s"]
                    out["device_s"] += row["device_s"]
        return out


def _cpu_peak_rss_mb() -> float:
    try:
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    except (ImportError, OSError):  # pragma: no cover - non-POSIX
        return 0.0
