"""Few-shot NAS (algorithms.md §4), on any space with a one-shot adapter (NB201; DARTS): one-shot supernet -> split one
edge into one sub-supernet per op -> weight transfer -> train each sub-supernet -> score random candidates inside
each -> best held-out proxy.

Steps and their cost phases:
* "oneshot": uniform single-path training of the whole space (`sample_per="cell"`: an independent op per
  edge for every cell, no connectivity check, as the public code).
* "transfer": each child deep-copies the one-shot weights (the split edge keeps its op's weights, because it
  *is* the same tensor slot); optimizer and scheduler are fresh (not transferred), so each child runs its own
  cosine.
* "child{k}": child k trains with single paths restricted to its region ("train"), then scores its candidates
  ("search"): `candidates_per_child` distinct archs drawn uniformly inside the region (0 = all of them), proxy
  = single-path top-1 on the held-out half, BN in eval mode.
* The final arch is the best-scoring candidate over all children (first maximum wins, children in op order).

Scoring rule (SupernetScorer): each arch is scored by the child whose region contains it, i.e. the child of
its op on the split edge (owner "stage1/child{k}", the one split stage), under the run's rank-scoring protocol
(`ctx.scoring`; "native" = the search's proxy, BN per `score_bn_mode`).

Data: the held-out images are whatever the run's data protocol made them (`data_protocol="public"`: the test
set, as the released score files; default: the held-out half of the training set).
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from algorithms.common.alpha import full_mask
from algorithms.common.buffers import restored_buffers
from algorithms.common.partition import SupernetState, edge_partitions, spawn_child
from algorithms.common.sampling import sample_arch, sample_path_weights
from algorithms.common.scoring import held_out_score_batches, score_by_owner, score_single_path
from algorithms.common.supernet_train import build_supernet, check_split, generator_states, restore_generators
from harness.api import Arch, RunContext, SearchOutcome, StageOutcome, SubSupernetOutcome, WorkItem
from harness.errors import InputError
from harness.projection import steps_per_epoch
from harness.spaces.base import SearchSpace, SinglePathAdapter

from .config import Config

SELECTION_RULE = "best single-path held-out top-1 over random candidates inside each sub-supernet"


class FewShot:
    name: ClassVar[str] = "fewshot"
    Config: ClassVar[type] = Config
    uses_oracle: ClassVar[bool] = False
    requires: ClassVar[tuple[str, ...]] = ("one_shot",)

    @staticmethod
    def work_plan(cfg: Config, space: SearchSpace, n_weight: int, n_held_out: int) -> list[WorkItem]:
        """The protocol in supernet steps (harness.projection): the one-shot supernet, one sub-supernet per op of
        the split edge (single-path steps both), then each child's candidates on the held-out half."""
        one_shot = space.one_shot
        children = len([op for op in one_shot.ops if op not in cfg.exclude_ops])
        steps = steps_per_epoch(n_weight, cfg.batch_size, cfg.max_steps_per_epoch)
        scored = min(n_held_out, cfg.score_max_images or n_held_out)
        per_arch = steps_per_epoch(scored, cfg.eval_batch_size)
        mask = np.ones((one_shot.num_edges, one_shot.num_ops), dtype=bool)
        region = space.one_shot.region_size(mask) // max(children, 1)
        candidates = cfg.candidates_per_child or region
        return [
            WorkItem("one-shot", "train", cfg.oneshot_epochs * steps, cfg.batch_size, 1, "single-path weight step"),
            WorkItem("children", "train", children * cfg.child_epochs * steps, cfg.batch_size, 1,
                     f"{children} sub-supernets, single-path weight steps"),
            WorkItem("search", "forward", children * candidates * per_arch, cfg.eval_batch_size, 1,
                     f"{candidates} candidates per child on {scored:,} held-out images"),
        ]

    def __init__(self, config: Config | None = None) -> None:
        self.config = config if config is not None else Config()
        self._oneshot: SupernetState | None = None
        self._children: list[SupernetState] = []
        self.one_shot: Any = None

    # -------------------------------------------------------------------------------------------------
    # training
    def _stream(self, ctx: RunContext) -> Any:
        from harness.data import BatchStream

        cfg = self.config
        return BatchStream(
            ctx.data.weight,
            batch_size=cfg.batch_size,
            generator=ctx.torch_generator("weight"),
            augment=cfg.augment,
            sampling=cfg.batch_sampling,
        )

    def _train(
        self,
        ctx: RunContext,
        state: SupernetState,
        epochs: int,
        stream: Any,
        *,
        phase: str,
        child: int | None,
        step: int,
        amp_device: torch.device | None,
        start: int = 0,
        on_epoch: Any = None,
    ) -> int:
        """Uniform single-path training inside `state.mask` for epochs `start`..`epochs`-1, cosine lr over the
        `epochs`; `on_epoch(epochs_done, step)` after each (the checkpoint)."""
        from harness.train import autocast, path_cosine_lr, set_lr, sgd_step

        cfg = self.config
        assert state.w_opt is not None
        net = state.supernet
        params = [p for p in net.parameters() if p.requires_grad]
        gen = ctx.torch_generator(f"paths/{phase}/{child}")
        label = f"fewshot {phase}" if child is None else f"fewshot child {child}"
        for epoch in ctx.progress(range(start, epochs), total=epochs - start, desc=label):
            net.train()
            lr = path_cosine_lr(epoch, max(1, epochs), cfg.weight_opt.lr, cfg.weight_opt.lr_min)
            set_lr(state.w_opt, lr)
            total, steps, images = 0.0, 0, 0
            for b, (x, y) in enumerate(stream):
                if cfg.max_steps_per_epoch and b >= cfg.max_steps_per_epoch:
                    break
                w = sample_path_weights(
                    self.one_shot,
                    state.mask,
                    gen,
                    per=cfg.sample_per,
                    num_cells=net.num_cells,
                    reject_disconnected=cfg.reject_disconnected,
                )
                state.w_opt.zero_grad(set_to_none=True)
                with autocast(amp_device, enabled=amp_device is not None):
                    logits = net(x, w, w.bool()).float()
                loss = F.cross_entropy(logits, y)
                sgd_step(loss, state.w_opt, params, cfg.weight_opt.grad_clip)
                total += float(loss.detach())
                steps += 1
                images += int(y.shape[0])
            step += steps
            ctx.count(epochs=1, steps=steps, images=images, forwards=steps)
            ctx.log(
                step,
                phase,
                child=child,
                stage=None if child is None else 1,
                epoch=epoch,
                train_loss=total / max(1, steps),
                lr=lr,
            )
            if on_epoch is not None:
                on_epoch(epoch + 1, step)
        return step

    def _candidates(self, ctx: RunContext, child: SupernetState, mask: Any, rng: Any, k: int) -> list[Arch]:
        """Spaces that can list a region (NB201): every arch inside it, or `candidates_per_child` of them drawn
        without replacement. Elsewhere (DARTS): `candidates_per_child` distinct archs drawn inside the region."""
        cfg = self.config
        one_shot = self.one_shot
        if isinstance(one_shot, SinglePathAdapter):
            region = one_shot.region_archs(mask)
            if cfg.candidates_per_child and cfg.candidates_per_child < len(region):
                pick = np.sort(rng.choice(len(region), size=cfg.candidates_per_child, replace=False))
                region = [region[i] for i in pick]
            return region
        if not cfg.candidates_per_child:
            raise InputError(
                "fewshot.candidates_per_child=0 (every arch of a region) needs a space whose regions can be "
                "listed; set a number of candidates"
            )
        gen = ctx.torch_generator(f"candidates/child{k}")
        mask_t = child.mask
        seen: dict[Arch, None] = {}
        for _ in range(100 * cfg.candidates_per_child):
            seen.setdefault(sample_arch(one_shot, mask_t, gen))
            if len(seen) == cfg.candidates_per_child:
                break
        return list(seen)

    def _score_batches(self, ctx: RunContext) -> list[tuple[Tensor, Tensor]]:
        cfg = self.config
        return held_out_score_batches(ctx.data, cfg.eval_batch_size, cfg.score_max_images)

    def _score(
        self,
        ctx: RunContext,
        state: SupernetState,
        archs: Sequence[Arch],
        batches: list[tuple[Tensor, Tensor]],
        amp_device: torch.device | None,
    ) -> np.ndarray:
        with restored_buffers(state.supernet):
            scores = score_single_path(
                self.one_shot,
                state.supernet,
                list(archs),
                batches,
                bn_mode=self.config.score_bn_mode,
                autocast_device=amp_device,
            )
        ctx.count(forwards=len(archs) * len(batches), images=len(archs) * sum(int(y.shape[0]) for _, y in batches))
        return scores

    # ---------------------------------------------------------------------------------------------------
    # search
    def search(self, space: SearchSpace, ctx: RunContext) -> SearchOutcome:
        from harness.train import make_sgd

        one_shot = self.one_shot = space.one_shot
        cfg = self.config
        if cfg.split_edge >= one_shot.num_edges:
            raise InputError(
                f"fewshot.split_edge={cfg.split_edge}; space {space.name!r} has edges 0..{one_shot.num_edges - 1}"
            )
        check_split(ctx.data, cfg.data_protocol, self.name)
        device = torch.device(ctx.device)
        amp_device = device if cfg.amp else None
        sgd = cfg.weight_opt
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
        oneshot = SupernetState(
            supernet=net, mask=full_mask(one_shot, device, cfg.exclude_ops), w_opt=make_sgd(net.parameters(), sgd)
        )
        stream = self._stream(ctx)
        parts = edge_partitions(oneshot.mask, cfg.split_edge)
        resume = _Resume.load(ctx, space)
        pos = resume.pos
        step = resume.step
        if resume.found:
            _load_state(oneshot, resume.oneshot)
            restore_generators(ctx, resume.generators)
            ctx.numpy_rng("candidates").bit_generator.state = resume.numpy_state

        def save(pos: dict[str, Any], step: int) -> None:
            _Resume.save(ctx, pos, step, oneshot, self._children, subs_best, candidates, child_cost, oneshot_s,
                         parts=len(parts))  # fmt: skip

        subs_best: list[tuple[Arch, float]] = list(resume.subs_best)
        candidates: list[tuple[Arch, float]] = list(resume.candidates)
        child_cost: list[dict[str, float]] = list(resume.child_cost)
        oneshot_s = resume.oneshot_s
        self._children = []
        t0 = time.perf_counter()
        if pos["phase"] == "oneshot":
            with ctx.phase("oneshot"):
                step = self._train(
                    ctx,
                    oneshot,
                    cfg.oneshot_epochs,
                    stream,
                    phase="oneshot",
                    child=None,
                    step=step,
                    amp_device=amp_device,
                    start=pos["epochs_done"],
                    on_epoch=lambda done, st: save({"phase": "oneshot", "child": 0, "epochs_done": done}, st),
                )
            oneshot_s += time.perf_counter() - t0
        self._oneshot = oneshot

        with ctx.phase("transfer"):
            children = []
            for k, p in enumerate(parts):
                child = spawn_child(oneshot, p.mask, inherit_optimizers=False)
                child.w_opt = make_sgd(child.supernet.parameters(), sgd)  # fresh optimizer and schedule
                if resume.found and pos["phase"] == "child":
                    _load_state(child, resume.children[k])
                children.append(child)
        self._children = children
        if pos["phase"] == "oneshot":
            pos = {"phase": "child", "child": 0, "epochs_done": 0}
            save(pos, step)

        batches = self._score_batches(ctx)
        rng = ctx.numpy_rng("candidates")
        for k, (p, child) in enumerate(zip(parts, children, strict=True)):
            if k < pos["child"]:
                continue  # trained and searched before the resume
            start = pos["epochs_done"] if k == pos["child"] else 0
            c0 = time.perf_counter()
            with ctx.phase(f"child{k}"):
                with ctx.phase("train"):
                    step = self._train(
                        ctx,
                        child,
                        cfg.child_epochs,
                        stream,
                        phase="child",
                        child=k,
                        step=step,
                        amp_device=amp_device,
                        start=start,
                        on_epoch=lambda done, st, k=k: save({"phase": "child", "child": k, "epochs_done": done}, st),
                    )
                with ctx.phase("search"):
                    region = self._candidates(ctx, child, p.mask, rng, k)
                    scores = self._score(ctx, child, region, batches, amp_device)
                    best = int(np.argmax(scores))  # first maximum
                    subs_best.append((region[best], float(scores[best])))
                    candidates.extend(zip(region, (float(s) for s in scores), strict=True))
                    ctx.log(
                        step,
                        "search",
                        stage=1,
                        child=k,
                        held_out_acc_pct=float(scores[best]),
                        candidates=len(region),
                        remaining_space=p.remaining_space(one_shot),
                    )
            child_cost.append(
                {
                    "wall_s": time.perf_counter() - c0,
                    "epochs": float(cfg.child_epochs),
                    "candidates": float(len(region)),
                }
            )
            save({"phase": "child", "child": k + 1, "epochs_done": 0}, step)
        pick = 0
        for k, (_, s) in enumerate(subs_best):
            if s > subs_best[pick][1]:
                pick = k
        final_arch = subs_best[pick][0]
        ctx.log(
            step,
            "select",
            stage=1,
            child=pick,
            held_out_acc_pct=subs_best[pick][1],
            remaining_space=parts[pick].remaining_space(one_shot),
        )
        subs = tuple(
            SubSupernetOutcome(
                stage=1,
                child=k,
                partition=p.describe(one_shot),
                held_out_acc=subs_best[k][1],
                selected=k == pick,
                remaining_space=p.remaining_space(one_shot),
                cost=child_cost[k],
            )
            for k, p in enumerate(parts)
        )
        stage = StageOutcome(
            index=1,
            children=len(parts),
            pick=pick,
            remaining_space=parts[pick].remaining_space(one_shot),
            pick_arch=subs_best[pick][0],
            cost={
                "wall_s": sum(c["wall_s"] for c in child_cost),
                "epochs": float(cfg.child_epochs * len(parts)),
            },
        )
        return SearchOutcome(
            final_arch=final_arch,
            selection_rule=SELECTION_RULE,
            stages=(stage,),
            sub_supernets=subs,
            candidates=tuple(candidates),
            extras={
                "split_edge": cfg.split_edge,
                "oneshot_wall_s": oneshot_s,
                "child_best": [
                    {"child": k, "arch": a.to_str(), "held_out_acc_pct": s} for k, (a, s) in enumerate(subs_best)
                ],
                "supernet_epochs": cfg.oneshot_epochs + cfg.child_epochs * len(parts),
            },
        )

    # -------------------------------------------------------------------------------------- SupernetScorer
    def score(self, archs: Sequence[Arch], ctx: RunContext) -> tuple[np.ndarray, list[str]]:
        if not self._children:
            raise RuntimeError("score() needs a finished search")
        cfg = self.config
        device = torch.device(ctx.device)
        amp_device = device if cfg.amp else None
        owners: list[str] = []
        for a in archs:
            k = next(
                (k for k, c in enumerate(self._children) if self.one_shot.in_region(a, c.mask.cpu().numpy())),
                None,
            )
            if k is None:  # cannot happen: the children partition the whole space
                raise RuntimeError(f"no sub-supernet owns {a}")
            owners.append(f"stage1/child{k}")
        scores = score_by_owner(
            self.one_shot,
            archs,
            owners,
            {f"stage1/child{k}": c.supernet for k, c in enumerate(self._children)},
            ctx,
            native_bn_mode=cfg.score_bn_mode,
            batch_size=cfg.eval_batch_size,
            max_images=cfg.score_max_images,
            autocast_device=amp_device,
        )
        return scores, owners


