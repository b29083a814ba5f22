"""DARTS (algorithms.md §5) on any space with a one-shot adapter: alternate one alpha step (held-out batch) and
one weight step (weight batch) per batch, cosine LR per epoch, final arch = the space's derivation rule on the
masked softmax of alpha (NB201: per-edge argmax, `none` allowed).

Records: per epoch `train_loss`, `train_acc_pct`, `alpha_loss`, `lr`, `derived_index` (phase "supernet"; only in
enumerable spaces) and the raw alphas `alpha.<edge>.<op>` (phase "alpha"). Artifacts (ctx.save_checkpoint): "darts"
(resume state, each epoch) and "darts_alphas" (alpha after every epoch, [epochs, E, O]). A killed run resumes from
the last epoch checkpoint: weights, BN buffers, alpha, both optimizer states and the batch-stream generators are
restored, so the resumed run equals an uninterrupted one (CPU).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import numpy as np
import torch

from algorithms.common.alpha import derive, full_mask, init_alpha, masked_softmax
from algorithms.common.scoring import score_for_rank
from algorithms.common.supernet_train import (
    build_supernet,
    capped,
    capped_len,
    check_split,
    generator_states,
    restore_generators,
    train_darts_epoch,
)
from algorithms.darts.config import Config
from harness.api import Arch, RunContext, SearchOutcome, WorkItem
from harness.data import BatchStream
from harness.projection import steps_per_epoch
from harness.spaces.base import SearchSpace
from harness.train import make_adam, make_sgd, path_cosine_lr, set_lr

CKPT = "darts"
ALPHAS_ARTIFACT = "darts_alphas"
_GENERATORS = ("darts/weight_batches", "darts/held_out_batches")


class Darts:
    name: ClassVar[str] = "darts"
    Config: ClassVar[type] = Config
    uses_oracle: ClassVar[bool] = False
    requires: ClassVar[tuple[str, ...]] = ("one_shot",)

    @staticmethod
    def work_plan(cfg: Config, space: SearchSpace, n_weight: int, n_held_out: int) -> list[WorkItem]:
        """The protocol in supernet steps (harness.projection): per weight batch one weight step and one
        architecture step of the full supernet (second order: virtual step, w' loss and two Hessian-product
        passes, four forward/backward passes in all)."""
        steps = cfg.epochs * steps_per_epoch(n_weight, cfg.batch_size, cfg.max_steps_per_epoch)
        passes = 1 if cfg.order == 1 else 4
        return [
            WorkItem("supernet", "train", steps, cfg.batch_size, None, "weight step (mixture of all ops)"),
            WorkItem("supernet", "train", passes * steps, cfg.batch_size, None,
                     f"architecture step ({passes} forward/backward pass(es), timed as weight steps)"),
        ]

    def __init__(self, config: Config | None = None) -> None:
        self.config = config if config is not None else Config()
        self.supernet: torch.nn.Module | None = None
        self.alpha: torch.Tensor | None = None
        self.one_shot = None

    # -------------------------------------------------------------------------------- search
    def search(self, space: SearchSpace, ctx: RunContext) -> SearchOutcome:
        cfg = self.config
        data = ctx.data
        check_split(data, cfg.data_protocol, self.name)
        one_shot = self.one_shot = space.one_shot
        enumeration = space.enumeration
        device = ctx.device
        sn = cfg.supernet
        net = build_supernet(
            one_shot,
            ctx,
            num_classes=data.num_classes,
            C=sn.C,
            N=sn.N,
            affine=sn.affine,
            track_running_stats=sn.track_running_stats,
        )
        alpha = init_alpha(
            ctx.torch_generator("darts/alpha"), shape=(one_shot.num_edges, one_shot.num_ops), device=device
        )
        mask = full_mask(one_shot, device)
        w_opt = make_sgd(net.parameters(), cfg.weight_opt)
        a_opt = make_adam([alpha], cfg.alpha_opt)
        weight_stream = BatchStream(
            data.weight,
            batch_size=cfg.batch_size,
            augment=True,
            generator=ctx.torch_generator(_GENERATORS[0]),
            sampling=cfg.batch_sampling,
        )
        held_stream = BatchStream(
            data.held_out,
            batch_size=cfg.batch_size,
            augment=cfg.alpha_augment,
            generator=ctx.torch_generator(_GENERATORS[1]),
            sampling=cfg.batch_sampling,
        )
        steps_per_epoch = capped_len(weight_stream, cfg.max_steps_per_epoch)

        start_epoch = 0
        history: list[torch.Tensor] = []
        state = ctx.load_checkpoint(CKPT)
        if state is not None:
            net.load_state_dict(state["supernet"])
            with torch.no_grad():
                alpha.copy_(state["alpha"].to(device))
            w_opt.load_state_dict(state["w_opt"])
            a_opt.load_state_dict(state["a_opt"])
            restore_generators(ctx, state["generators"])
            start_epoch = int(state["epoch"])
            history = list(state["alpha_history"].unbind(0)) if start_epoch > 0 else []

        wc = cfg.weight_opt
        with ctx.phase("supernet"):
            for epoch in ctx.progress(
                range(start_epoch, cfg.epochs),
                total=cfg.epochs - start_epoch,
                desc=f"darts order {cfg.order}",
            ):
                lr = path_cosine_lr(epoch, cfg.epochs, wc.lr, wc.lr_min)
                set_lr(w_opt, lr)
                stats = train_darts_epoch(
                    net,
                    alpha,
                    mask,
                    capped(weight_stream, cfg.max_steps_per_epoch),
                    held_stream,
                    w_opt,
                    a_opt,
                    wc.grad_clip,
                    ctx,
                    epoch=epoch,
                    order=cfg.order,
                    log_phase="supernet",
                    step_offset=epoch * steps_per_epoch,
                    amp=cfg.amp,
                )
                step = (epoch + 1) * steps_per_epoch
                derived = derive(one_shot, alpha, mask)
                extra = {"derived_index": enumeration.index(derived)} if enumeration is not None else {}
                ctx.log(step, "supernet", epoch=epoch, lr=lr, **extra)
                a = alpha.detach().cpu()
                ctx.log(
                    step,
                    "alpha",
                    epoch=epoch,
                    **{
                        f"alpha.{edge}.{op}": float(a[e, o])
                        for e, edge in enumerate(one_shot.edge_names)
                        for o, op in enumerate(one_shot.ops)
                    },
                )
                history.append(a.clone())
                del stats
                ctx.save_checkpoint(
                    CKPT,
                    {
                        "epoch": epoch + 1,
                        "supernet": net.state_dict(),
                        "alpha": a.clone(),
                        "w_opt": w_opt.state_dict(),
                        "a_opt": a_opt.state_dict(),
                        "generators": generator_states(ctx, _GENERATORS),
                        "alpha_history": torch.stack(history),
                    },
                )
        alphas = torch.stack(history) if history else alpha.detach().cpu().unsqueeze(0)
        ctx.save_checkpoint(
            ALPHAS_ARTIFACT,
            {
                "alphas": alphas,
                "ops": list(one_shot.ops),
                "edges": list(one_shot.edge_names),
                "note": "raw alpha after each epoch, [epochs, edges, ops]",
            },
        )
        self.supernet, self.alpha = net, alpha.detach()
        final = derive(one_shot, alpha, mask)
        probs = masked_softmax(alpha.detach(), mask).cpu()
        return SearchOutcome(
            final_arch=final,
            selection_rule=one_shot.selection_rule,
            extras={
                "order": cfg.order,
                "track_running_stats": sn.track_running_stats,
                "data_protocol": cfg.data_protocol,
                "data_identity": str(data.identity),
                "epochs": cfg.epochs,
                "alpha_final": alpha.detach().cpu().tolist(),
                "softmax_final": probs.tolist(),
                "resumed_from_epoch": start_epoch,
            },
        )

    # -------------------------------------------------------------------------------- SupernetScorer
    def score(self, archs: Sequence[Arch], ctx: RunContext) -> tuple[np.ndarray, list[str]]:
        """Held-out single-path top-1 (%) of each arch (trained supernet), under the run's rank-scoring protocol."""
        if self.supernet is None:
            raise RuntimeError("Darts.score called before search")
        cfg = self.config
        scores = score_for_rank(
            self.one_shot,
            self.supernet,
            archs,
            ctx,
            native_bn_mode=cfg.score_bn_mode,
            batch_size=cfg.eval_batch_size,
            max_images=cfg.score_max_images,
            autocast_device=ctx.device if cfg.amp else None,
        )
        return scores, ["supernet"] * len(archs)
