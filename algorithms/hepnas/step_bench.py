"""HEP-NAS step breakdown: where the time of a stage goes, per stage and child, against a supernet epoch of the
same network (issue 14; `nas-harness bench hepnas-step`, `HepNas.step_breakdown`).

What runs is the search's own code, on the supernet built by the space (`get_space(space).one_shot`; NB201 by
default) with
the HEP-NAS defaults (`Config()`: C/N as given, cell BN affine=False with running statistics, SGD + Adam, GM
partition, smd="both", teacher BN "train", peers in select_bn_mode):

    S <- full supernet, alpha ~ 1e-3 N(0,1); `warmup_steps` untimed supernet steps (allocator, kernel caches)
    for stage t = 1..stages (hierarchy t in node order):
        time one supernet epoch of S                      train_epoch(S, kd=None): alpha step + weight step, CE
        GM split of the stage's edges                     gm_split_edge (`gm_batches` probe batches), then
                                                          hierarchy_partitions, check_cap, spawn_child
        teacher <- S, frozen; one SMD round               per child i: train_epoch(child, kd=KD(teacher, the
                                                          other children, logit cache iff shared_round_batches))
        S <- child 0 (stands in for the selection winner; selection is not timed)

An epoch is `batches` weight-half batches zipped with `batches` held-out batches, each of `batch_size` random
32x32 CIFAR-shaped images (10 classes): speed does not depend on the pixel values, so no data set is read. The
pieces are timed inside the real `train_epoch` through its `sections` hook (perf_counter; on CUDA each section
synchronises first and last): the architecture step (darts_alpha_step), the teacher forward and each sibling
forward (mixture_logits; only forwards actually run, cached logits cost nothing), and the weight step (forward,
CE or SMD loss, backward, clip, SGD). `other_s` is the rest of the epoch (loop, batch pairing, loss tally).

Ratios: a child's `ratio` = its SMD epoch / the stage's supernet epoch; its `smd_share` = (teacher + sibling
forward time) / its SMD epoch. A stage's `ratio` uses its mean child epoch, its `smd_share` the children's
summed teacher + sibling time over their summed epochs.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from algorithms.common.alpha import full_mask, init_alpha, masked_softmax
from algorithms.common.gm_split import gm_split_edge
from algorithms.common.partition import (
    SupernetState,
    check_cap,
    hierarchy_partitions,
    singleton_groups,
    spawn_child,
)
from harness.errors import InputError
from harness.train import make_adam, make_sgd

from .config import Config
from .smd import SMD_MODES, uses_siblings, uses_teacher
from .training import KD, train_epoch

MAX_STAGES = 3
NUM_CLASSES = 10
IMAGE_SIZE = 32


@dataclass(frozen=True)
class SupernetEpochTiming:
    """One plain supernet epoch of a stage's parent S (the epochs HEP-NAS runs before each split)."""

    epoch_s: float
    arch_step_s: float
    weight_step_s: float
    other_s: float
    steps: int
    active_ops: int  # True entries of S's mask


@dataclass(frozen=True)
class ChildEpochTiming:
    """One SMD epoch of one stage child."""

    child: int
    active_ops: int
    epoch_s: float
    weight_step_s: float  # child forward + SMD loss + backward + clip + SGD
    arch_step_s: float
    teacher_forward_s: float
    siblings: tuple[int, ...]  # the other children's indices, in the order of sibling_forward_s
    sibling_forward_s: tuple[float, ...]  # per sibling, summed over the epoch
    kd_other_s: float  # KD targets minus the forwards (cache look-ups, mixture weights)
    other_s: float
    teacher_forwards: int  # forwards actually run (the logit cache answers the rest)
    sibling_forwards: int
    nominal_teacher_forwards: int  # without a cache (the public code's count)
    nominal_sibling_forwards: int
    ratio: float  # epoch_s / the stage's supernet epoch_s
    smd_share: float  # (teacher_forward_s + sum(sibling_forward_s)) / epoch_s


@dataclass(frozen=True)
class StageBreakdown:
    stage: int
    edges: tuple[int, ...]
    children: int
    supernet: SupernetEpochTiming
    split_s: float  # GM split of the stage's edges (gm_batches probe batches) + spawning the children
    child_epochs: tuple[ChildEpochTiming, ...]
    child_epoch_s_mean: float
    round_s: float  # one SMD round: every child's epoch
    ratio: float  # child_epoch_s_mean / supernet.epoch_s
    smd_share: float  # the children's teacher + sibling forward time / their epoch time


