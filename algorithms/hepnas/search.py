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

Scheduler: one position per trained epoch along the path (supernet, SMD, final epochs), inherited by children.
`path_cosine` runs 0.025 -> 0.001 over the whole selected path (split_epochs[-1] + stages * smd_epochs +
final_epochs positions); `public_code` reproduces the periodic CosineAnnealingLR with T_max = last split
epoch.

Scoring rule (SupernetScorer, for rank correlation): an arch inside the final winner's region is scored by the
final supernet (owner "final"); any other arch by the deepest stage child whose region contains it (owner
"stage{t}/child{i}"; stage children partition their parent's region, so exactly one child per stage contains
it and the deepest such child is the last supernet that saw the arch's region). Proxy = single-path held-out
top-1 with the arch's one-hot weights, BN as `select_bn_mode`, running statistics untouched.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
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
from algorithms.common.sampling import arch_one_hot
from algorithms.common.scoring import held_out_score_batches
from algorithms.common.supernet_train import build_supernet
from harness.api import Arch, RunContext, SearchOutcome, StageOutcome, SubSupernetOutcome
from harness.errors import InputError
from harness.spaces.base import OneShotAdapter, SearchSpace

from .config import Config
from .smd import uses_siblings, uses_teacher
from .training import KD, EpochStats, frozen_stats, held_out_accuracy, train_epoch

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

    def __init__(self, config: Config | None = None) -> None:
        self.config = config if config is not None else Config()
        self.one_shot: Any = None
        self._final: SupernetState | None = None
        self._stage_children: list[list[SupernetState]] = []
        self._score_batches: list[tuple[Tensor, Tensor]] | None = None

    # ------------------------------------------------------------------------------------------------ helpers
    def _lr(self, position: int) -> float:
        from harness.train import path_cosine_lr, public_code_lr

        cfg = self.config
        if cfg.lr_schedule == "public_code":
            t_max = cfg.public_t_max or max(1, cfg.split_epochs[-1])
            return public_code_lr(position, t_max, cfg.weight_opt.lr, cfg.weight_opt.lr_min)
        total = cfg.split_epochs[-1] + len(cfg.split_epochs) * cfg.smd_epochs + cfg.final_epochs
        return path_cosine_lr(position, max(1, total), cfg.weight_opt.lr, cfg.weight_opt.lr_min)

    def _streams(self, ctx: RunContext, purpose: str) -> tuple[Any, Any]:
        from harness.data import BatchStream

        cfg = self.config
        data = ctx.data
        w = BatchStream(
            data.weight,
            batch_size=cfg.batch_size,
            generator=ctx.torch_generator(f"{purpose}/weight"),
            augment=cfg.augment,
            sampling=cfg.batch_sampling,
        )
        h = BatchStream(
            data.held_out,
            batch_size=cfg.batch_size,
            generator=ctx.torch_generator(f"{purpose}/alpha"),
            augment=cfg.augment,
            sampling=cfg.batch_sampling,
        )
        return w, h

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
        from harness.train import make_adam, make_sgd

        one_shot = self.one_shot = space.one_shot
        cfg = self.config
        self.check_spec(cfg, space)
        device = torch.device(ctx.device)
        amp_device = device if (cfg.amp and device.type == "cuda") else None
        hierarchies = stage_hierarchies(
            one_shot, cfg.stage_order, len(cfg.split_epochs), ctx.numpy_rng("stage_order")
        )
        planned = planned_stage_children(one_shot, cfg, hierarchies)
        for t, n in enumerate(planned, start=1):
            check_cap(n, cfg.max_sub_supernets, what=f"hepnas stage {t} (partition={cfg.partition})")

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
        alpha = init_alpha(
            ctx.torch_generator("alpha_init"),
            cfg.alpha_init_scale,
            shape=(one_shot.num_edges, one_shot.num_ops),
            device=device,
        )
        sgd, adam = cfg.weight_opt, cfg.alpha_opt
        S = SupernetState(
            supernet=net,
            mask=full_mask(one_shot, device, cfg.exclude_ops),
            alpha=alpha,
            w_opt=make_sgd(net.parameters(), sgd),
            a_opt=make_adam([alpha], adam),
            sched={"step": 0},
        )
        streams = self._streams(ctx, "train")
        held_eval = self._held_out_batches(ctx)
        step = 0
        start = 0
        stages: list[StageOutcome] = []
        subs: list[SubSupernetOutcome] = []
        stage_extras: list[dict[str, Any]] = []
        self._stage_children = []
        peer_bn = "public" if cfg.kd_bn_mode == "public" else cfg.select_bn_mode
        teacher_bn = "public" if cfg.kd_bn_mode == "public" else "train"

        for t, (hier, split_epoch) in enumerate(zip(hierarchies, cfg.split_epochs, strict=True), start=1):
            stage_t0 = time.perf_counter()
            with ctx.phase(f"stage{t}"):
                # 1. supernet epochs
                with ctx.phase("supernet"):
                    for epoch in range(start, split_epoch):
                        st = self._epoch(
                            ctx, S, streams, epoch_index=epoch, kd=None, amp_device=amp_device, sharpen=True
                        )
                        step += st.steps
                        ctx.log(
                            step,
                            "supernet",
                            stage=t,
                            epoch=epoch,
                            train_loss=st.loss,
                            lr=self._lr(S.sched["step"] - 1),
                        )
                # 2. partition
                with ctx.phase("split"):
                    groups, split_info = self._split(ctx, S, hier)
                    parts = hierarchy_partitions(S.mask, hier, groups)
                    check_cap(len(parts), cfg.max_sub_supernets, what=f"hepnas stage {t}")
                # 3. spawn children with the full state; 4. teacher = S, frozen from now on
                with ctx.phase("spawn"):
                    children = [spawn_child(S, p.mask) for p in parts]
                teacher = S
                teacher.supernet.requires_grad_(False)
                # 5. SMD round-robin: for j: for child i: one epoch
                child_cost = [EpochStats() for _ in children]
                replay = cfg.shared_round_batches
                use_cache = replay and cfg.kd_bn_mode != "public" and cfg.smd != "none"
                weight_gen = streams[0].generator
                for j in range(cfg.smd_epochs):
                    epoch_index = start + j
                    round_start = weight_gen.get_state()
                    cache: dict[tuple[Any, ...], Tensor] | None = {} if use_cache else None
                    trained: set[int] = set()
                    for i, child in enumerate(children):
                        if replay:  # every child of the round replays the same weight-half batches
                            weight_gen.set_state(round_start)
                        kd = KD(
                            mode=cfg.smd,
                            teacher=teacher if uses_teacher(cfg.smd) else None,
                            siblings=[(k, c) for k, c in enumerate(children) if k != i]
                            if uses_siblings(cfg.smd)
                            else [],
                            teacher_bn=teacher_bn,
                            peer_bn=peer_bn,
                            cache=cache,
                            trained=trained,
                        )
                        with ctx.phase(f"child{i}"):
                            st = self._epoch(
                                ctx, child, streams, epoch_index=epoch_index, kd=kd, amp_device=amp_device
                            )
                        trained.add(i)
                        step += st.steps
                        _accumulate(child_cost[i], st)
                        ctx.log(
                            step,
                            "smd",
                            stage=t,
                            child=i,
                            epoch=epoch_index,
                            train_loss=st.loss,
                            lr=self._lr(child.sched["step"] - 1),
                        )
                    del cache
                # 6. select on the whole held-out half
                with ctx.phase("select"):
                    accs = []
                    for i, child in enumerate(children):
                        t0 = time.perf_counter()
                        acc = held_out_accuracy(child, held_eval, cfg.select_bn_mode, amp_device)
                        child_cost[i].wall_s += time.perf_counter() - t0
                        child_cost[i].forwards += len(held_eval)
                        ctx.count(forwards=len(held_eval), images=sum(int(y.shape[0]) for _, y in held_eval))
                        accs.append(acc)
                        ctx.log(
                            step,
                            "select",
                            stage=t,
                            child=i,
                            held_out_acc_pct=acc,
                            remaining_space=parts[i].remaining_space(one_shot),
                        )
                    pick = 0
                    for i, acc in enumerate(accs):
                        if acc > accs[pick]:  # strict: the first maximum wins
                            pick = i
            S = children[pick]
            remaining = one_shot.region_size(S.mask.cpu().numpy())
            ctx.log(step, "stage", stage=t, children=len(children), pick=pick, remaining_space=remaining)
            for i, (p, acc) in enumerate(zip(parts, accs, strict=True)):
                subs.append(
                    SubSupernetOutcome(
                        stage=t,
                        child=i,
                        partition=p.describe(one_shot),
                        held_out_acc=acc,
                        selected=i == pick,
                        remaining_space=p.remaining_space(one_shot),
                        cost=_cost_dict(child_cost[i]),
                    )
                )
            stages.append(
                StageOutcome(
                    index=t,
                    children=len(children),
                    pick=pick,
                    remaining_space=remaining,
                    pick_arch=derive(one_shot, S.alpha.detach(), S.mask) if S.alpha is not None else None,
                    cost={
                        "wall_s": time.perf_counter() - stage_t0,
                        "epochs": float(split_epoch - start + cfg.smd_epochs * len(children)),
                    },
                )
            )
            stage_extras.append(
                {"stage": t, "edges": list(hier), "split": split_info, "held_out_acc_pct": accs, "pick": pick}
            )
            if cfg.keep_children:
                self._stage_children.append(children)
            else:
                self._stage_children.append([])
                del children, teacher
            start = split_epoch

        # final epochs on the winner, no KD
        with ctx.phase("final"):
            for k in range(cfg.final_epochs):
                st = self._epoch(
                    ctx, S, streams, epoch_index=start + k, kd=None, amp_device=amp_device, sharpen=True
                )
                step += st.steps
                ctx.log(step, "final", epoch=start + k, train_loss=st.loss)
        self._final = S
        assert S.alpha is not None
        final_arch = derive(one_shot, S.alpha.detach(), S.mask)
        final_acc = held_out_accuracy(S, held_eval, cfg.select_bn_mode, amp_device)
        remaining = one_shot.region_size(S.mask.cpu().numpy())
        ctx.log(step, "final", held_out_acc_pct=final_acc, remaining_space=remaining)
        return SearchOutcome(
            final_arch=final_arch,
            selection_rule=SELECTION_RULE.format(rule=one_shot.selection_rule),
            stages=tuple(stages),
            sub_supernets=tuple(subs),
            extras={
                "stage_order": cfg.stage_order,
                "hierarchies": [list(h) for h in hierarchies],
                "stages": stage_extras,
                "final_mask": S.mask.cpu().int().tolist(),
                "final_alpha_softmax": _softmax_list(S),
                "final_held_out_acc_pct": final_acc,
                "path_epochs": cfg.split_epochs[-1]
                + len(cfg.split_epochs) * cfg.smd_epochs
                + cfg.final_epochs,
            },
        )

    def _held_out_batches(self, ctx: RunContext) -> list[tuple[Tensor, Tensor]]:
        from harness.data import fixed_batches

        return fixed_batches(ctx.data.held_out, self.config.eval_batch_size)

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
        cfg = self.config
        batches = held_out_score_batches(ctx.data, cfg.eval_batch_size, cfg.score_max_images)
        owners: list[str] = []
        nets: dict[str, SupernetState] = {}
        for a in archs:
            name, st = self.owner_of(a)
            owners.append(name)
            nets[name] = st
        scores = np.empty(len(archs), dtype=np.float64)
        total = sum(int(y.shape[0]) for _, y in batches)
        with ctx.phase("score"), torch.no_grad():
            for name, st in nets.items():
                idx = [k for k, o in enumerate(owners) if o == name]
                with frozen_stats(st.supernet, cfg.select_bn_mode):
                    for k in idx:
                        w = arch_one_hot(self.one_shot, archs[k], st.mask.device)
                        m = w.bool()
                        correct = 0
                        for x, y in batches:
                            correct += int((st.supernet(x, w, m).argmax(dim=1) == y).sum())
                        scores[k] = 100.0 * correct / total
                ctx.count(forwards=len(idx) * len(batches), images=len(idx) * total)
        return scores, owners


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


__all__ = ["HepNas", "Partition", "stage_hierarchies", "planned_stage_children"]
