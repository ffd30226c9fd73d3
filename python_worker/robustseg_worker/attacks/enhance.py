"""Method two's parts: selective FGSM enhancement (paper Formulas 3-5, docs/ARCHITECTURE.md section 9).

    a_c  = ε · sign(∇ₓ J(θ, x, t_c))            per class c, all at the clean x (C gradients)
    x_s  = clip(x + Σ_c s_c · a_c, 0, 1)        s ∈ {−1, 0, +1}^C  (option: project onto the ε-ball)
    s*   = argmin_s J(θ, x_s, y)                 with the TRUE label y; s = 0 (clean) is a candidate,
                                                 ties go to fewer non-zero signs

The worker computes the directions and scores whatever candidates the control plane asks for;
the selection strategies (exhaustive, greedy, beam) live in the TypeScript control plane.
:func:`select_exhaustive` here is a brute-force reference for tests.

Scoring is the hot loop (3^6 = 729 candidates per image for exhaustive): candidates of one or
more images share each forward pass, in chunks of ``max_batch``, in inference mode, and the
perturbed images are built chunk by chunk (never all N·K at once).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ._common import OnStep, ShouldStop, check_images, check_stop, clone_images, eval_mode, grad_enabled, input_grad, prepare
from .losses import get_loss, pixel_ce
from .runtime import Runtime, batch_from_memory, cuda_bytes_per_image, gradient_model, input_layout
from .runtime import autocast as runtime_autocast

__all__ = [
    "ExhaustiveChoice",
    "all_sign_vectors",
    "apply_signs",
    "class_directions",
    "Estimates",
    "clean_loss",
    "default_batch",
    "logit_additive_scores",
    "score_candidates",
    "select_exhaustive",
]

# Default chunk sizes, as pixels per forward pass (images × H × W). On CPU, big batches lose:
# activations past glibc's mmap threshold are mapped and page-faulted afresh on every pass (sys
# time and minor faults grow with the chunk). For 8 images of 64×64 × 729 candidates and a small
# U-Net on 2 shared cores, chunks of 64-729 scored 1.6-9× slower than chunks of 8-16 across three
# runs of bench_scoring.py. On CUDA the batch comes from the free memory (runtime.py's probe of
# one model's per-image footprint) when the model is known, else from these pixel budgets.
_CPU_PIXELS = 1 << 16  # 16 candidates of 64×64, 1 of 256×256
_CUDA_SCORE_PIXELS = 1 << 21  # 512 of 64×64, 32 of 256×256
_CUDA_GRAD_PIXELS = 1 << 19  # backward keeps activations: 128 of 64×64, 8 of 256×256
# Share of the free CUDA memory a batch may take (the rest: fragmentation, other work).
_CUDA_HEADROOM = 0.6


def default_batch(
    x: Tensor, *, backward: bool = False, model: nn.Module | None = None, runtime: Runtime | None = None
) -> int:
    """The chunk size used when ``max_batch`` is None, from the device and the image size; on
    CUDA with ``model`` given, from the free device memory and the model's measured per-image
    footprint (:func:`~.runtime.cuda_bytes_per_image`)."""
    pixels = int(x.shape[-1]) * int(x.shape[-2])
    if x.device.type == "cuda" and model is not None:
        per_image = cuda_bytes_per_image(model, x, backward=backward, runtime=runtime)
        free, _ = torch.cuda.mem_get_info(x.device)
        return batch_from_memory(free, per_image, headroom=_CUDA_HEADROOM)
    if x.device.type == "cpu":
        budget = _CPU_PIXELS
    else:
        budget = _CUDA_GRAD_PIXELS if backward else _CUDA_SCORE_PIXELS
    return max(1, budget // max(1, pixels))


def _autocast(device: torch.device, dtype: torch.dtype | None, runtime: Runtime | None = None):
    """An explicit ``dtype`` wins; None means the runtime's precision (fp32 on CPU by default)."""
    if dtype is None:
        return runtime_autocast(device, runtime)
    return torch.autocast(device_type=device.type, dtype=dtype)


