"""Train one architecture from scratch and measure its test accuracy (algorithms.md §2.7, §5).

Per epoch: drop-path probability `drop_path * epoch / epochs` (linear ramp, quark0/darts `train.py`), cosine LR
from `weight_opt.lr` to `lr_min` over the epochs, SGD on the training set with crop + flip (+ cutout)
augmentation, loss = CE(logits) + auxiliary_weight * CE(aux logits) when the network has an auxiliary head,
gradient-norm clip; then top-1 on the test set (eval mode, no augmentation).

The run's data is the `train_test` split: `ctx.data.weight` = the whole training set, `ctx.data.held_out` = the
test set (synthetic data: the generated held-out part). Records: per epoch `train_loss`, `train_acc_pct`,
`test_acc_pct`, `lr`, `drop_path` (phase "train"); `params_m` once. Checkpoint "train" after every epoch
(weights, BN buffers, optimizer, batch generator, the records so far), so a killed run resumes exactly (CPU).
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
import torch.nn.functional as F

from algorithms.train.config import Config
from harness.api import RunContext, SearchOutcome
from harness.errors import InputError
from harness.spaces.base import SearchSpace

CKPT = "train"
_BATCHES = "train/batches"


def _split_outputs(out: Any) -> tuple[torch.Tensor, torch.Tensor | None]:
    return (out[0], out[1]) if isinstance(out, tuple) else (out, None)


class TrainFromScratch:
    name: ClassVar[str] = "train"
    Config: ClassVar[type] = Config
    uses_oracle: ClassVar[bool] = False
    requires: ClassVar[tuple[str, ...]] = ("trainable",)

    def __init__(self, config: Config | None = None) -> None:
        self.config = config if config is not None else Config()

    def search(self, space: SearchSpace, ctx: RunContext) -> SearchOutcome:
        from harness.data import BatchStream, fixed_batches
        from harness.train import make_sgd, path_cosine_lr, set_lr, sgd_step

        cfg = self.config
        if not cfg.arch:
            raise InputError("train needs an architecture (train.arch / the ARCH argument)")
        arch = space.values.parse(cfg.arch)
        trainer = space.trainer
        data = ctx.data
        device = torch.device(ctx.device)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(torch.randint(0, 2**62, (1,), generator=ctx.torch_generator("train/init"))))
            net = trainer.build_network(
                arch,
                num_classes=data.num_classes,
                C=cfg.network.C,
                N=cfg.network.N,
                auxiliary=cfg.network.auxiliary,
            )
        net = net.to(device)
        params_m = sum(p.numel() for n, p in net.named_parameters() if "auxiliary" not in n) / 1e6
        opt = make_sgd(net.parameters(), cfg.weight_opt)
        stream = BatchStream(
            data.weight,
            batch_size=cfg.batch_size,
            augment=True,
            generator=ctx.torch_generator(_BATCHES),
            cutout=cfg.cutout,
        )
        test = data.held_out
        if cfg.eval_max_images:
            test = test.subset(slice(0, min(cfg.eval_max_images, len(test))))
        test_batches = fixed_batches(test, cfg.eval_batch_size)
        steps_per_epoch = min(len(stream), cfg.max_steps_per_epoch) if cfg.max_steps_per_epoch else len(stream)

        start, history = 0, []
        state = ctx.load_checkpoint(CKPT)
        if state is not None:
            net.load_state_dict(state["model"])
            opt.load_state_dict(state["opt"])
            ctx.torch_generator(_BATCHES).set_state(state["generator"].to("cpu", torch.uint8))
            start, history = int(state["epoch"]), [float(v) for v in state["test_acc_history"]]

        wc = cfg.weight_opt
        if start == 0:  # a resumed run keeps the row from its first attempt
            ctx.log(0, "train", params_m=params_m)
        with ctx.phase("train"):
            for epoch in ctx.progress(range(start, cfg.epochs), total=cfg.epochs - start, desc="train"):
                lr = path_cosine_lr(epoch, cfg.epochs, wc.lr, wc.lr_min)
                set_lr(opt, lr)
                drop = cfg.drop_path * epoch / cfg.epochs
                trainer.set_drop_path(net, drop)
                net.train()
                loss_sum, correct, images, steps = 0.0, 0, 0, 0
                for b, (x, y) in enumerate(stream):
                    if cfg.max_steps_per_epoch and b >= cfg.max_steps_per_epoch:
                        break
                    opt.zero_grad(set_to_none=True)
                    logits, aux = _split_outputs(net(x))
                    loss = F.cross_entropy(logits, y, label_smoothing=cfg.label_smoothing)
                    if aux is not None and cfg.auxiliary_weight > 0:
                        loss = loss + cfg.auxiliary_weight * F.cross_entropy(
                            aux, y, label_smoothing=cfg.label_smoothing
                        )
                    sgd_step(loss, opt, net.parameters(), wc.grad_clip)
                    loss_sum += float(loss.detach()) * int(y.shape[0])
                    correct += int((logits.detach().argmax(dim=1) == y).sum())
                    images += int(y.shape[0])
                    steps += 1
                ctx.count(epochs=1, steps=steps, images=images, forwards=steps)
                test_acc = self._test_accuracy(net, test_batches, ctx)
                history.append(test_acc)
                ctx.log(
                    (epoch + 1) * steps_per_epoch,
                    "train",
                    epoch=epoch,
                    train_loss=loss_sum / max(1, images),
                    train_acc_pct=100.0 * correct / max(1, images),
                    test_acc_pct=test_acc,
                    lr=lr,
                    drop_path=drop,
                )
                ctx.save_checkpoint(
                    CKPT,
                    {
                        "epoch": epoch + 1,
                        "model": net.state_dict(),
                        "opt": opt.state_dict(),
                        "generator": ctx.torch_generator(_BATCHES).get_state(),
                        "test_acc_history": torch.tensor(history, dtype=torch.float64),
                    },
                )
        final = history[-1]
        return SearchOutcome(
            final_arch=arch,
            selection_rule="given architecture, trained from scratch",
            extras={
                "trained_test_acc_pct": final,
                "test_images": len(test),
                "train_images": len(data.weight),
                "epochs": cfg.epochs,
                "params_m": params_m,
                "data_identity": str(data.identity),
                "resumed_from_epoch": start,
            },
        )

    @staticmethod
    @torch.no_grad()
    def _test_accuracy(net: torch.nn.Module, batches: list[tuple[torch.Tensor, torch.Tensor]], ctx: Any) -> float:
        net.eval()
        correct = total = 0
        for x, y in batches:
            logits, _ = _split_outputs(net(x))
            correct += int((logits.argmax(dim=1) == y).sum())
            total += int(y.shape[0])
        ctx.count(forwards=len(batches), images=total)
        return 100.0 * correct / total