@dataclass(frozen=True)
class StepBreakdown:
    space: str
    C: int
    N: int
    batch_size: int
    batches: int
    image_size: int
    device: str
    threads: int
    torch_version: str
    smd: str
    shared_round_batches: bool
    data: str
    stages: tuple[StageBreakdown, ...]

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready values (`nas-harness bench hepnas-step --json`)."""
        return dataclasses.asdict(self)

    def table(self) -> str:
        """The human table of `nas-harness bench hepnas-step`: per stage, the supernet epoch and each child's SMD
        epoch split into its pieces (seconds per epoch; "other" = the rest of the epoch, KD cache look-ups
        included; "fwd" = teacher + sibling forwards run / nominal)."""
        head = ("stage", "run", "ops", "epoch", "weight", "arch", "teacher", "siblings", "other", "fwd", "ratio")
        head += ("smd%",)
        rows: list[tuple[str, ...]] = []
        notes: list[str] = []
        for s in self.stages:
            p = s.supernet
            rows.append((str(s.stage), "supernet", str(p.active_ops), f"{p.epoch_s:.3f}", f"{p.weight_step_s:.3f}",
                         f"{p.arch_step_s:.3f}", "", "", f"{p.other_s:.3f}", "", "1.00", ""))  # fmt: skip
            for c in s.child_epochs:
                run = c.teacher_forwards + c.sibling_forwards
                nominal = c.nominal_teacher_forwards + c.nominal_sibling_forwards
                rows.append(("", f"child {c.child}", str(c.active_ops), f"{c.epoch_s:.3f}", f"{c.weight_step_s:.3f}",
                             f"{c.arch_step_s:.3f}", f"{c.teacher_forward_s:.3f}", f"{sum(c.sibling_forward_s):.3f}",
                             f"{c.other_s + c.kd_other_s:.3f}", f"{run}/{nominal}", f"{c.ratio:.2f}",
                             f"{100 * c.smd_share:.1f}"))  # fmt: skip
            notes.append(
                f"stage {s.stage}: {s.children} children (edges {list(s.edges)}): child SMD epoch / supernet epoch "
                f"{s.ratio:.2f}x, SMD terms (teacher + sibling forwards) {100 * s.smd_share:.1f}% of the child epochs"
            )
        widths = [max(len(r[k]) for r in (head, *rows)) for k in range(len(head))]
        fmt = "  ".join(f"{{:{'<' if k == 1 else '>'}{w}}}" for k, w in enumerate(widths))
        return "\n".join(
            [
                f"HEP-NAS step breakdown: {self.space} supernet C={self.C} N={self.N}, batch {self.batch_size}, "
                f"{self.batches} batches per epoch ({self.data}), smd={self.smd}, "
                f"shared_round_batches={self.shared_round_batches}",
                f"device {self.device} (torch {self.torch_version}, {self.threads} threads); seconds per epoch",
                fmt.format(*head),
                *(fmt.format(*r) for r in rows),
                *notes,
            ]
        )


class _Sections:
    """The `sections` hook of train_epoch: wall seconds and entry count per section name."""

    def __init__(self, device: torch.device) -> None:
        self.sync = device.type == "cuda"
        self.seconds: dict[str, float] = defaultdict(float)
        self.count: dict[str, int] = defaultdict(int)

    @contextlib.contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        if self.sync:
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        try:
            yield
        finally:
            if self.sync:
                torch.cuda.synchronize()
            self.seconds[name] += time.perf_counter() - t0
            self.count[name] += 1


def _check(name: str, value: Any, low: int, high: int | None = None) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < low or (high is not None and value > high):
        allowed = f"an integer >= {low}" if high is None else f"an integer from {low} to {high}"
        raise InputError(f"{name}={value!r}; allowed: {allowed}")


def _random_batches(n: int, batch_size: int, gen: torch.Generator, device: torch.device) -> list[tuple[Tensor, Tensor]]:
    out = []
    for _ in range(n):
        x = torch.randn(batch_size, 3, IMAGE_SIZE, IMAGE_SIZE, generator=gen)
        y = torch.randint(0, NUM_CLASSES, (batch_size,), generator=gen)
        out.append((x.to(device), y.to(device)))
    return out


def step_breakdown(
    *,
    space: str,
    C: int = 16,
    N: int = 5,
    batch_size: int = 64,
    batches: int = 20,
    stages: int = MAX_STAGES,
    device: str = "auto",
    threads: int | None = None,
    smd: str = "both",
    shared_round_batches: bool = False,
    warmup_steps: int = 2,
    gm_batches: int = 1,
    seed: int = 0,
    progress: Callable[[str], None] | None = None,
) -> StepBreakdown:
    """Time HEP-NAS stages 1..`stages` (module docstring) and return the per-stage, per-child breakdown.

    `space`: a registered space name (the CLI passes its --space, by default the registry's default space).

    An epoch is `batches` batches of `batch_size` random 32x32 images; `threads` sets torch's intra-op threads
    for the call (restored after; None keeps the current setting); `smd` and `shared_round_batches` as the
    HEP-NAS config (the latter enables the teacher/sibling logit cache). `progress` receives one line per timed
    epoch. Bad values raise InputError.
    """
    from harness.spaces import get_space
    from harness.supernet_bench import resolve_device

    from .search import stage_hierarchies  # (search.py imports this module)

    for name, value, low in (("C", C, 1), ("N", N, 1), ("batch_size", batch_size, 1), ("batches", batches, 1),
                             ("warmup_steps", warmup_steps, 0), ("gm_batches", gm_batches, 1)):  # fmt: skip
        _check(name, value, low)
    _check("stages", stages, 1, MAX_STAGES)
    if threads is not None:
        _check("threads", threads, 1)
    if smd not in SMD_MODES:
        raise InputError(f"smd={smd!r}; allowed: {', '.join(SMD_MODES)}")
    dev = resolve_device(device)
    cfg = dataclasses.replace(Config(), smd=smd, shared_round_batches=bool(shared_round_batches))
    one_shot = get_space(space).require("one_shot", "bench hepnas-step")
    hierarchies = stage_hierarchies(one_shot, "node", len(cfg.split_epochs))[:stages]

    threads_before = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            result = _run(cfg, one_shot, hierarchies, C, N, batch_size, batches, dev, warmup_steps, gm_batches,
                          seed, progress)  # fmt: skip
        used_threads = torch.get_num_threads()
    finally:
        torch.set_num_threads(threads_before)
    return StepBreakdown(
        space=space,
        C=C,
        N=N,
        batch_size=batch_size,
        batches=batches,
        image_size=IMAGE_SIZE,
        device=torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu",
        threads=used_threads,
        torch_version=torch.__version__,
        smd=smd,
        shared_round_batches=cfg.shared_round_batches,
        data="random 32x32 CIFAR-shaped tensors",
        stages=tuple(result),
    )


def _run(
    cfg: Config,
    one_shot: Any,
    hierarchies: list[tuple[int, ...]],
    C: int,
    N: int,
    batch_size: int,
    batches: int,
    dev: torch.device,
    warmup_steps: int,
    gm_batches: int,
    seed: int,
    progress: Callable[[str], None] | None,
) -> list[StageBreakdown]:
    gen = torch.Generator().manual_seed(seed)
    weight = _random_batches(batches, batch_size, gen, dev)
    held = _random_batches(batches, batch_size, gen, dev)
    probe = _random_batches(gm_batches, batch_size, gen, dev)
    sn = cfg.supernet
    net = one_shot.build_supernet(
        num_classes=NUM_CLASSES, C=C, N=N, affine=sn.affine, track_running_stats=sn.track_running_stats
    ).to(dev)
    alpha = init_alpha(gen, cfg.alpha_init_scale, shape=(one_shot.num_edges, one_shot.num_ops), device=dev)
    S = SupernetState(
        supernet=net,
        mask=full_mask(one_shot, dev, cfg.exclude_ops),
        alpha=alpha,
        w_opt=make_sgd(net.parameters(), cfg.weight_opt),
        a_opt=make_adam([alpha], cfg.alpha_opt),
        sched={"step": 0},
    )
    lr, clip = cfg.weight_opt.lr, cfg.weight_opt.grad_clip
    if warmup_steps:
        train_epoch(S, weight, held, lr=lr, grad_clip=clip, update_alpha=True, max_steps=warmup_steps)
    start = time.perf_counter()

    def say(line: str) -> None:
        if progress is not None:
            progress(f"{line} ({time.perf_counter() - start:.1f}s elapsed)")

    def timed(state: SupernetState, kd: KD | None) -> tuple[float, _Sections, int]:
        sections = _Sections(dev)
        _sync(dev)
        t0 = time.perf_counter()
        st = train_epoch(state, weight, held, lr=lr, grad_clip=clip, update_alpha=True, kd=kd, sections=sections)
        _sync(dev)
        return time.perf_counter() - t0, sections, st.steps

    peer_bn = "public" if cfg.kd_bn_mode == "public" else cfg.select_bn_mode
    teacher_bn = "public" if cfg.kd_bn_mode == "public" else "train"
    use_cache = cfg.shared_round_batches and cfg.kd_bn_mode != "public" and cfg.smd != "none"
    out: list[StageBreakdown] = []
    for t, hier in enumerate(hierarchies, start=1):
        epoch_s, sec, steps = timed(S, None)
        sup = SupernetEpochTiming(
            epoch_s=epoch_s,
            arch_step_s=sec.seconds["arch_step"],
            weight_step_s=sec.seconds["weight_step"],
            other_s=epoch_s - sec.seconds["arch_step"] - sec.seconds["weight_step"],
            steps=steps,
            active_ops=int(S.mask.sum()),
        )
        say(f"stage {t}: supernet epoch {epoch_s:.2f}s")

        # the stage's split, as HepNas._split / _stage (GM on edges with >= 2 active ops, else singletons)
        _sync(dev)
        t0 = time.perf_counter()
        groups = []
        for e in hier:
            if cfg.partition == "exhaustive" or int(S.mask[e].sum()) < 2:
                groups.append(singleton_groups(S.mask, e))
                continue
            assert S.alpha is not None
            base = masked_softmax(S.alpha.detach(), S.mask)
            split, _ = gm_split_edge(S.supernet, base, S.mask, e, probe, one_shot.gm_vector, probe=cfg.gm_probe)
            groups.append(split.groups)
        parts = hierarchy_partitions(S.mask, hier, groups)
        check_cap(len(parts), cfg.max_sub_supernets, what=f"hepnas stage {t}")
        children = [spawn_child(S, p.mask) for p in parts]
        S.supernet.requires_grad_(False)  # the frozen teacher
        _sync(dev)
        split_s = time.perf_counter() - t0

        cache: dict[tuple[Any, ...], Tensor] | None = {} if use_cache else None
        trained: set[int] = set()
        timings: list[ChildEpochTiming] = []
        for i, child in enumerate(children):
            kd = KD(
                mode=cfg.smd,
                teacher=S if uses_teacher(cfg.smd) else None,
                siblings=[(k, c) for k, c in enumerate(children) if k != i] if uses_siblings(cfg.smd) else [],
                teacher_bn=teacher_bn,
                peer_bn=peer_bn,
                cache=cache,
                trained=trained,
            )
            epoch_s_i, sec, steps = timed(child, kd)
            trained.add(i)
            sib = tuple(k for k, _ in kd.siblings)
            sib_s = tuple(sec.seconds[f"sibling{k}"] for k in sib)
            teacher_s = sec.seconds["teacher"]
            kd_s = sec.seconds["kd_targets"]
            parts_s = sec.seconds["arch_step"] + kd_s + sec.seconds["weight_step"]
            timings.append(
                ChildEpochTiming(
                    child=i,
                    active_ops=int(child.mask.sum()),
                    epoch_s=epoch_s_i,
                    weight_step_s=sec.seconds["weight_step"],
                    arch_step_s=sec.seconds["arch_step"],
                    teacher_forward_s=teacher_s,
                    siblings=sib,
                    sibling_forward_s=sib_s,
                    kd_other_s=kd_s - teacher_s - sum(sib_s),
                    other_s=epoch_s_i - parts_s,
                    teacher_forwards=sec.count["teacher"],
                    sibling_forwards=sum(sec.count[f"sibling{k}"] for k in sib),
                    nominal_teacher_forwards=steps if kd.teacher is not None else 0,
                    nominal_sibling_forwards=steps * len(sib),
                    ratio=epoch_s_i / sup.epoch_s,
                    smd_share=(teacher_s + sum(sib_s)) / epoch_s_i,
                )
            )
            say(f"stage {t}: child {i + 1}/{len(children)} SMD epoch {epoch_s_i:.2f}s")
        del cache
        round_s = sum(c.epoch_s for c in timings)
        mean = round_s / len(timings)
        smd_s = sum(c.teacher_forward_s + sum(c.sibling_forward_s) for c in timings)
        out.append(
            StageBreakdown(
                stage=t,
                edges=tuple(hier),
                children=len(children),
                supernet=sup,
                split_s=split_s,
                child_epochs=tuple(timings),
                child_epoch_s_mean=mean,
                round_s=round_s,
                ratio=mean / sup.epoch_s,
                smd_share=smd_s / round_s,
            )
        )
        S = children[0]
    return out


def _sync(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
