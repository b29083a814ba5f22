"""HEP-NAS resume: what the search loop carries from one unit of work to the next (`Run`), and its checkpoint
"hepnas" (saved by search.py after every unit of work, right after that unit's records).

The checkpoint loads with torch.load(weights_only=True): tensors, numbers, strings, lists and dicts. Supernets
are state dicts; what is already decided (stage and sub-supernet outcomes, split groups and GM info, per-child
costs, held-out accuracies) is JSON text, architectures as `arch.to_str()` (parsed back by
`space.values.parse`), numpy RNG states as JSON text of `bit_generator.state`.

Position (`Position`, the NEXT unit of work):
    stage     1 .. number of stages; number of stages + 1 = the final epochs
    phase     "supernet"  supernet epoch `epoch` of the stage (absolute epoch index along the path)
              "spawn"     the stage's GM split is done (groups saved); spawning the children
              "smd"       SMD round `round`, child `child` (round == smd_epochs: the selection comes next)
              "select"    the selection measurement of child `child`
              "final"     final epoch `epoch` (absolute index: split_epochs[-1] + k)

Supernets (`dump_supernet` / `thaw_supernet`): weights with BN buffers, mask, alpha, scheduler position
(`sched`), whether the weights are frozen (teachers), and both optimizers' states where the supernet can still
train or spawn (the current S before its stage's spawn and during the final epochs, every child of the current
stage). Object identity is kept: a kept child that IS the current S (the previous stage's winner, which is the
current stage's S and teacher) is saved as the reference "S" and restored as that same object.
"""

from __future__ import annotations

import copy
import json
import time
from dataclasses import asdict, dataclass, field, fields
from typing import Any

import torch
from torch import Tensor, nn

from algorithms.common.partition import SupernetState
from algorithms.common.supernet_train import generator_states, restore_generators
from harness.api import RunContext, StageOutcome, SubSupernetOutcome
from harness.spaces.base import SearchSpace

from .config import Config
from .training import EpochStats

CKPT = "hepnas"
PHASES = ("supernet", "spawn", "smd", "select", "final")
NUMPY_PURPOSES = ("stage_order",)


@dataclass
class Position:
    """The next unit of work (module docstring)."""

    stage: int = 1
    phase: str = "supernet"
    epoch: int = 0
    round: int = 0
    child: int = 0

    def __post_init__(self) -> None:
        if self.phase not in PHASES:
            raise ValueError(f"unknown hepnas checkpoint phase {self.phase!r}")


@dataclass
class Run:
    """The state of one HEP-NAS search between two units of work: exactly what the checkpoint holds.

    During stage t, `S` is the stage's supernet: trained in the supernet epochs, split, then (frozen) the teacher
    of the stage's `children`; the stage closes with S <- the selected child. `kept` holds every finished
    stage's children (empty lists with keep_children=False), used by `HepNas.score`."""

    S: SupernetState
    pos: Position = field(default_factory=Position)
    step: int = 0
    # the current stage, once split
    groups: list[Any] | None = None
    split_info: list[dict[str, Any]] | None = None
    children: list[SupernetState] = field(default_factory=list)
    child_cost: list[EpochStats] = field(default_factory=list)
    accs: list[float] = field(default_factory=list)
    round_start: Tensor | None = None  # shared_round_batches: the weight generator's state at the round start
    # finished stages
    kept: list[list[SupernetState]] = field(default_factory=list)
    stages: list[StageOutcome] = field(default_factory=list)
    subs: list[SubSupernetOutcome] = field(default_factory=list)
    stage_extras: list[dict[str, Any]] = field(default_factory=list)
    stage_t0: float = field(default_factory=time.perf_counter)  # wall clock of the current stage (cost only)

    def clear_stage(self) -> None:
        """Forget the closed stage's split, children, costs and accuracies (they live on in the outcomes)."""
        self.groups = self.split_info = None
        self.children, self.child_cost, self.accs, self.round_start = [], [], [], None

    # ------------------------------------------------------------------------------------------------ save
    def save(self, ctx: RunContext, generators: list[str]) -> None:
        """Checkpoint "hepnas": call right after the records of the unit of work it closes."""
        trains = self.pos.phase in ("supernet", "spawn", "final")  # S still trains or spawns children
        decided = {
            "groups": self.groups,
            "split_info": self.split_info,
            "child_cost": [asdict(c) for c in self.child_cost],
            "accs": self.accs,
            "stages": [_stage_dict(s) for s in self.stages],
            "subs": [asdict(s) for s in self.subs],
            "stage_extras": self.stage_extras,
        }
        state: dict[str, Any] = {
            "pos": asdict(self.pos),
            "step": self.step,
            "S": dump_supernet(self.S, optimizers=trains),
            "children": [dump_supernet(c, optimizers=True) for c in self.children],
            "kept": [[_ref_or_dump(c, self.S) for c in stage] for stage in self.kept],
            "generators": generator_states(ctx, generators),
            "numpy": {p: json.dumps(ctx.numpy_rng(p).bit_generator.state) for p in NUMPY_PURPOSES},
            "decided": json.dumps(decided, default=_json_scalar),
            "stage_wall_s": time.perf_counter() - self.stage_t0,
        }
        if self.round_start is not None:
            state["round_start"] = self.round_start
        ctx.save_checkpoint(CKPT, state)

    # ------------------------------------------------------------------------------------------------ load
    @classmethod
    def start_or_resume(cls, ctx: RunContext, space: SearchSpace, cfg: Config, S: SupernetState) -> Run:
        """A fresh run around the initial supernet `S`, or the run of the last checkpoint (its supernets
        rebuilt on copies of `S`'s modules, its RNG streams restored)."""
        saved = ctx.load_checkpoint(CKPT)
        if saved is None:
            return cls(S=S)
        template = S.supernet
        device = S.mask.device
        run = cls(
            S=thaw_supernet(saved["S"], template, cfg, device),
            pos=Position(**saved["pos"]),
            step=int(saved["step"]),
        )
        run.children = [thaw_supernet(c, template, cfg, device) for c in saved["children"]]
        run.kept = [
            [run.S if c == "S" else thaw_supernet(c, template, cfg, device) for c in stage] for stage in saved["kept"]
        ]
        restore_generators(ctx, saved["generators"])
        for purpose, text in saved["numpy"].items():
            ctx.numpy_rng(purpose).bit_generator.state = json.loads(text)
        decided = json.loads(saved["decided"])
        run.groups, run.split_info = decided["groups"], decided["split_info"]
        run.child_cost = [EpochStats(**c) for c in decided["child_cost"]]
        run.accs = [float(a) for a in decided["accs"]]
        parse = space.values.parse
        run.stages = [_stage_outcome(s, parse) for s in decided["stages"]]
        run.subs = [SubSupernetOutcome(**s) for s in decided["subs"]]
        run.stage_extras = decided["stage_extras"]
        if "round_start" in saved:
            run.round_start = saved["round_start"].to(torch.uint8)
        run.stage_t0 = time.perf_counter() - float(saved["stage_wall_s"])
        return run


