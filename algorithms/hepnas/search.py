"""HEP-NAS (hierarchical edge partitioning with search-space mutual distillation), on any space with a
one-shot adapter (hierarchies, derivation, GM vector and supernet come from `space.one_shot`).

Follows algorithms.md §2.2 / pseudo-code §2.6 step by step:

    S <- full supernet, alpha ~ 1e-3 N(0,1), fresh SGD + Adam, scheduler position 0
    for stage t (hierarchy H_t in `stage_order`), split epoch s_t:
        train S for epoch indices start .. s_t - 1 (first-order alpha step on held-out + weight step)
        groups[e] <- GM split of e (2 groups) | singletons (exhaustive), for e in H_t
        children <- full-state copies of S with mask AND product(groups)   (cap checked before training)
        teacher <- S (frozen); for j: for child i: one SMD epoch at epoch index start + j
        S <- first child with maximal whole-held-out top-1 (own masked-softmax mixture, select_bn_mode)
    train S for final_epochs (no KD); return the space's derivation of masked softmax(alpha)

Defaults = HEP-NAS as released (public code `nasbench201/train_search.py`); config.py lists each default's source
and the named variants.

Scheduler (lr_schedule): one position per trained epoch along the path (supernet, SMD, final epochs),
inherited by children (each child steps its own copy). Default "public_code": the code's CosineAnnealingLR
(T_max = public_t_max, 0 = the last split epoch, eta_min = weight_opt.lr_min), periodic past T_max: on NB201 the 60
positions go 0.025 -> 0.001 (position 30) -> back towards 0.025, exactly torch's scheduler stepped 60 times.
Variant "path_cosine": monotone 0.025 -> 0.001 over the selected path (split_epochs[-1] + stages * smd_epochs +
final_epochs positions).

SMD batches (shared_round_batches): default False, as the code (each child iterates its own loaders): child i of
stage t draws its weight-half and alpha batches from generators seeded with purposes "stage{t}/child{i}/weight" and
"stage{t}/child{i}/alpha" (`child_purposes`), so a stage rerun (or a checkpoint of those generator states) gives the
same batches. Variant True: every child of a round replays the same weight-half batches of the run's "train" stream
(teacher/sibling logits cached per batch).

Selection (the code's infer(eval=False)): each child's top-1 of its masked-softmax mixture over the whole held-out
half, no gradient, BN as select_bn_mode ("train" = batch statistics, running stats untouched). Default: batches of
select_batch_size (0 = batch_size, 128), crop + flip, each child its own shuffled pass drawn from the generator
"stage{t}/child{i}/select" (the final supernet: "final/select"). Variant select_augment=False: the fixed, in-order,
un-augmented batches of select_batch_size shared by every child (the old harness selection: 512, false).

Data: `data_protocol` ("train_half" default, the seeded 50/50 split of the training set; "nb201_official") must
match the split the run's data was built with (checked on real data before training).

Checkpoint "hepnas" (resume.py; ctx.save_checkpoint right after the records of the unit of work it closes): after
every supernet epoch; after each stage's GM split; after every SMD child epoch, or only after every SMD round when
the stage has more than PER_CHILD_CHECKPOINT_MAX = 8 children (a checkpoint holds them all) or the round shares a
teacher/sibling logit cache; after every selection measurement (stages of at most 8 children); after the stage's
close (S <- winner, its records logged); after every final epoch. It holds the position (stage; supernet epoch /
split done / SMD round and child / selection child / final epoch), the step counter, S (the stage's supernet, then
its frozen teacher) and every child of the current stage (weights with BN buffers, mask, alpha, scheduler position;
both optimizers' states where the supernet still trains), the children kept from earlier stages (weights, for
score()), the RNG streams still to be drawn from ("train/weight", "train/alpha", "gm", the stage children's
purposes; numpy "stage_order"), the weight generator's state at the start of a shared-batch round, and everything
decided (split groups and GM info, stage and child outcomes, per-child costs, held-out accuracies). A run killed at
any moment resumes from the last checkpoint (records truncated back to it, cost counters restored) and ends with
the records, outcome and rank scores of an uninterrupted run (CPU).

Scoring rule (SupernetScorer, for rank correlation): an arch inside the final winner's region is scored by the
final supernet (owner "final"); any other arch by the deepest stage child whose region contains it (owner
"stage{t}/child{i}"; stage children partition their parent's region, so exactly one child per stage contains
it and the deepest such child is the last supernet that saw the arch's region). Each owner scores its archs with
algorithms.common.scoring.score_for_rank: the run's rank-scoring protocol (`ctx.scoring`); native (None) =
single-path held-out top-1 with the arch's one-hot weights on fixed un-augmented batches of eval_batch_size, BN as
`select_bn_mode`, running statistics untouched.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, ClassVar

import numpy as np
import torch
from torch import Tensor

from algorithms.common.alpha import derive, full_mask, init_alpha, masked_softmax, sharpen_loss
from algorithms.common.gm_split import gm_split_edge
from algorithms.common.partition import (
    Partition,
    SupernetState,
    check_cap,
    hierarchy_partitions,
    planned_children,
    singleton_groups,
    spawn_child,
)
from algorithms.common.scoring import score_by_owner
from algorithms.common.supernet_train import build_supernet, check_split
from harness.api import Arch, RunContext, SearchOutcome, StageOutcome, SubSupernetOutcome, WorkItem
from harness.errors import InputError
from harness.projection import steps_per_epoch
from harness.spaces.base import OneShotAdapter, SearchSpace

from .config import Config
from .resume import Position, Run
from .smd import uses_siblings, uses_teacher
from .step_bench import step_breakdown
from .training import KD, EpochStats, held_out_accuracy, train_epoch

PER_CHILD_CHECKPOINT_MAX = 8
SELECTION_RULE = "the last stage's winner (held-out top-1 selection), derived by {rule}"


def stage_hierarchies(
    one_shot: OneShotAdapter, order: str, count: int, rng: np.random.Generator | None = None
) -> list[tuple[int, ...]]:
    """The hierarchies (edge tuples) processed by the stages: node order, reversed, or a seeded permutation of
    whole nodes (every edge of a node stays together: algorithms.md §9 #4)."""
    hs = list(one_shot.hierarchies)
    if order == "reversed":
        hs = hs[::-1]
    elif order == "random":
        if rng is None:
            raise ValueError("stage_order='random' needs an rng")
        hs = [hs[i] for i in rng.permutation(len(hs))]
    return hs[:count]


def child_purposes(stage: int, child: int) -> tuple[str, str, str]:
    """The generator purposes (ctx.torch_generator) of one stage child: its SMD weight-half batches, its SMD alpha
    batches (shared_round_batches=False) and its selection pass (select_augment=True). Seeded by (run seed,
    purpose) alone, so a rerun gives the same batches, and `generator_states(ctx, purposes)` checkpoints them."""
    base = f"stage{stage}/child{child}"
    return f"{base}/weight", f"{base}/alpha", f"{base}/select"


def planned_stage_children(
    one_shot: OneShotAdapter, cfg: Config, hierarchies: Sequence[tuple[int, ...]]
) -> list[int]:
    """Children per stage, known before training (each stage's edges are untouched by earlier stages)."""
    mask = full_mask(one_shot, exclude_ops=cfg.exclude_ops).numpy()
    return [planned_children(mask, h, cfg.partition) for h in hierarchies]


class HepNas:
    name: ClassVar[str] = "hepnas"
    Config: ClassVar[type] = Config
    uses_oracle: ClassVar[bool] = False
    requires: ClassVar[tuple[str, ...]] = ("one_shot",)
    step_breakdown = staticmethod(step_breakdown)  # the step-breakdown benchmark (step_bench.py)

    @staticmethod
    def work_plan(cfg: Config, space: SearchSpace, n_weight: int, n_held_out: int) -> list[WorkItem]:
        """The protocol in supernet steps (harness.projection). Every supernet and child step is timed on the full
        supernet (an upper bound: a child keeps part of the ops of the edges already split). Per weight batch: a
        weight step and an architecture step; per SMD step of a child: its weight and architecture steps, a
        teacher forward and one forward per sibling (smd both / mutual); GM: one forward/backward per probe batch
        and planned child; selection: every child on the whole held-out half."""
        one_shot = space.one_shot
        b = cfg.batch_size
        cap = cfg.max_steps_per_epoch
        steps = min(steps_per_epoch(n_weight, b, cap), steps_per_epoch(n_held_out, b, cap))  # zip of the two halves
        order = "node" if cfg.stage_order == "random" else cfg.stage_order
        planned = planned_stage_children(one_shot, cfg, stage_hierarchies(one_shot, order, len(cfg.split_epochs)))
        smd_steps = sum(planned) * cfg.smd_epochs * steps
        sibling_forwards = sum(c * (c - 1) for c in planned) * cfg.smd_epochs * steps if uses_siblings(cfg.smd) else 0
        teacher_forwards = smd_steps if uses_teacher(cfg.smd) else 0
        select_bs = cfg.select_batch_size or b
        supernet_steps = (cfg.split_epochs[-1] + cfg.final_epochs) * steps
        return [
            WorkItem("supernet", "train", 2 * supernet_steps, b, None,
                     f"{cfg.split_epochs[-1] + cfg.final_epochs} epochs of weight + architecture steps"),
            WorkItem("GM split", "train", cfg.gm_batches * sum(planned), b, None, "probe batches x planned children"),
            WorkItem("SMD", "train", 2 * smd_steps, b, None,
                     f"children {planned}: weight + architecture steps, {cfg.smd_epochs} epoch(s) per stage"),
            WorkItem("SMD", "forward", teacher_forwards + sibling_forwards, b, None, "teacher and sibling forwards"),
            WorkItem("selection", "forward", sum(planned) * steps_per_epoch(n_held_out, select_bs), select_bs, None,
                     "every child on the held-out half"),
        ]

    def __init__(self, config: Config | None = None) -> None:
        self.config = config if config is not None else Config()
        self.one_shot: Any = None
        self._final: SupernetState | None = None
        self._stage_children: list[list[SupernetState]] = []
        self._fixed_select: list[tuple[Tensor, Tensor]] | None = None

    # ------------------------------------------------------------------------------------------------ helpers
    def _lr(self, position: int) -> float:
        from harness.train import path_cosine_lr, public_code_lr

        cfg = self.config
        if cfg.lr_schedule == "public_code":  # CosineAnnealingLR(T_max, eta_min=lr_min) after `position` steps
            t_max = cfg.public_t_max or max(1, cfg.split_epochs[-1])
            return public_code_lr(position, t_max, cfg.weight_opt.lr, cfg.weight_opt.lr_min)
        return path_cosine_lr(position, max(1, cfg.path_positions), cfg.weight_opt.lr, cfg.weight_opt.lr_min)

    def _amp_device(self, ctx: RunContext) -> torch.device | None:
        """The device to autocast on (bf16) when the run opted in with amp=true, else None (fp32)."""
        return torch.device(ctx.device) if self.config.amp else None

    def _streams(self, ctx: RunContext, weight_purpose: str, alpha_purpose: str) -> tuple[Any, Any]:
        """Weight-half and alpha (held-out) batch streams drawn from the named generators."""
        from harness.data import BatchStream

        cfg = self.config
        data = ctx.data
        w = BatchStream(
            data.weight,
            batch_size=cfg.batch_size,
            generator=ctx.torch_generator(weight_purpose),
            augment=cfg.augment,
            sampling=cfg.batch_sampling,
        )
        h = BatchStream(
            data.held_out,
            batch_size=cfg.batch_size,
            generator=ctx.torch_generator(alpha_purpose),
            augment=cfg.augment,
            sampling=cfg.batch_sampling,
        )
        return w, h

    def _selection_batches(self, ctx: RunContext, purpose: str) -> Iterable[tuple[Tensor, Tensor]]:
        """One pass over the whole held-out half for a selection measurement (module docstring): a shuffled,
        augmented pass from generator `purpose` (select_augment=True), or the fixed in-order un-augmented
        batches shared by every child (False)."""
        from harness.data import BatchStream, fixed_batches

        cfg = self.config
        if not cfg.select_augment:
            if self._fixed_select is None:
                self._fixed_select = fixed_batches(ctx.data.held_out, cfg.selection_batch_size)
            return self._fixed_select
        return BatchStream(
            ctx.data.held_out,
            batch_size=cfg.selection_batch_size,
            generator=ctx.torch_generator(purpose),
            augment=True,
            drop_last=False,  # the whole half: the last batch may be short (DataLoader default)
            sampling="epoch",
        )

    def _select_accuracy(
        self, ctx: RunContext, state: SupernetState, purpose: str, amp_device: torch.device | None
    ) -> tuple[float, int, int]:
        """(held-out top-1 %, forwards, images) of `state`'s mixture over one selection pass; counted in ctx."""
        tally = [0, 0]

        def counted(batches: Iterable[tuple[Tensor, Tensor]]) -> Iterator[tuple[Tensor, Tensor]]:
            for x, y in batches:
                tally[0] += 1
                tally[1] += int(y.shape[0])
                yield x, y

        batches = counted(self._selection_batches(ctx, purpose))
        acc = held_out_accuracy(state, batches, self.config.select_bn_mode, amp_device)
        ctx.count(forwards=tally[0], images=tally[1])
        return acc, tally[0], tally[1]

    def _gm_batches(self, ctx: RunContext) -> Iterator[tuple[Tensor, Tensor]]:
        from harness.data import BatchStream

        cfg = self.config
        stream = BatchStream(
            ctx.data.weight,
            batch_size=cfg.batch_size,
            generator=ctx.torch_generator("gm"),
            augment=cfg.augment,
            sampling=cfg.batch_sampling,
        )
        produced = 0
        while produced < cfg.gm_batches:
            for batch in stream:
                yield batch
                produced += 1
                if produced >= cfg.gm_batches:
                    return

    def _epoch(
        self,
        ctx: RunContext,
        state: SupernetState,
        streams: tuple[Any, Any],
        *,
        epoch_index: int,
        kd: KD | None,
        amp_device: torch.device | None,
        sharpen: bool = False,
    ) -> EpochStats:
        """One epoch at scheduler position state.sched["step"]; `sharpen` adds the alpha-sharpening term to the
        alpha loss when the config enables it (supernet and final epochs, never SMD: algorithms.md §2.5)."""
        cfg = self.config
        position = state.sched.get("step", 0)
        regularizer = None
        if sharpen and cfg.alpha_sharpen:
            cell_edges, active = self.one_shot.cell_edges, state.mask

            def regularizer(probs: torch.Tensor) -> torch.Tensor:
                return sharpen_loss(probs, active, cell_edges)

        stats = train_epoch(
            state,
            iter(streams[0]),
            iter(streams[1]),
            lr=self._lr(position),
            grad_clip=cfg.weight_opt.grad_clip,
            update_alpha=epoch_index >= cfg.alpha_warmup_epochs,
            alpha_regularizer=regularizer,
            kd=kd,
            max_steps=cfg.max_steps_per_epoch,
            amp_device=amp_device,
        )
        state.sched["step"] = position + 1
        ctx.count(epochs=1, steps=stats.steps, images=stats.images, forwards=stats.forwards)
        return stats

    @staticmethod
    def check_spec(cfg: Config, space: SearchSpace) -> None:
        """Refuse, before any run folder exists (harness.config calls this), what cannot run in `space`: more
        stages than hierarchies, or a stage whose planned children exceed max_sub_supernets (with
        stage_order="random" any hierarchy can come first, so every one is checked)."""
        one_shot = space.one_shot
        if len(cfg.split_epochs) > len(one_shot.hierarchies):
            raise InputError(
                f"hepnas.split_epochs={cfg.split_epochs!r} has {len(cfg.split_epochs)} stages; space {space.name!r} "
                f"has {len(one_shot.hierarchies)} hierarchies"
            )
        if cfg.stage_order == "random":
            candidates = list(one_shot.hierarchies)
        else:
            candidates = stage_hierarchies(one_shot, cfg.stage_order, len(cfg.split_epochs))
        for t, n in enumerate(planned_stage_children(one_shot, cfg, candidates), start=1):
            check_cap(n, cfg.max_sub_supernets, what=f"hepnas stage {t} (partition={cfg.partition})")

    # ------------------------------------------------------------------------------------------------- search
    def search(self, space: SearchSpace, ctx: RunContext) -> SearchOutcome:
        cfg = self.config
        check_split(ctx.data, cfg.data_protocol, self.name)
        one_shot = self.one_shot = space.one_shot
        self.check_spec(cfg, space)
        amp_device = self._amp_device(ctx)
        self._fixed_select = None
        hierarchies = stage_hierarchies(
            one_shot, cfg.stage_order, len(cfg.split_epochs), ctx.numpy_rng("stage_order")
        )
        planned = planned_stage_children(one_shot, cfg, hierarchies)
        for t, n in enumerate(planned, start=1):
            check_cap(n, cfg.max_sub_supernets, what=f"hepnas stage {t} (partition={cfg.partition})")

        run = Run.start_or_resume(ctx, space, cfg, self._initial_supernet(ctx))
        streams = self._streams(ctx, "train/weight", "train/alpha")
        for t, hier in enumerate(hierarchies, start=1):
            if t >= run.pos.stage:  # earlier stages finished before the resume
                self._stage(ctx, run, t, hier, streams, amp_device)
        self._final_epochs(ctx, run, streams, amp_device)

        S = self._final = run.S
        self._stage_children = run.kept
        assert S.alpha is not None
        final_arch = derive(one_shot, S.alpha.detach(), S.mask)
        final_acc, _, _ = self._select_accuracy(ctx, S, "final/select", amp_device)
        remaining = one_shot.region_size(S.mask.cpu().numpy())
        ctx.log(run.step, "final", held_out_acc_pct=final_acc, remaining_space=remaining)
        return SearchOutcome(
            final_arch=final_arch,
            selection_rule=SELECTION_RULE.format(rule=one_shot.selection_rule),
            stages=tuple(run.stages),
            sub_supernets=tuple(run.subs),
            extras={
                "stage_order": cfg.stage_order,
                "hierarchies": [list(h) for h in hierarchies],
                "stages": run.stage_extras,
                "final_mask": S.mask.cpu().int().tolist(),
                "final_alpha_softmax": _softmax_list(S),
                "final_held_out_acc_pct": final_acc,
                "path_epochs": cfg.path_positions,
                "data_protocol": cfg.data_protocol,
                "lr_schedule": cfg.lr_schedule,
                "select_batch_size": cfg.selection_batch_size,
                "select_augment": cfg.select_augment,
                "shared_round_batches": cfg.shared_round_batches,
                "amp": cfg.amp,
            },
        )

    def _initial_supernet(self, ctx: RunContext) -> SupernetState:
        """S of stage 1: the seeded supernet, alpha ~ alpha_init_scale N(0,1), fresh SGD + Adam, position 0."""
        from harness.train import make_adam, make_sgd

        cfg, one_shot = self.config, self.one_shot
        sn = cfg.supernet
        net = build_supernet(
            one_shot,
            ctx,
            num_classes=ctx.data.num_classes,
            C=sn.C,
            N=sn.N,
            affine=sn.affine,
            track_running_stats=sn.track_running_stats,
        )
        device = torch.device(ctx.device)
        alpha = init_alpha(
            ctx.torch_generator("alpha_init"),
            cfg.alpha_init_scale,
            shape=(one_shot.num_edges, one_shot.num_ops),
            device=device,
        )
        return SupernetState(
            supernet=net,
            mask=full_mask(one_shot, device, cfg.exclude_ops),
            alpha=alpha,
            w_opt=make_sgd(net.parameters(), cfg.weight_opt),
            a_opt=make_adam([alpha], cfg.alpha_opt),
            sched={"step": 0},
        )

    def _save(self, ctx: RunContext, run: Run) -> None:
        """Checkpoint "hepnas" (resume.py), with the RNG streams still to be drawn from: the run's weight/alpha
        streams, the GM probe batches and, inside a stage, its children's SMD and selection generators."""
        purposes = ["train/weight", "train/alpha", "gm"]
        purposes += [p for i in range(len(run.children)) for p in child_purposes(run.pos.stage, i)]
        run.save(ctx, purposes)

    def _stage(
        self,
        ctx: RunContext,
        run: Run,
        t: int,
        hier: tuple[int, ...],
        streams: tuple[Any, Any],
        amp_device: torch.device | None,
    ) -> None:
        """Stage t from `run.pos` on: supernet epochs, GM split, spawn, SMD rounds, selection, close."""
        cfg = self.config
        start = cfg.split_epochs[t - 2] if t > 1 else 0
        with ctx.phase(f"stage{t}"):
            # 1. supernet epochs; 2. partition
            if run.pos.phase == "supernet":
                with ctx.phase("supernet"):
                    epochs = range(run.pos.epoch, cfg.split_epochs[t - 1])
                    for epoch in ctx.progress(epochs, total=len(epochs), desc=f"hepnas stage {t} supernet"):
                        st = self._epoch(
                            ctx, run.S, streams, epoch_index=epoch, kd=None, amp_device=amp_device, sharpen=True
                        )
                        run.step += st.steps
                        ctx.log(
                            run.step,
                            "supernet",
                            stage=t,
                            epoch=epoch,
                            train_loss=st.loss,
                            lr=self._lr(run.S.sched["step"] - 1),
                        )
                        run.pos = Position(t, "supernet", epoch=epoch + 1)
                        self._save(ctx, run)
                with ctx.phase("split"):
                    run.groups, run.split_info = self._split(ctx, run.S, hier)
                run.pos = Position(t, "spawn")
                self._save(ctx, run)
            assert run.groups is not None
            parts = hierarchy_partitions(run.S.mask, hier, run.groups)
            check_cap(len(parts), cfg.max_sub_supernets, what=f"hepnas stage {t}")
            # 3. spawn children with the full state; 4. teacher = S, frozen from now on
            if run.pos.phase == "spawn":
                with ctx.phase("spawn"):
                    run.children = [spawn_child(run.S, p.mask) for p in parts]
                run.child_cost = [EpochStats() for _ in parts]
                run.pos = Position(t, "smd")
            run.S.supernet.requires_grad_(False)
            # 5. SMD round-robin: for j: for child i: one epoch
            if run.pos.phase == "smd":
                self._smd_rounds(ctx, run, t, start, streams, amp_device)
                run.pos = Position(t, "select")
            # 6. select on the whole held-out half (the code's infer(eval=False))
            with ctx.phase("select"):
                for i in range(run.pos.child, len(run.children)):
                    t0 = time.perf_counter()
                    acc, forwards, _ = self._select_accuracy(
                        ctx, run.children[i], child_purposes(t, i)[2], amp_device
                    )
                    run.child_cost[i].wall_s += time.perf_counter() - t0
                    run.child_cost[i].forwards += forwards
                    run.accs.append(acc)
                    ctx.log(
                        run.step,
                        "select",
                        stage=t,
                        child=i,
                        held_out_acc_pct=acc,
                        remaining_space=parts[i].remaining_space(self.one_shot),
                    )
                    run.pos = Position(t, "select", child=i + 1)
                    # (the last measurement is followed at once by the stage's checkpoint)
                    if i + 1 < len(run.children) and _per_child_checkpoints(len(run.children)):
                        self._save(ctx, run)
        self._close_stage(ctx, run, t, hier, parts, start)

    def _smd_rounds(
        self,
        ctx: RunContext,
        run: Run,
        t: int,
        start: int,
        streams: tuple[Any, Any],
        amp_device: torch.device | None,
    ) -> None:
        """SMD rounds from run.pos (round, child) on; a checkpoint after every child epoch, or only after every
        round when the stage has more than PER_CHILD_CHECKPOINT_MAX children or the round shares a teacher/sibling
        logit cache (shared_round_batches with kd_bn_mode="harness")."""
        cfg = self.config
        children, teacher = run.children, run.S
        peer_bn = "public" if cfg.kd_bn_mode == "public" else cfg.select_bn_mode
        teacher_bn = "public" if cfg.kd_bn_mode == "public" else "train"
        replay = cfg.shared_round_batches
        use_cache = replay and cfg.kd_bn_mode != "public" and cfg.smd != "none"
        weight_gen = streams[0].generator
        per_child = _per_child_checkpoints(len(children))
        if replay:  # variant: every child of the round replays the round's batches of the run's "train" stream
            child_streams = [streams] * len(children)
        else:  # public code: each child iterates its own loaders (seeded per stage and child)
            child_streams = [self._streams(ctx, *child_purposes(t, i)[:2]) for i in range(len(children))]
        while run.pos.round < cfg.smd_epochs:
            j, first = run.pos.round, run.pos.child
            epoch_index = start + j
            if replay and first == 0:
                run.round_start = weight_gen.get_state()
            cache: dict[tuple[Any, ...], Tensor] | None = {} if use_cache else None
            trained: set[int] = set(range(first))
            for i in range(first, len(children)):
                if run.round_start is not None:  # every child of the round replays the same batches
                    weight_gen.set_state(run.round_start)
                kd = KD(
                    mode=cfg.smd,
                    teacher=teacher if uses_teacher(cfg.smd) else None,
                    siblings=[(k, c) for k, c in enumerate(children) if k != i] if uses_siblings(cfg.smd) else [],
                    teacher_bn=teacher_bn,
                    peer_bn=peer_bn,
                    cache=cache,
                    trained=trained,
                )
                with ctx.phase(f"child{i}"):
                    st = self._epoch(
                        ctx, children[i], child_streams[i], epoch_index=epoch_index, kd=kd, amp_device=amp_device
                    )
                trained.add(i)
                run.step += st.steps
                _accumulate(run.child_cost[i], st)
                ctx.log(
                    run.step,
                    "smd",
                    stage=t,
                    child=i,
                    epoch=epoch_index,
                    train_loss=st.loss,
                    lr=self._lr(children[i].sched["step"] - 1),
                )
                round_done = i + 1 == len(children)
                run.pos = Position(t, "smd", round=j + 1 if round_done else j, child=0 if round_done else i + 1)
                if round_done:
                    run.round_start = None
                # a resume inside a cached round would recompute the cache (other forward counts): rounds only
                if round_done or (per_child and not use_cache):
                    self._save(ctx, run)
            del cache

    def _close_stage(
        self, ctx: RunContext, run: Run, t: int, hier: tuple[int, ...], parts: list[Partition], start: int
    ) -> None:
        """S <- the first child with maximal held-out accuracy; the stage's records and outcomes; checkpoint."""
        cfg, one_shot = self.config, self.one_shot
        children, accs = run.children, run.accs
        pick = 0
        for i, acc in enumerate(accs):
            if acc > accs[pick]:  # strict: the first maximum wins
                pick = i
        S = run.S = children[pick]
        remaining = one_shot.region_size(S.mask.cpu().numpy())
        ctx.log(run.step, "stage", stage=t, children=len(children), pick=pick, remaining_space=remaining)
        for i, (p, acc) in enumerate(zip(parts, accs, strict=True)):
            run.subs.append(
                SubSupernetOutcome(
                    stage=t,
                    child=i,
                    partition=p.describe(one_shot),
                    held_out_acc=acc,
                    selected=i == pick,
                    remaining_space=p.remaining_space(one_shot),
                    cost=_cost_dict(run.child_cost[i]),
                )
            )
        split_epoch = cfg.split_epochs[t - 1]
        run.stages.append(
            StageOutcome(
                index=t,
                children=len(children),
                pick=pick,
                remaining_space=remaining,
                pick_arch=derive(one_shot, S.alpha.detach(), S.mask) if S.alpha is not None else None,
                cost={
                    "wall_s": time.perf_counter() - run.stage_t0,
                    "epochs": float(split_epoch - start + cfg.smd_epochs * len(children)),
                },
            )
        )
        run.stage_extras.append(
            {"stage": t, "edges": list(hier), "split": run.split_info, "held_out_acc_pct": accs, "pick": pick}
        )
        run.kept.append(children if cfg.keep_children else [])
        run.clear_stage()
        last = t == len(cfg.split_epochs)
        run.pos = Position(t + 1, "final" if last else "supernet", epoch=split_epoch)
        run.stage_t0 = time.perf_counter()
        self._save(ctx, run)

    def _final_epochs(
        self, ctx: RunContext, run: Run, streams: tuple[Any, Any], amp_device: torch.device | None
    ) -> None:
        """The final epochs on the winner (no KD) from run.pos.epoch on; a checkpoint after each."""
        end = self.config.split_epochs[-1] + self.config.final_epochs
        with ctx.phase("final"):
            epochs = range(run.pos.epoch, end)
            for epoch in ctx.progress(epochs, total=len(epochs), desc="hepnas final"):
                st = self._epoch(ctx, run.S, streams, epoch_index=epoch, kd=None, amp_device=amp_device, sharpen=True)
                run.step += st.steps
                ctx.log(run.step, "final", epoch=epoch, train_loss=st.loss)
                run.pos = Position(run.pos.stage, "final", epoch=epoch + 1)
                self._save(ctx, run)

    def _split(
        self, ctx: RunContext, S: SupernetState, hier: Sequence[int]
    ) -> tuple[list[tuple[tuple[int, ...], ...]], list[dict[str, Any]]]:
        """Per-edge op groups of the stage: GM (2 groups) or singletons."""
        cfg = self.config
        groups: list[tuple[tuple[int, ...], ...]] = []
        info: list[dict[str, Any]] = []
        for e in hier:
            if cfg.partition == "exhaustive" or int(S.mask[e].sum()) < 2:
                g = singleton_groups(S.mask, e)
                groups.append(g)
                info.append({"edge": e, "groups": [list(x) for x in g]})
                continue
            assert S.alpha is not None
            base = masked_softmax(S.alpha.detach(), S.mask)  # current mixture; the probe overwrites edge e
            split, forwards = gm_split_edge(
                S.supernet, base, S.mask, e, self._gm_batches(ctx), self.one_shot.gm_vector, probe=cfg.gm_probe
            )
            ctx.count(forwards=forwards, steps=forwards)
            groups.append(split.groups)
            info.append(
                {
                    "edge": e,
                    "groups": [list(x) for x in split.groups],
                    "cut_cost": split.cut_cost,
                    "ops": list(split.ops),
                    "distance": np.round(split.distance, 6).tolist(),
                }
            )
        return groups, info

    # --------------------------------------------------------------------------------------- SupernetScorer
    def owner_of(self, arch: Arch) -> tuple[str, SupernetState]:
        """Which trained supernet scores `arch` (module docstring rule)."""
        if self._final is None:
            raise RuntimeError("score() needs a finished search")
        if self.one_shot.in_region(arch, self._final.mask.cpu().numpy()):
            return "final", self._final
        for t in range(len(self._stage_children), 0, -1):
            for i, child in enumerate(self._stage_children[t - 1]):
                if self.one_shot.in_region(arch, child.mask.cpu().numpy()):
                    return f"stage{t}/child{i}", child
        raise RuntimeError(f"no kept supernet owns {arch} (keep_children=False keeps only the final one)")

    def score(self, archs: Sequence[Arch], ctx: RunContext) -> tuple[np.ndarray, list[str]]:
        """Each arch scored by its owning (sub-)supernet (module docstring) under the run's rank-scoring protocol
        (`ctx.scoring`; None = native: BN as select_bn_mode, batches of eval_batch_size). Also the owners."""
        cfg = self.config
        owners: list[str] = []
        nets: dict[str, SupernetState] = {}
        for a in archs:
            name, st = self.owner_of(a)
            owners.append(name)
            nets[name] = st
        scores = score_by_owner(
            self.one_shot,
            archs,
            owners,
            {name: st.supernet for name, st in nets.items()},
            ctx,
            native_bn_mode=cfg.select_bn_mode,
            batch_size=cfg.eval_batch_size,
            max_images=cfg.score_max_images,
            autocast_device=self._amp_device(ctx),
        )
        return scores, owners


def _per_child_checkpoints(children: int) -> bool:
    """Checkpoint after every child epoch / selection measurement (True) or after every SMD round and the whole
    selection (False). A checkpoint holds every child of the stage, so per-child checkpoints write O(K^2)
    supernets per round: kept for stages of at most PER_CHILD_CHECKPOINT_MAX children (GM on NB201: 2, 4, 8)."""
    return children <= PER_CHILD_CHECKPOINT_MAX


def _accumulate(acc: EpochStats, st: EpochStats) -> None:
    acc.steps += st.steps
    acc.images += st.images
    acc.forwards += st.forwards
    acc.wall_s += st.wall_s
    for k, v in st.extra.items():
        acc.extra[k] = acc.extra.get(k, 0.0) + v
    acc.extra["epochs"] = acc.extra.get("epochs", 0.0) + 1.0


def _cost_dict(st: EpochStats) -> dict[str, float]:
    return {
        "wall_s": st.wall_s,
        "epochs": st.extra.get("epochs", 0.0),
        "steps": float(st.steps),
        "images": float(st.images),
        "forwards": float(st.forwards),
        "kd_nominal_forwards": st.extra.get("kd_nominal_forwards", 0.0),
    }


def _softmax_list(S: SupernetState) -> list[list[float]]:
    assert S.alpha is not None
    return np.round(masked_softmax(S.alpha.detach(), S.mask).cpu().numpy(), 6).tolist()


__all__ = ["HepNas", "Partition", "child_purposes", "stage_hierarchies", "planned_stage_children"]
