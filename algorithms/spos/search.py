"""SPOS / RSPS (algorithms.md §6), on any space with a one-shot adapter (NB201; DARTS: a path is a sampled genotype).
By default this is RSPS on NB201 as AutoDL-Projects runs it (`exps/algos/RANDOM-NAS.py`,
`configs/nas-benchmark/algos/RANDOM.config`); each departure is a named config value (algorithms.spos.config).

1. Supernet training (RANDOM-NAS `search_func`): per weight batch, one path drawn uniformly (`sample_per`;
   `reject_disconnected`, default on as algorithms.md §6 says, where AutoDL keeps disconnected paths), CE, SGD step
   with grad-norm clip 5; cosine LR per epoch. fp32 unless `amp=True` (bf16 autocast of the training and scoring
   forwards on the run's device). The data must be split as `data_protocol` says (checked on real data).
2. Search over the trained supernet:
   * `search="random"`, `selection="autodl"` (default; RANDOM-NAS `search_find_best`): `num_candidates` draws of
     `random_genotype` (uniform per edge, with replacement, disconnected cells allowed), each scored by its
     single-path top-1 (BN per `score_bn_mode`) on ONE un-augmented held-out batch: the next `select_batch_size`
     images of a seeded shuffled pass over the held-out half (generator "spos/select"; the last batch of a pass
     may be short, as the public DataLoader's; a new shuffle when a pass is exhausted; a half smaller than the
     batch is one batch, in random order). Why one batch each: that is how the published RSPS baseline picks,
     and its noise is part of the published result.
   * `selection="whole_half"` (variant): `num_candidates` DISTINCT archs (rejection per `reject_disconnected`),
     each scored on the whole held-out half (or its first `score_max_images`) in fixed `eval_batch_size` batches.
   * `search="evolution"` (SPOS): fitness as "whole_half"; see Config.
   The first maximal score wins (np.argmax).
3. `score` (SupernetScorer, the harness's rank-correlation set) is NOT the search's scoring: it applies the run's
   rank-scoring protocol (`ctx.scoring`, algorithms.common.scoring.score_for_rank) on the whole held-out half.

Records: per epoch `train_loss`, `train_acc_pct`, `lr` (phase "supernet"); `best_score_pct`, `num_scored`
(phase "select"). All scored candidates (duplicates included) go to SearchOutcome.candidates (arch, score), in
draw order. Checkpoint "spos" each supernet epoch (weights, BN buffers, optimizer, path and batch generators), so a
killed run resumes exactly (CPU); the search phase is short and is redone on resume.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import ClassVar

import numpy as np
import torch

from algorithms.common.alpha import full_mask
from algorithms.common.buffers import restored_buffers
from algorithms.common.sampling import sample_arch, sample_path_weights
from algorithms.common.scoring import held_out_score_batches, score_for_rank, score_single_path
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
from harness.api import Arch, RunContext, SearchOutcome, WorkItem
from harness.data import BatchStream
from harness.data.types import ImageSet
from harness.errors import InputError
from harness.projection import steps_per_epoch
from harness.spaces.base import SearchSpace, SinglePathAdapter
from harness.train import make_sgd, path_cosine_lr, set_lr

CKPT = "spos"
_GENERATORS = ("spos/paths", "spos/weight_batches")
_CANDIDATES = "spos/candidates"  # architecture draws of the search (every selection / evolution)
_SELECT_BATCHES = "spos/select"  # selection="autodl": the shuffled passes over the held-out half
_MAX_TRIES_PER_ARCH = 1000


class Spos:
    name: ClassVar[str] = "spos"
    Config: ClassVar[type] = Config
    uses_oracle: ClassVar[bool] = False
    requires: ClassVar[tuple[str, ...]] = ("one_shot",)

    @staticmethod
    def work_plan(cfg: Config, space: SearchSpace, n_weight: int, n_held_out: int) -> list[WorkItem]:
        """The protocol in supernet steps (harness.projection): single-path training, then candidate scoring."""
        steps = steps_per_epoch(n_weight, cfg.batch_size, cfg.max_steps_per_epoch)
        items = [WorkItem("supernet", "train", cfg.epochs * steps, cfg.batch_size, 1, "single-path weight step")]
        scored = min(n_held_out, cfg.score_max_images or n_held_out)
        per_arch = steps_per_epoch(scored, cfg.eval_batch_size)
        if cfg.search == "evolution":
            archs = (cfg.population or 0) * (cfg.generations or 0)
            items.append(WorkItem("search", "forward", archs * per_arch, cfg.eval_batch_size, 1, "fitness"))
        elif cfg.selection == "autodl":
            items.append(WorkItem("selection", "forward", cfg.num_candidates, cfg.select_batch_size, 1,
                                  "one held-out batch per candidate"))
        else:
            items.append(WorkItem("selection", "forward", cfg.num_candidates * per_arch, cfg.eval_batch_size, 1,
                                  "each candidate on the held-out half"))
        return items

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
        check_split(data, cfg.data_protocol, self.name)
        self.one_shot, self.values = space.one_shot, space.values
        self.supernet = self._train_supernet(ctx)
        autodl = cfg.search == "random" and cfg.selection == "autodl"
        with ctx.phase("select"):
            if autodl:
                scored = self._autodl_search(ctx)
            elif cfg.search == "random":
                scored = self._random_search(ctx)
            else:
                scored = self._evolution(ctx)
        archs = [a for a, _ in scored]
        scores = np.array([s for _, s in scored])
        best = int(np.argmax(scores))  # ties: the first scored (AutoDL np.argmax)
        if autodl:
            rule = (
                f"argmax single-path top-1 (BN {cfg.score_bn_mode}) of {cfg.num_candidates} uniform draws (with "
                f"replacement, disconnected allowed), each on one random held-out batch of {cfg.select_batch_size}"
                " (AutoDL RANDOM-NAS search_find_best)"
            )
        else:
            rule = (
                f"argmax whole-held-out single-path top-1 (BN {cfg.score_bn_mode}) over {cfg.search} candidates"
            )
        extras = {
            "search": cfg.search,
            "num_scored": len(scored),
            "best_score_pct": float(scores[best]),
            "sample_per": cfg.sample_per,
            "reject_disconnected": cfg.reject_disconnected,
            "track_running_stats": cfg.supernet.track_running_stats,
            "data_protocol": cfg.data_protocol,
            "data_identity": str(data.identity),
            "epochs": cfg.epochs,
            "amp": cfg.amp,
        }
        if cfg.search == "random":
            extras["selection"] = cfg.selection
        if autodl:
            extras["select_batch_size"] = cfg.select_batch_size
            extras["num_distinct"] = len(set(archs))
        return SearchOutcome(
            final_arch=archs[best],
            selection_rule=rule,
            candidates=tuple((a, float(s)) for a, s in scored),
            extras=extras,
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
                    amp=cfg.amp,
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
    def _autocast_device(self, ctx: RunContext) -> torch.device | None:
        return ctx.device if self.config.amp else None

    def _score(self, archs: Sequence[Arch], ctx: RunContext) -> np.ndarray:
        """Native whole-half score (selection="whole_half", evolution): fixed held-out batches, BN per
        score_bn_mode, autocast only with amp. Counts forwards and images in the current phase."""
        cfg = self.config
        assert self.supernet is not None
        batches = held_out_score_batches(ctx.data, cfg.eval_batch_size, cfg.score_max_images)
        scores = score_single_path(
            self.one_shot,
            self.supernet,
            archs,
            batches,
            bn_mode=cfg.score_bn_mode,
            autocast_device=self._autocast_device(ctx),
        )
        n_img = sum(int(y.shape[0]) for _, y in batches)
        ctx.count(forwards=len(archs) * len(batches), images=len(archs) * n_img)
        return scores

    def _autodl_search(self, ctx: RunContext) -> list[tuple[Arch, float]]:
        """AutoDL RANDOM-NAS `search_find_best` (module docstring): per candidate a uniform draw without
        connectivity rejection (duplicates possible), scored on the next batch of shuffled held-out passes."""
        cfg = self.config
        assert self.supernet is not None
        one_shot = self.one_shot
        mask = full_mask(one_shot)
        arch_gen = ctx.torch_generator(_CANDIDATES)
        batches = held_out_passes(ctx.data.held_out, cfg.select_batch_size, ctx.torch_generator(_SELECT_BATCHES))
        autocast_device = self._autocast_device(ctx)
        scored: list[tuple[Arch, float]] = []
        images = 0
        with restored_buffers(self.supernet):  # scoring never changes the supernet
            for _ in range(cfg.num_candidates):
                arch = sample_arch(one_shot, mask, arch_gen, reject_disconnected=False)
                x, y = next(batches)
                (score,) = score_single_path(
                    one_shot,
                    self.supernet,
                    [arch],
                    [(x, y)],
                    bn_mode=cfg.score_bn_mode,
                    autocast_device=autocast_device,
                )
                scored.append((arch, float(score)))
                images += int(y.shape[0])
        ctx.count(forwards=len(scored), images=images)
        ctx.log(0, "select", best_score_pct=max(s for _, s in scored), num_scored=len(scored))
        return scored

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
        archs = self._random_archs(self.config.num_candidates, ctx.torch_generator(_CANDIDATES), set())
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
        archs = self._random_archs(cfg.population, ctx.torch_generator(_CANDIDATES), seen)
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
        """Single-path held-out top-1 (%) of each arch with the trained one-shot supernet, under the run's
        rank-scoring protocol (`ctx.scoring`; None = native: BN per score_bn_mode) on the whole held-out half."""
        if self.supernet is None:
            raise RuntimeError("Spos.score called before search")
        cfg = self.config
        scores = score_for_rank(
            self.one_shot,
            self.supernet,
            archs,
            ctx,
            native_bn_mode=cfg.score_bn_mode,
            batch_size=cfg.eval_batch_size,
            max_images=cfg.score_max_images,
            autocast_device=self._autocast_device(ctx),
        )
        return scores, ["supernet"] * len(archs)


def held_out_passes(
    images: ImageSet, batch_size: int, generator: torch.Generator
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Endless un-augmented batches of `images`, as a DataLoader over a SubsetRandomSampler yields them (the
    loader AutoDL's `search_find_best` iterates, re-created when exhausted): each pass a new permutation from
    `generator`, cut into consecutive batches of `batch_size` (the last one may be short; fewer images than a
    batch: one batch, the whole set in random order)."""
    n = len(images)
    if n == 0:
        raise ValueError("the held-out half is empty")
    while True:
        perm = torch.randperm(n, generator=generator, device=generator.device)
        for i in range(0, n, batch_size):
            batch = images.subset(perm[i : i + batch_size])
            yield batch.images, batch.labels
