"""SPOS / RSPS (algorithms.md §6), on any space with a one-shot adapter (NB201; DARTS: a path is a sampled genotype):
uniform single-path supernet training, then a search over the trained supernet by held-out single-path top-1 (BN
eval): `random` (N distinct archs, keep the best) or `evolution`.

Records: per epoch `train_loss`, `train_acc_pct`, `lr` (phase "supernet"); per candidate batch
`best_score_pct` (phase "select"). All scored candidates go to SearchOutcome.candidates (arch, score).
Checkpoint "spos" each supernet epoch (weights, BN buffers, optimizer, path and batch generators), so a killed
run resumes exactly (CPU); the search phase is short and is redone on resume.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import numpy as np
import torch

from algorithms.common.alpha import full_mask
from algorithms.common.sampling import sample_arch, sample_path_weights
from algorithms.common.scoring import score_with_context
from algorithms.common.supernet_train import (
    build_supernet,
    capped,
    capped_len,
    check_split,
    generator_states,
    restore_generators,
    train_weights_epoch,
)
from algorithms.spos.config import Config
from harness.api import Arch, RunContext, SearchOutcome
from harness.data import BatchStream
from harness.errors import InputError
from harness.spaces.base import SearchSpace, SinglePathAdapter
from harness.train import make_sgd, path_cosine_lr, set_lr

CKPT = "spos"
_GENERATORS = ("spos/paths", "spos/weight_batches")
_MAX_TRIES_PER_ARCH = 1000


class Spos:
    name: ClassVar[str] = "spos"
    Config: ClassVar[type] = Config
    uses_oracle: ClassVar[bool] = False
    requires: ClassVar[tuple[str, ...]] = ("one_shot",)

    def __init__(self, config: Config | None = None) -> None:
        self.config = config if config is not None else Config()
        self.supernet: torch.nn.Module | None = None
        self.one_shot = None
        self.values = None

    # -------------------------------------------------------------------------------- search
    def search(self, space: SearchSpace, ctx: RunContext) -> SearchOutcome:
        cfg = self.config
        if cfg.search == "evolution":
            cfg.check_evolution()
        data = ctx.data
        check_split(data, cfg.search_split, self.name)
        self.one_shot, self.values = space.one_shot, space.values
        self.supernet = self._train_supernet(ctx)
        with ctx.phase("select"):
            if cfg.search == "random":
                scored = self._random_search(ctx)
            else:
                scored = self._evolution(ctx)
        archs = [a for a, _ in scored]
        scores = np.array([s for _, s in scored])
        best = int(np.argmax(scores))  # ties: the first scored
        return SearchOutcome(
            final_arch=archs[best],
            selection_rule=(
                f"argmax held-out single-path top-1 (BN {cfg.score_bn_mode}) over {cfg.search} candidates"
            ),
            candidates=tuple((a, float(s)) for a, s in scored),
            extras={
                "search": cfg.search,
                "num_scored": len(scored),
                "best_score_pct": float(scores[best]),
                "sample_per": cfg.sample_per,
                "reject_disconnected": cfg.reject_disconnected,
                "track_running_stats": cfg.supernet.track_running_stats,
                "search_split": cfg.search_split,
                "data_identity": str(data.identity),
                "epochs": cfg.epochs,
            },
        )

    def _train_supernet(self, ctx: RunContext) -> torch.nn.Module:
        cfg, data, sn = self.config, ctx.data, self.config.supernet
        one_shot = self.one_shot
        net = build_supernet(
            one_shot,
            ctx,
            num_classes=data.num_classes,
            C=sn.C,
            N=sn.N,
            affine=sn.affine,
            track_running_stats=sn.track_running_stats,
        )
        opt = make_sgd(net.parameters(), cfg.weight_opt)
        stream = BatchStream(
            data.weight,
            batch_size=cfg.batch_size,
            augment=True,
            generator=ctx.torch_generator(_GENERATORS[1]),
            sampling=cfg.batch_sampling,
        )
        mask = full_mask(one_shot)
        paths = ctx.torch_generator(_GENERATORS[0])
        num_cells = net.num_cells
        device = ctx.device

        def op_weights() -> tuple[torch.Tensor, torch.Tensor]:
            w = sample_path_weights(
                one_shot,
                mask,
                paths,
                per=cfg.sample_per,
                num_cells=num_cells,
                reject_disconnected=cfg.reject_disconnected,
            ).to(device)
            return w, w.bool()

        start = 0
        state = ctx.load_checkpoint(CKPT)
        if state is not None:
            net.load_state_dict(state["supernet"])
            opt.load_state_dict(state["w_opt"])
            restore_generators(ctx, state["generators"])
            start = int(state["epoch"])
        wc = cfg.weight_opt
        steps_per_epoch = capped_len(stream, cfg.max_steps_per_epoch)
        with ctx.phase("supernet"):
            for epoch in ctx.progress(
                range(start, cfg.epochs), total=cfg.epochs - start, desc="spos supernet"
            ):
                lr = path_cosine_lr(epoch, cfg.epochs, wc.lr, wc.lr_min)
                set_lr(opt, lr)
                train_weights_epoch(
                    net,
                    op_weights,
                    capped(stream, cfg.max_steps_per_epoch),
                    opt,
                    wc.grad_clip,
                    ctx,
                    epoch=epoch,
                    log_phase="supernet",
                    step_offset=epoch * steps_per_epoch,
                )
                ctx.log((epoch + 1) * steps_per_epoch, "supernet", epoch=epoch, lr=lr)
                ctx.save_checkpoint(
                    CKPT,
                    {
                        "epoch": epoch + 1,
                        "supernet": net.state_dict(),
                        "w_opt": opt.state_dict(),
                        "generators": generator_states(ctx, _GENERATORS),
                    },
                )
        return net

    # -------------------------------------------------------------------------------- candidate search
    def _score(self, archs: Sequence[Arch], ctx: RunContext) -> np.ndarray:
        cfg = self.config
        assert self.supernet is not None
        return score_with_context(
            self.one_shot,
            self.supernet,
            archs,
            ctx,
            batch_size=cfg.eval_batch_size,
            max_images=cfg.score_max_images,
            bn_mode=cfg.score_bn_mode,
        )

    def _random_archs(self, n: int, gen: torch.Generator, seen: set[Arch]) -> list[Arch]:
        one_shot = self.one_shot
        mask = full_mask(one_shot)
        out: list[Arch] = []
        tries = 0
        while len(out) < n:
            tries += 1
            if tries > _MAX_TRIES_PER_ARCH * max(n, 1):
                raise InputError(
                    f"spos: could not draw {n} distinct architectures; lower num_candidates/population"
                )
            arch = sample_arch(one_shot, mask, gen, reject_disconnected=self.config.reject_disconnected)
            if arch not in seen:
                seen.add(arch)
                out.append(arch)
        return out

    def _random_search(self, ctx: RunContext) -> list[tuple[Arch, float]]:
        archs = self._random_archs(self.config.num_candidates, ctx.torch_generator("spos/candidates"), set())
        scores = self._score(archs, ctx)
        ctx.log(0, "select", best_score_pct=float(scores.max()), num_scored=len(archs))
        return list(zip(archs, scores.tolist(), strict=True))

    def _mutate(self, parent: Arch, rng: np.random.Generator) -> Arch:
        """Single-path spaces: each edge's op redrawn with probability mutation_prob (SPOS); elsewhere the
        space's one-decision mutation."""
        p = self.config.mutation_prob
        assert p is not None
        one_shot = self.one_shot
        if not isinstance(one_shot, SinglePathAdapter):
            return self.values.mutate(parent, rng)
        codes = list(one_shot.op_indices(parent))
        for e in range(one_shot.num_edges):
            if rng.random() < p:
                codes[e] = int(rng.integers(one_shot.num_ops))
        return one_shot.arch_from_op_indices(codes)

    def _connected(self, arch: Arch) -> bool:
        one_shot = self.one_shot
        return not isinstance(one_shot, SinglePathAdapter) or one_shot.path_connected(one_shot.op_indices(arch))

    def _evolution(self, ctx: RunContext) -> list[tuple[Arch, float]]:
        cfg = self.config
        assert cfg.population is not None and cfg.generations is not None and cfg.num_parents is not None
        seen: set[Arch] = set()
        archs = self._random_archs(cfg.population, ctx.torch_generator("spos/candidates"), seen)
        scored = list(zip(archs, self._score(archs, ctx).tolist(), strict=True))
        ctx.log(0, "select", generation=0, best_score_pct=max(s for _, s in scored), num_scored=len(scored))
        rng = ctx.numpy_rng("spos/evolution")
        for gen in range(1, cfg.generations + 1):
            order = sorted(range(len(scored)), key=lambda i: (-scored[i][1], i))
            parents = [scored[i][0] for i in order[: cfg.num_parents]]
            children: list[Arch] = []
            tries = 0
            while len(children) < cfg.population:
                tries += 1
                if tries > _MAX_TRIES_PER_ARCH * cfg.population:
                    break  # the neighbourhood is exhausted: score what was found
                child = self._mutate(parents[int(rng.integers(len(parents)))], rng)
                if child in seen or (cfg.reject_disconnected and not self._connected(child)):
                    continue
                seen.add(child)
                children.append(child)
            if not children:
                break
            scored += list(zip(children, self._score(children, ctx).tolist(), strict=True))
            ctx.log(
                gen,
                "select",
                generation=gen,
                best_score_pct=max(s for _, s in scored),
                num_scored=len(scored),
            )
        return scored

    # -------------------------------------------------------------------------------- SupernetScorer
    def score(self, archs: Sequence[Arch], ctx: RunContext) -> tuple[np.ndarray, list[str]]:
        """Single-path held-out top-1 (%) of each arch with the trained one-shot supernet (BN per config)."""
        if self.supernet is None:
            raise RuntimeError("Spos.score called before search")
        return self._score(archs, ctx), ["supernet"] * len(archs)