def class_directions(
    model: nn.Module,
    x: Tensor,
    num_classes: int | None,
    eps: float,
    *,
    max_batch: int | None = None,
    on_progress: OnStep | None = None,
    should_stop: ShouldStop | None = None,
    runtime: Runtime | None = None,
) -> Tensor:
    """a_c = eps · sign(∇ₓ J(θ, x, t_c)) for every image and class: (N, C, channels, H, W).

    All gradients are taken at the clean x. The N·C (image, class) pairs are batched together,
    ``max_batch`` pairs per forward/backward; each pair's gradient is that image's own (the loss
    is summed over per-image means). ``num_classes=None`` reads C from the model's output.
    Where the gradient is exactly zero the direction is zero (sign(0) = 0).
    ``on_progress(done, total)`` counts pairs; ``should_stop`` is polled before each chunk.
    """
    x = clone_images(x)
    if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not math.isfinite(eps) or eps < 0:
        raise ValueError(f"eps: must be a finite number >= 0, got {eps!r}")
    max_batch = _batch(max_batch, x, backward=True, model=model, runtime=runtime)
    n, ch, h, w = x.shape
    if num_classes is None:
        with eval_mode(model), torch.inference_mode():
            num_classes = int(model(x[:1]).shape[1])
    if num_classes < 1:
        raise ValueError(f"num_classes: must be >= 1, got {num_classes}")
    c = int(num_classes)
    out = torch.empty((n * c, ch, h, w), dtype=x.dtype, device=x.device)
    total = n * c
    ce = get_loss("ce")
    pair = torch.arange(total, device=x.device)
    with eval_mode(model), grad_enabled():
        net = gradient_model(model, x.device, runtime)
        for start in range(0, total, max_batch):
            check_stop(should_stop, start, total)
            idx = pair[start : start + max_batch]
            img, cls = idx // c, idx % c
            target = cls.view(-1, 1, 1).expand(-1, h, w)
            grad = input_grad(net, input_layout(x[img], runtime), target, ce, step=1, steps=1, targeted=True,
                              runtime=runtime)
            out[start : start + idx.numel()] = float(eps) * torch.sign(grad)
            if on_progress is not None:
                on_progress(start + idx.numel(), total)
    return out.view(n, c, ch, h, w)


def _batch(
    max_batch: int | None, x: Tensor, *, backward: bool = False, model: nn.Module | None = None,
    runtime: Runtime | None = None,
) -> int:
    if max_batch is None:
        return default_batch(x, backward=backward, model=model, runtime=runtime)
    if isinstance(max_batch, bool) or not isinstance(max_batch, int) or max_batch < 1:
        raise ValueError(f"max_batch: must be an integer >= 1 (or None for the default), got {max_batch!r}")
    return max_batch


def _check_signs(signs: Tensor, n: int, c: int, ndim: int, name: str = "signs") -> None:
    if not isinstance(signs, Tensor):
        raise TypeError(f"{name}: expected a tensor, got {type(signs).__name__}")
    expected = "(N, C)" if ndim == 2 else "(N, K, C)"
    if signs.dim() != ndim or signs.shape[0] != n or signs.shape[-1] != c:
        raise ValueError(f"{name}: expected shape {expected} with N={n}, C={c}, got {tuple(signs.shape)}")
    if signs.is_floating_point() and not bool((signs == signs.round()).all()):
        raise ValueError(f"{name}: entries must be -1, 0 or +1")
    if signs.numel() and not bool(((signs >= -1) & (signs <= 1)).all()):
        raise ValueError(f"{name}: entries must be -1, 0 or +1")


def _check_directions(x: Tensor, directions: Tensor) -> None:
    if directions.dim() != 5 or directions.shape[0] != x.shape[0] or directions.shape[2:] != x.shape[1:]:
        raise ValueError(
            f"directions: expected shape (N, C, {x.shape[1]}, {x.shape[2]}, {x.shape[3]}) with N={x.shape[0]}, "
            f"got {tuple(directions.shape)}"
        )


def _perturb(x: Tensor, pert: Tensor, project_eps: float | None) -> Tensor:
    """clip(x + pert) (optionally projected onto the project_eps-ball around x first)."""
    out = x + pert
    if project_eps is not None:
        out = torch.minimum(torch.maximum(out, x - project_eps), x + project_eps)
    return out.clamp_(0.0, 1.0)