CKPT = "fewshot"


def _state_dict(state: SupernetState) -> dict[str, Any]:
    assert state.w_opt is not None
    return {"supernet": state.supernet.state_dict(), "w_opt": state.w_opt.state_dict()}


def _load_state(state: SupernetState, saved: dict[str, Any]) -> None:
    assert state.w_opt is not None
    state.supernet.load_state_dict(saved["supernet"])
    state.w_opt.load_state_dict(saved["w_opt"])


def _generator_purposes(parts: int) -> list[str]:
    return ["weight", "paths/oneshot/None", *[f"paths/child/{k}" for k in range(parts)],
            *[f"candidates/child{k}" for k in range(parts)]]  # fmt: skip


class _Resume:
    """The few-shot checkpoint ("fewshot", saved after every epoch and every child's search): position, step,
    the one-shot and every child's weights and optimizer, all RNG streams, and what the finished children found
    (architectures as text). A run killed at any point resumes to the same records and outcome (CPU)."""

    def __init__(self, state: dict[str, Any] | None, space: SearchSpace) -> None:
        self.found = state is not None
        state = state or {}
        self.pos: dict[str, Any] = dict(state.get("pos", {"phase": "oneshot", "child": 0, "epochs_done": 0}))
        self.step = int(state.get("step", 0))
        self.oneshot = state.get("oneshot")
        self.children = state.get("children", [])
        self.generators = state.get("generators", {})
        self.numpy_state = json.loads(state["numpy"]) if "numpy" in state else None
        parse = space.values.parse
        self.subs_best = [(parse(a), float(v)) for a, v in state.get("subs_best", [])]
        self.candidates = [(parse(a), float(v)) for a, v in state.get("candidates", [])]
        self.child_cost = [dict(c) for c in state.get("child_cost", [])]
        self.oneshot_s = float(state.get("oneshot_s", 0.0))

    @classmethod
    def load(cls, ctx: RunContext, space: SearchSpace) -> _Resume:
        return cls(ctx.load_checkpoint(CKPT), space)

    @staticmethod
    def save(
        ctx: RunContext,
        pos: dict[str, Any],
        step: int,
        oneshot: SupernetState,
        children: list[SupernetState],
        subs_best: list[tuple[Arch, float]],
        candidates: list[tuple[Arch, float]],
        child_cost: list[dict[str, float]],
        oneshot_s: float,
        *,
        parts: int,
    ) -> None:
        ctx.save_checkpoint(
            CKPT,
            {
                "pos": pos,
                "step": step,
                "oneshot": _state_dict(oneshot),
                "children": [_state_dict(c) for c in children],
                "generators": generator_states(ctx, _generator_purposes(parts)),
                "numpy": json.dumps(ctx.numpy_rng("candidates").bit_generator.state),
                "subs_best": [[a.to_str(), v] for a, v in subs_best],
                "candidates": [[a.to_str(), v] for a, v in candidates],
                "child_cost": child_cost,
                "oneshot_s": oneshot_s,
            },
        )


__all__ = ["FewShot"]
