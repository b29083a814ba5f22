"""Search-space Mutual Distillation (SMD): the HEP-NAS sub-supernet loss, exactly as the public code computes
it.

Why a module of its own: the SMD loss is the one genuinely new training signal of HEP-NAS and the subject of
an ablation (`smd` = none | teacher | mutual | both), so it must be findable in one step and testable in
isolation (algorithms.md §2.3):

    L_i = CE(z_i, y) + KL(softmax(z_T) || softmax(z_i)) + 1/(K-1) * sum_{j != i} KL(softmax(z_j) ||
    softmax(z_i))

KL is "batchmean" (sum over classes, mean over the batch) with the student as log-softmax, temperature 1 and
unit weights (no lambda). Teacher and sibling logits are detached here as well, so no gradient can reach them
even if a caller forgot `torch.no_grad()` (the trainer computes them under no_grad anyway, which also saves
memory).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

SmdMode = Literal["none", "teacher", "mutual", "both"]
SMD_MODES: tuple[str, ...] = ("none", "teacher", "mutual", "both")


def uses_teacher(mode: str) -> bool:
    return mode in ("teacher", "both")


def uses_siblings(mode: str) -> bool:
    return mode in ("mutual", "both")


def kl_to_student(student_logits: Tensor, target_logits: Tensor) -> Tensor:
    """KL(softmax(target) || softmax(student)), batchmean, T = 1; the target is detached."""
    log_p_student = F.log_softmax(student_logits, dim=1)
    p_target = F.softmax(target_logits.detach(), dim=1)
    return F.kl_div(log_p_student, p_target, reduction="batchmean")


def smd_loss(
    student_logits: Tensor,
    targets: Tensor,
    teacher_logits: Tensor | None,
    sibling_logits: Sequence[Tensor],
    mode: str = "both",
) -> Tensor:
    """The loss of child i for one batch (all logits computed on the same batch).

    `teacher_logits` may be None only when the mode does not use the teacher; `sibling_logits` are the other
    K-1 children's logits (may be empty when K = 1 or the mode does not use siblings).
    """
    if mode not in SMD_MODES:
        raise ValueError(f"smd mode must be one of {SMD_MODES}, got {mode!r}")
    loss = F.cross_entropy(student_logits, targets)
    if uses_teacher(mode):
        if teacher_logits is None:
            raise ValueError(f"smd mode {mode!r} needs teacher logits")
        loss = loss + kl_to_student(student_logits, teacher_logits)
    if uses_siblings(mode) and len(sibling_logits) > 0:
        mutual = torch.stack([kl_to_student(student_logits, z) for z in sibling_logits]).mean()
        loss = loss + mutual
    return loss