def apply_signs(x: Tensor, directions: Tensor, signs: Tensor, project_eps: float | None = None) -> Tensor:
    """x_s = clip(x + Σ_c s_c · a_c, 0, 1), optionally projected onto the ``project_eps``-ball.

    ``signs`` (N, C) gives one image per input, (N, C, H, W)-shaped like x; (N, K, C) gives K per
    input, shape (N, K, channels, H, W). Used to build method two's dataset from the chosen s*.
    """
    check_images(x)
    _check_directions(x, directions)
    if project_eps is not None and project_eps < 0:
        raise ValueError(f"project_eps: must be >= 0 or None, got {project_eps}")
    c = directions.shape[1]
    many = isinstance(signs, Tensor) and signs.dim() == 3
    _check_signs(signs, x.shape[0], c, 3 if many else 2)
    x = x.detach()
    d = directions.detach().to(device=x.device, dtype=x.dtype)
    s = signs.to(device=x.device, dtype=x.dtype)
    if many:
        pert = torch.einsum("nkc,ncdhw->nkdhw", s, d)
        return _perturb(x.unsqueeze(1), pert, project_eps)
    pert = torch.einsum("nc,ncdhw->ndhw", s, d)
    return _perturb(x, pert, project_eps)


def clean_loss(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    *,
    autocast_dtype: torch.dtype | None = None,
    runtime: Runtime | None = None,
) -> Tensor:
    """J(θ, x, y) per image (N,): the mean pixel-wise CE, in inference mode.

    Each image goes through the model on its own, so an image's clean loss is the same bits
    whatever batch it arrives in. :func:`score_candidates` scores every s = 0 candidate with
    exactly this, so the clean candidate's score is bit-for-bit the clean loss (and equal in
    every call that includes it). N extra single-image passes is small next to N·K candidates.
    """
    x, y = prepare(x, y, "y")
    out = torch.empty(x.shape[0], dtype=torch.float32, device=x.device)
    with eval_mode(model), torch.inference_mode(), _autocast(x.device, autocast_dtype, runtime):
        net = gradient_model(model, x.device, runtime)
        for i in range(x.shape[0]):
            out[i] = pixel_ce(net(input_layout(x[i : i + 1], runtime)), y[i : i + 1]).mean()
    return out


def score_candidates(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    directions: Tensor,
    signs: Tensor,
    *,
    project_eps: float | None = None,
    max_batch: int | None = None,
    autocast_dtype: torch.dtype | None = None,
    on_progress: OnStep | None = None,
    should_stop: ShouldStop | None = None,
    runtime: Runtime | None = None,
) -> Tensor:
    """J(θ, x_s, y) with the TRUE label for every candidate: signs (N, K, C) → scores (N, K).

    Candidates are laid out image-major and scored ``max_batch`` per forward pass (candidates of
    several images share a pass). An all-zero sign vector is not run through the batch: it gets
    :func:`clean_loss` (one clean pass), so s = 0 scores exactly the clean loss. Other candidates
    agree with a one-at-a-time loop to float rounding (batch composition can change the last bits).
    ``autocast_dtype`` (e.g. torch.bfloat16) runs the model under autocast (None: the runtime's
    precision, bf16 on CUDA and fp32 on CPU by default); the CE is always computed in float32.
    The model runs as the attacks' prepared copy (:mod:`.runtime`: BatchNorm folded). ``on_progress(done, N·K)`` after each chunk; ``should_stop``
    polled before each chunk (raises :class:`~.pgd.AttackCancelled`).
    """
    x, y = prepare(x, y, "y")
    _check_directions(x, directions)
    max_batch = _batch(max_batch, x, model=model, runtime=runtime)
    if project_eps is not None and project_eps < 0:
        raise ValueError(f"project_eps: must be >= 0 or None, got {project_eps}")
    n, _, ch, h, w = directions.shape
    c = directions.shape[1]
    _check_signs(signs, n, c, 3)
    k = signs.shape[1]
    d = directions.detach().to(device=x.device, dtype=x.dtype).reshape(n, c, ch * h * w)
    s_all = signs.to(device=x.device)
    scores = torch.empty((n, k), dtype=torch.float32, device=x.device)
    total = n * k
    zero = (s_all == 0).all(dim=-1)  # (N, K)
    todo = (~zero).flatten().nonzero().squeeze(1)
    done = total - todo.numel()
    if done:
        clean = clean_loss(model, x, y, autocast_dtype=autocast_dtype, runtime=runtime)
        scores[zero] = clean.unsqueeze(1).expand(n, k)[zero]
        if on_progress is not None:
            on_progress(done, total)
    flat_scores = scores.view(-1)
    s_flat = s_all.reshape(n * k, c).to(x.dtype)
    with eval_mode(model), torch.inference_mode(), _autocast(x.device, autocast_dtype, runtime):
        net = gradient_model(model, x.device, runtime)
        for start in range(0, todo.numel(), max_batch):
            check_stop(should_stop, done, total)
            idx = todo[start : start + max_batch]
            img = idx // k
            # The chunk is sorted, so each image's candidates are one contiguous run: build each
            # run's perturbations with one (run, C) @ (C, pixels) product, no gather of directions.
            images, counts = torch.unique_consecutive(img, return_counts=True)
            perts = []
            offset = 0
            for i, cnt in zip(images.tolist(), counts.tolist()):
                rows = s_flat[idx[offset : offset + cnt]]
                perts.append(rows @ d[i])
                offset += cnt
            pert = torch.cat(perts).view(-1, ch, h, w)
            x_s = _perturb(x[img], pert, project_eps)
            logits = net(input_layout(x_s, runtime))
            flat_scores[idx] = pixel_ce(logits, y[img]).flatten(1).mean(1)
            done += idx.numel()
            if on_progress is not None:
                on_progress(done, total)
    return scores