# ------------------------------------------------------------------------------------------------ supernets
def dump_supernet(st: SupernetState, *, optimizers: bool) -> dict[str, Any]:
    """A (sub-)supernet as plain tensors and numbers; optimizers only when asked (and present)."""
    assert st.alpha is not None
    out: dict[str, Any] = {
        "supernet": st.supernet.state_dict(),
        "mask": st.mask.detach().cpu(),
        "alpha": st.alpha.detach().cpu(),
        "sched": dict(st.sched),
        "frozen": not any(p.requires_grad for p in st.supernet.parameters()),
    }
    if optimizers and st.w_opt is not None and st.a_opt is not None:
        out["w_opt"] = st.w_opt.state_dict()
        out["a_opt"] = st.a_opt.state_dict()
    return out


def thaw_supernet(saved: dict[str, Any], template: nn.Module, cfg: Config, device: torch.device) -> SupernetState:
    """The SupernetState of `dump_supernet`, its module a copy of `template` (same architecture)."""
    from harness.train import make_adam, make_sgd

    net = copy.deepcopy(template)
    net.load_state_dict(saved["supernet"])
    net.requires_grad_(not saved["frozen"])
    alpha = saved["alpha"].to(device).clone().requires_grad_(True)
    st = SupernetState(
        supernet=net,
        mask=saved["mask"].to(device=device, dtype=torch.bool),
        alpha=alpha,
        sched={k: int(v) for k, v in saved["sched"].items()},
    )
    if "w_opt" in saved:
        st.w_opt = make_sgd(net.parameters(), cfg.weight_opt)
        st.w_opt.load_state_dict(saved["w_opt"])
        st.a_opt = make_adam([alpha], cfg.alpha_opt)
        st.a_opt.load_state_dict(saved["a_opt"])
    return st


def _ref_or_dump(child: SupernetState, S: SupernetState) -> Any:
    return "S" if child is S else dump_supernet(child, optimizers=False)


# ------------------------------------------------------------------------------------------------- outcomes
def _stage_dict(s: StageOutcome) -> dict[str, Any]:
    d = {f.name: getattr(s, f.name) for f in fields(s)}
    d["pick_arch"] = None if s.pick_arch is None else s.pick_arch.to_str()
    return d


def _stage_outcome(d: dict[str, Any], parse: Any) -> StageOutcome:
    arch = d.get("pick_arch")
    return StageOutcome(**{**d, "pick_arch": None if arch is None else parse(arch)})


def _json_scalar(value: Any) -> Any:
    """numpy scalars (and 0-d tensors) as Python numbers."""
    if hasattr(value, "item"):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


__all__ = ["CKPT", "Position", "Run", "dump_supernet", "thaw_supernet"]