# Elements of one (rows × classes × pixels) block of estimated logits: 4 MiB of float32. Larger
# blocks cost more than they save: glibc maps every block above 32 MiB afresh (its page faults
# showed as system time) and a small block stays in cache between the matrix product and the
# cross-entropy. Measured 2026-12-02 on 2 cores: `enhance` on the demo's M1 (160 images) 56 s
# against 66 s with 64 MiB blocks, the same choices.
_ESTIMATE_BLOCK = 1 << 20


@dataclass(frozen=True)
class Estimates:
    scores: Tensor  # (N, K) float32: estimates, exact on basis rows
    exact: Tensor  # (N, K) bool: rows that are a basis point (the centre or a single change of it)
    forward_passes: int  # model evaluations made (basis points)


def _basis(centre: tuple[int, ...]) -> list[tuple[int, int]]:
    """(class, value) of the centre's 2C single-coordinate changes, in class order."""
    return [(j, v) for j in range(len(centre)) for v in (-1, 0, 1) if v != centre[j]]


def logit_additive_scores(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    directions: Tensor,
    signs: Tensor,
    centres: Tensor | None = None,
    *,
    project_eps: float | None = None,
    max_batch: int | None = None,
    should_stop: ShouldStop | None = None,
    runtime: Runtime | None = None,
) -> Estimates:
    """Estimates of :func:`score_candidates` from a few real forward passes: signs (N, K, C).

    For each image and centre c (``centres`` (N, K, C), one per row; None: s = 0 for every row)
    the model is run on the basis: x_c and its 2C single-coordinate changes x_{c[j→v]}. A row
    s is then estimated by adding, in logit space, the changes its differing coordinates make
    one at a time,

        Ĵ(s) = CE(y, f(x_c) + Σ_{j: s_j ≠ c_j} [f(x_{c[j→s_j]}) − f(x_c)]),

    which keeps the softmax's non-linearity and how classes compete per pixel, and neglects only
    the network's own interaction between the changes (its ReLUs switching when they combine).
    Basis rows are exact (their CE is computed from their own logits, the centre alone through
    the model as :func:`clean_loss` does, so a zero centre's row is bit for bit the clean loss);
    ``exact`` marks them. Cost: 2C + 1 forward passes per (image, centre), none per other row.
    """
    x, y = prepare(x, y, "y")
    _check_directions(x, directions)
    n, c = directions.shape[:2]
    _check_signs(signs, n, c, 3)
    if centres is not None:
        _check_signs(centres, n, c, 3, "centres")
        if centres.shape != signs.shape:
            raise ValueError(f"centres: expected shape {tuple(signs.shape)} like signs, got {tuple(centres.shape)}")
    max_batch = _batch(max_batch, x, model=model, runtime=runtime)
    k = signs.shape[1]
    s_all = signs.to("cpu", torch.int8)
    c_all = torch.zeros_like(s_all) if centres is None else centres.to("cpu", torch.int8)
    d = directions.detach().to(device=x.device, dtype=x.dtype)
    scores = torch.empty((n, k), dtype=torch.float32, device=x.device)
    exact = torch.zeros((n, k), dtype=torch.bool)
    forwards = 0
    with eval_mode(model), torch.inference_mode(), _autocast(x.device, None, runtime):
        net = gradient_model(model, x.device, runtime)
        for i in range(n):
            uniq_centres, group = torch.unique(c_all[i], dim=0, return_inverse=True)
            for g, centre_t in enumerate(uniq_centres):
                check_stop(should_stop, i, n)
                rows_t = (group == g).nonzero().squeeze(1)
                centre = tuple(centre_t.tolist())
                basis = _basis(centre)
                points = torch.tensor([centre] + [centre[:j] + (v,) + centre[j + 1 :] for j, v in basis],
                                      dtype=x.dtype, device=x.device)
                x_pts = _perturb(x[i : i + 1], (points @ d[i].reshape(c, -1)).view(-1, *x.shape[1:]), project_eps)
                z_c = net(input_layout(x_pts[:1], runtime)).float()
                z_nb = torch.cat([net(input_layout(x_pts[1 + s : 1 + s + max_batch], runtime)).float()
                                  for s in range(0, len(basis), max_batch)])
                forwards += 1 + len(basis)
                yi = y[i : i + 1]
                # The centre's loss reduced as clean_loss reduces it (a zero centre: the same bits).
                basis_loss = torch.cat([pixel_ce(z_c, yi).mean().view(1),
                                        pixel_ce(z_nb, yi.expand(len(basis), -1, -1)).flatten(1).mean(1)])
                delta = (z_nb - z_c).reshape(len(basis), -1)  # (2C, classes·pixels)
                s_rows = s_all[i, rows_t]  # (R, C)
                ind = torch.stack([(s_rows[:, j] == v) for j, v in basis], 1)  # (R, 2C): which changes a row makes
                block = max(1, _ESTIMATE_BLOCK // max(1, delta.shape[1]))
                est = torch.empty(len(rows_t), dtype=torch.float32, device=x.device)
                for s in range(0, len(rows_t), block):
                    part = ind[s : s + block].to(device=x.device, dtype=torch.float32)
                    logits = (z_c.reshape(1, -1) + part @ delta).view(-1, *z_c.shape[1:])
                    est[s : s + block] = pixel_ce(logits, yi.expand(part.shape[0], -1, -1)).flatten(1).mean(1)
                # Basis rows (at most one change) take their own logits' loss: exact.
                changes = ind.sum(1)
                on_basis = changes <= 1
                which = torch.where(changes == 0, 0, 1 + ind.to(torch.int64).argmax(1))
                est[on_basis.to(x.device)] = basis_loss[which[on_basis].to(x.device)]
                exact[i, rows_t[on_basis]] = True
                scores[i, rows_t.to(x.device)] = est
    return Estimates(scores=scores, exact=exact, forward_passes=forwards)


def all_sign_vectors(num_classes: int, *, device: "torch.device | str | None" = None) -> Tensor:
    """Every s ∈ {−1, 0, +1}^C, (3^C, C) int8, ordered by number of non-zero signs, then
    lexicographically (so index 0 is s = 0)."""
    vecs = sorted(itertools.product((-1, 0, 1), repeat=num_classes), key=lambda v: (sum(map(abs, v)), v))
    return torch.tensor(vecs, dtype=torch.int8, device=device).view(len(vecs), num_classes)


@dataclass(frozen=True)
class ExhaustiveChoice:
    signs: Tensor  # (N, C) int8, the chosen s* per image
    loss: Tensor  # (N,) J(θ, x_s*, y)
    clean_loss: Tensor  # (N,) J(θ, x, y)
    candidates: int  # candidates scored per image (3^C)


def select_exhaustive(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    directions: Tensor,
    *,
    project_eps: float | None = None,
    max_batch: int | None = None,
) -> ExhaustiveChoice:
    """Reference exhaustive selection (the real strategies live in the control plane).

    s* = argmin over all 3^C sign vectors of J(θ, x_s, y); among equal losses the vector with
    fewer non-zero signs wins, then the lexicographically smaller one (the order of
    :func:`all_sign_vectors`). Since s = 0 is a candidate, the chosen loss never exceeds the
    clean loss.
    """
    n, c = directions.shape[:2]
    cands = all_sign_vectors(c, device=x.device)
    signs = cands.unsqueeze(0).expand(n, -1, -1)
    scores = score_candidates(model, x, y, directions, signs, project_eps=project_eps, max_batch=max_batch)
    best = scores.argmin(dim=1)  # first minimum = fewest non-zero signs, by the candidate order
    rows = torch.arange(n, device=scores.device)
    return ExhaustiveChoice(
        signs=cands[best],
        loss=scores[rows, best],
        clean_loss=scores[:, 0],
        candidates=cands.shape[0],
    )
