#!/usr/bin/env python3
"""PyTorch twin of bionas' CPU benchmark: the same networks, rules and protocol.

Builds, in plain PyTorch, the networks of the Rust crates `search-space` and `bio-rules`
(the DARTS_V2 network with its convolutions on a chosen learning rule, and the DARTS
search supernet whose candidates pair each convolution with each rule of a rule set) and
measures training, search and inference throughput and peak memory on the CPU, so the
numbers can be set beside those of `cargo run --release --example benchmark`.

Usage::

    pip install torch
    python scripts/pytorch_benchmark.py --help
    python scripts/pytorch_benchmark.py                       # all but search, 2 threads
    python scripts/pytorch_benchmark.py --cases train-bp,infer --json runs/pytorch.jsonl
    python scripts/pytorch_benchmark.py --self-test           # checks gradients and sizes

Cases (``--cases``, default all but ``search``, which needs more than 24 GiB at batch 64):

- ``train-<rule>`` (bp, fa, usf, brsf, frsf, dfa, hebbian): one training step of the
  DARTS_V2 network (C=16, 8 cells, batch 64 by default) whose cell convolutions learn by
  ``<rule>``; the stem, the cell preprocessing, stride-2 skips and the classifier (the
  "skeleton") stay on back-propagation. A step is: zero the gradients, forward,
  cross-entropy, backward, clip the global gradient norm to 5, SGD (lr 0.025, momentum 0.9,
  weight decay 3e-4). One warm-up step, then ``--steps`` timed steps.
- ``search``: one first-order DARTS step on the supernet of ``--rules``: an architecture
  step (forward on one batch, cross-entropy, backward through everything, Adam on the
  architecture weights alone: lr 3e-4, betas (0.5, 0.999), weight decay 1e-3), then a
  weight step (forward on another batch, backward, clip to 5, SGD on the weights alone).
  Its images per second count both batches. One warm-up step, then ``--search-steps``.
- ``infer``: a forward pass of the DARTS_V2 network (back-propagation) in evaluation mode
  under ``torch.inference_mode()``. One warm-up pass, then ``--infer-steps``.

Inputs are random images ``randn(batch, 3, 32, 32)`` and labels in ``0..10``, seeded with
``--seed`` and all made before the clock starts. Every case runs in a fresh child process
(this script started again with a hidden ``--one-case`` flag). The child reads its resident
set (``VmRSS`` in ``/proc/self/status``) just before the warm-up step, after the model and
inputs are built, and its peak resident set (``VmHWM``) after the timed steps:
``peak_rss_mib`` is the peak and ``step_peak_mib`` the peak minus that baseline (Linux
only; ``null`` elsewhere).

For each case one JSON line goes to stdout, with the keys ``framework``, ``version``,
``case`` (train, search or infer), ``rule`` (the rule; for search the rules joined by
``+``; for infer ``bp``), ``channels``, ``cells``, ``batch``, ``threads``, ``steps``,
``seconds_per_step``, ``images_per_second``, ``peak_rss_mib`` and ``step_peak_mib``;
then a table goes to stderr. ``--json FILE`` also writes the lines to FILE, which the Rust
benchmark's ``--compare`` reads.

The learning rules (see docs/rules.md) keep the ordinary forward pass and the ordinary
weight gradient, and change the gradient a layer sends to its input. Each is a
``torch.autograd.Function``; ``bp`` layers use PyTorch's own convolution and linear
layer, whose backward pass computes the same two gradients:

- ``fa``: a fixed random feedback ``B0 ~ U(-a, a)``, ``a`` the Xavier-uniform bound;
- ``usf``: ``B = sign(W) * a / sqrt(3)``; ``brsf``: ``B = sign(W) * |R|``, ``R ~ U(-a, a)``
  redrawn at every forward pass; ``frsf``: ``B = sign(W) * |B0|``, ``B0`` drawn once;
- ``dfa``: the network's output error ``e = dL/dlogits`` (caught by a hook on the logits)
  reaches the input through a fixed projection ``P`` (``[classes, c_in, kh, kw]``: ``e`` is
  spread over the output pixels and convolved back in one group);
- ``hebbian``: Oja's rule on unit-length input patches, reported as the weight gradient
  ``-dW``; the input gradient is zero.

Fans are counted as PyTorch counts them. Random draws differ from the Rust code's; the
work per pass is the same.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time
from typing import Callable, Dict, List, NamedTuple, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import nn

# ---------------------------------------------------------------------------------------
# Learning rules
# ---------------------------------------------------------------------------------------

RULES = ("bp", "fa", "usf", "brsf", "frsf", "dfa", "hebbian")
# Rules whose feedback has the weight's shape: the input gradient goes through B.
WEIGHT_SHAPED = ("bp", "fa", "usf", "brsf", "frsf")
# The rule set of the paper's search space.
PAPER_RULES = ("fa", "usf", "brsf", "frsf")
# Patches with a smaller squared norm count as zero in the Hebbian rule.
MIN_SQUARED_NORM = 1e-12
# Output errors a hub keeps (the latest forward passes).
KEPT_ERRORS = 4


class ConvConf(NamedTuple):
    """Stride, padding, dilation and groups of a 2-D convolution."""

    stride: Tuple[int, int]
    padding: Tuple[int, int]
    dilation: Tuple[int, int]
    groups: int


def conv_fans(shape: Sequence[int]) -> Tuple[int, int]:
    """Fans of a weight ``[out, in / groups, kh, kw]``, as PyTorch counts them."""
    out, in_per_group, kh, kw = shape
    return in_per_group * kh * kw, out * kh * kw


def xavier_bound(fans: Tuple[int, int]) -> float:
    """The Xavier-uniform bound ``sqrt(6 / (fan_in + fan_out))``."""
    return math.sqrt(6.0 / (fans[0] + fans[1]))


def uniform(shape: Sequence[int], bound: float, like: Optional[torch.Tensor] = None):
    """A tensor drawn from ``U(-bound, bound)`` (dtype and device of ``like``, if given)."""
    if like is not None:
        return torch.empty_like(like).uniform_(-bound, bound)
    return torch.empty(tuple(shape)).uniform_(-bound, bound)


def conv_grads(
    grad: torch.Tensor,
    x: torch.Tensor,
    weight: torch.Tensor,
    conf: ConvConf,
    mask: Tuple[bool, bool, bool],
) -> Tuple[Optional[torch.Tensor], ...]:
    """PyTorch's convolution backward: the gradients of ``conv2d(x, weight)`` for the
    output gradient ``grad``, those of ``mask`` (input, weight, bias) only."""
    return torch.ops.aten.convolution_backward(
        grad, x, weight, None, list(conf.stride), list(conf.padding),
        list(conf.dilation), False, [0, 0], conf.groups, list(mask),
    )


class Hub:
    """Carries a network's output error ``e = dL/dlogits`` to its DFA layers.

    The network passes its logits through :meth:`tap`, which numbers the forward pass and
    hooks the logits; the hook runs before the backward step of any layer that produced
    them and stores ``e`` under the pass number. A DFA layer notes the number of the pass
    it takes part in (:meth:`upcoming`) and reads that pass's error.
    """

    def __init__(self, classes: int):
        self.classes = classes
        self.passes = 0
        self.errors: Dict[int, torch.Tensor] = {}

    def upcoming(self) -> int:
        """The number the next pass through :meth:`tap` will get."""
        return self.passes + 1

    def tap(self, logits: torch.Tensor) -> torch.Tensor:
        """Returns ``logits``; their gradient is stored for the DFA layers."""
        self.passes += 1
        if logits.requires_grad:
            number = self.passes

            def store(grad: torch.Tensor) -> None:
                self.errors[number] = grad
                for old in sorted(self.errors)[:-KEPT_ERRORS]:
                    del self.errors[old]

            logits.register_hook(store)
        return logits

    def error(self, number: int) -> torch.Tensor:
        """The output error of forward pass ``number``."""
        if number not in self.errors:
            raise RuntimeError(
                "a DFA layer found no output error for its forward pass: the logits "
                "did not go through Hub.tap"
            )
        return self.errors[number]


class FeedbackConv2d(torch.autograd.Function):
    """``conv2d(x, W)`` whose input gradient is the transposed convolution of the output
    gradient with the feedback ``B`` (same stride, padding, dilation and groups)."""

    @staticmethod
    def forward(ctx, x, weight, feedback, conf: ConvConf):
        ctx.same = feedback is weight  # BP
        ctx.save_for_backward(x, weight, None if ctx.same else feedback)
        ctx.conf = conf
        return F.conv2d(x, weight, None, conf.stride, conf.padding, conf.dilation,
                        conf.groups)

    @staticmethod
    def backward(ctx, grad):
        x, weight, feedback = ctx.saved_tensors
        need_x, need_w = ctx.needs_input_grad[:2]
        dx = dw = None
        if ctx.same:  # BP: one call computes both gradients.
            dx, dw, _ = conv_grads(grad, x, weight, ctx.conf, (need_x, need_w, False))
        else:
            if need_x:
                dx = conv_grads(grad, x, feedback, ctx.conf, (True, False, False))[0]
            if need_w:
                dw = conv_grads(grad, x, weight, ctx.conf, (False, True, False))[1]
        return dx, dw, None, None


class FeedbackLinear(torch.autograd.Function):
    """``x W^T`` (PyTorch's layout, ``W: [out, in]``) whose input gradient is
    ``grad B``."""

    @staticmethod
    def forward(ctx, x, weight, feedback):
        ctx.save_for_backward(x, feedback)
        return x.matmul(weight.t())

    @staticmethod
    def backward(ctx, grad):
        x, feedback = ctx.saved_tensors
        dx = grad.matmul(feedback) if ctx.needs_input_grad[0] else None
        dw = grad.t().matmul(x) if ctx.needs_input_grad[1] else None
        return dx, dw, None


class DirectConv2d(torch.autograd.Function):
    """DFA convolution: the input gradient is the output error ``e: [batch, classes]``
    spread over the output pixels and convolved back with ``P: [classes, c_in, kh, kw]``
    in one group; the weight gradient is the ordinary one."""

    @staticmethod
    def forward(ctx, x, weight, projection, hub: Hub, number: int, conf: ConvConf):
        ctx.save_for_backward(x, weight, projection)
        ctx.conf, ctx.hub, ctx.number = conf, hub, number
        return F.conv2d(x, weight, None, conf.stride, conf.padding, conf.dilation,
                        conf.groups)

    @staticmethod
    def backward(ctx, grad):
        x, weight, projection = ctx.saved_tensors
        dx = dw = None
        if ctx.needs_input_grad[0]:
            error = ctx.hub.error(ctx.number)
            n, _, h_out, w_out = grad.shape
            spread = error.reshape(n, -1, 1, 1).expand(n, error.shape[1], h_out, w_out)
            conf = ctx.conf._replace(groups=1)
            dx = conv_grads(spread, x, projection, conf, (True, False, False))[0]
        if ctx.needs_input_grad[1]:
            dw = conv_grads(grad, x, weight, ctx.conf, (False, True, False))[1]
        return dx, dw, None, None, None, None


class DirectLinear(torch.autograd.Function):
    """DFA linear layer: the input gradient is ``e P``, ``P: [classes, in]``."""

    @staticmethod
    def forward(ctx, x, weight, projection, hub: Hub, number: int):
        ctx.save_for_backward(x, projection)
        ctx.hub, ctx.number = hub, number
        return x.matmul(weight.t())

    @staticmethod
    def backward(ctx, grad):
        x, projection = ctx.saved_tensors
        dx = ctx.hub.error(ctx.number).matmul(projection) if ctx.needs_input_grad[0] else None
        dw = grad.t().matmul(x) if ctx.needs_input_grad[1] else None
        return dx, dw, None, None, None


def hebbian_conv_update(x: torch.Tensor, weight: torch.Tensor, conf: ConvConf) -> torch.Tensor:
    """Oja's rule on unit-length patches, ``dW[o] = mean_{n,p} u (x^ - u W[o])`` with
    ``x^ = P / |P|`` the patch output pixel ``p`` sees and ``u = W[o] . x^``; the Hebb
    term is the convolution's own weight gradient of ``u / |P|``."""
    args = (conf.stride, conf.padding, conf.dilation, conf.groups)
    out = F.conv2d(x, weight, None, *args)
    n, c_out, h, w = out.shape
    squared = F.conv2d(x * x, torch.ones_like(weight), None, *args)  # |P|^2
    inv_norm = squared.clamp_min(MIN_SQUARED_NORM).sqrt().reciprocal()
    response = out * inv_norm  # u
    hebb = conv_grads(response * inv_norm, x, weight, conf, (False, True, False))[1]
    decay = response.square().sum(dim=(0, 2, 3)).reshape(c_out, 1, 1, 1)
    return (hebb - weight * decay) / (n * h * w)


def hebbian_linear_update(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Oja's rule of a linear layer (``W: [out, in]``), one patch per sample."""
    inv_norm = x.square().sum(dim=1, keepdim=True).clamp_min(MIN_SQUARED_NORM)
    inv_norm = inv_norm.sqrt().reciprocal()  # [batch, 1]
    response = x.matmul(weight.t()) * inv_norm  # u: [batch, out]
    hebb = (response * inv_norm).t().matmul(x)
    decay = response.square().sum(dim=0).unsqueeze(1)  # [out, 1]
    return (hebb - weight * decay) / x.shape[0]


class HebbianConv2d(torch.autograd.Function):
    """Hebbian convolution: weight gradient ``-dW`` (Oja's rule), zero input gradient."""

    @staticmethod
    def forward(ctx, x, weight, conf: ConvConf):
        ctx.save_for_backward(x, weight)
        ctx.conf = conf
        return F.conv2d(x, weight, None, conf.stride, conf.padding, conf.dilation,
                        conf.groups)

    @staticmethod
    def backward(ctx, grad):
        x, weight = ctx.saved_tensors
        dx = torch.zeros_like(x) if ctx.needs_input_grad[0] else None
        dw = -hebbian_conv_update(x, weight, ctx.conf) if ctx.needs_input_grad[1] else None
        return dx, dw, None


class HebbianLinear(torch.autograd.Function):
    """Hebbian linear layer: weight gradient ``-dW`` (Oja's rule), zero input gradient."""

    @staticmethod
    def forward(ctx, x, weight):
        ctx.save_for_backward(x, weight)
        return x.matmul(weight.t())

    @staticmethod
    def backward(ctx, grad):
        x, weight = ctx.saved_tensors
        dx = torch.zeros_like(x) if ctx.needs_input_grad[0] else None
        dw = -hebbian_linear_update(x, weight) if ctx.needs_input_grad[1] else None
        return dx, dw


class RuleLayer(nn.Module):
    """What convolutions and linear layers share: the weight, the rule and its feedback.

    ``fixed`` is FA's ``B0``, frSF's ``|B0|`` or DFA's projection, a buffer (saved with the
    model, never trained); the other rules keep nothing.
    """

    def __init__(self, shape, fans, rule: str, hub: Optional[Hub], projection_shape,
                 projection_fans):
        super().__init__()
        if rule not in RULES:
            raise ValueError(f"unknown rule {rule!r}: expected one of {', '.join(RULES)}")
        if rule == "dfa" and hub is None:
            raise ValueError("a DFA layer needs its network's hub")
        self.rule, self.hub = rule, hub
        self.bound = xavier_bound(fans)
        self.weight = nn.Parameter(uniform(shape, self.bound))
        fixed = None
        if rule == "fa":
            fixed = uniform(shape, self.bound)
        elif rule == "frsf":
            fixed = uniform(shape, self.bound).abs()
        elif rule == "dfa":
            fixed = uniform(projection_shape, xavier_bound(projection_fans))
        self.register_buffer("fixed", fixed)

    def feedback(self) -> torch.Tensor:
        """The feedback ``B`` of a weight-shaped rule for the current weight (brSF draws
        new magnitudes at every call)."""
        w = self.weight.detach()
        if self.rule == "bp":
            return self.weight
        if self.rule == "fa":
            return self.fixed
        if self.rule == "usf":
            return w.sign() * (self.bound / math.sqrt(3.0))
        if self.rule == "brsf":
            return uniform(w.shape, self.bound, like=w).abs() * w.sign()
        if self.rule == "frsf":
            return self.fixed * w.sign()
        raise ValueError(f"rule {self.rule} has no weight-shaped feedback")

    def feedback_len(self) -> int:
        """Feedback values: one per weight for FA and the sign-symmetry rules, the
        projection for DFA, none for BP and Hebbian."""
        if self.rule in ("bp", "hebbian"):
            return 0
        return self.fixed.numel() if self.rule == "dfa" else self.weight.numel()


class RuleConv2d(RuleLayer):
    """A 2-D convolution without bias whose backward pass follows a learning rule;
    Xavier-uniform weight."""

    def __init__(self, c_in, c_out, kernel, stride=1, padding=0, dilation=1, groups=1,
                 rule="bp", hub=None):
        shape = (c_out, c_in // groups, kernel, kernel)
        projection = (hub.classes if hub is not None else 0, c_in, kernel, kernel)
        super().__init__(shape, conv_fans(shape), rule, hub, projection,
                         conv_fans(projection))
        self.conf = ConvConf((stride,) * 2, (padding,) * 2, (dilation,) * 2, groups)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = self.conf
        if self.rule == "bp" or not torch.is_grad_enabled():
            return F.conv2d(x, self.weight, None, c.stride, c.padding, c.dilation, c.groups)
        if self.rule == "dfa":
            return DirectConv2d.apply(x, self.weight, self.fixed, self.hub,
                                      self.hub.upcoming(), c)
        if self.rule == "hebbian":
            return HebbianConv2d.apply(x, self.weight, c)
        return FeedbackConv2d.apply(x, self.weight, self.feedback(), c)


class RuleLinear(RuleLayer):
    """A linear layer ``x W^T + b`` whose backward pass follows a learning rule;
    Xavier-uniform weight, bias from ``U(-1/sqrt(in), 1/sqrt(in))``; the bias always
    learns by its own gradient."""

    def __init__(self, d_in, d_out, rule="bp", hub=None):
        projection = (hub.classes if hub is not None else 0, d_in)
        super().__init__((d_out, d_in), (d_in, d_out), rule, hub, projection,
                         (d_in, projection[0]))
        self.bias = nn.Parameter(uniform((d_out,), 1.0 / math.sqrt(d_in)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.rule == "bp" or not torch.is_grad_enabled():
            return F.linear(x, self.weight, self.bias)
        if self.rule == "dfa":
            out = DirectLinear.apply(x, self.weight, self.fixed, self.hub, self.hub.upcoming())
        elif self.rule == "hebbian":
            out = HebbianLinear.apply(x, self.weight)
        else:
            out = FeedbackLinear.apply(x, self.weight, self.feedback())
        return out + self.bias


# ---------------------------------------------------------------------------------------
# The search space
# ---------------------------------------------------------------------------------------

STEPS = 4  # intermediate nodes per cell
SEARCH_EDGES = STEPS * (STEPS + 3) // 2  # 14
STEM_MULTIPLIER = 3
IMAGE_CHANNELS = 3
OPERATIONS = ("none", "max_pool_3x3", "avg_pool_3x3", "skip_connect", "sep_conv_3x3",
              "sep_conv_5x5", "dil_conv_3x3", "dil_conv_5x5")
CONV_OPERATIONS = OPERATIONS[4:]


class Candidate(NamedTuple):
    """An operation and, for an operation with weights, its rule."""

    op: str
    rule: Optional[str] = None


def candidate_set(rules: Sequence[str]) -> List[Candidate]:
    """The weightless operations, then every convolution operation with every rule."""
    if not rules:
        raise ValueError("the rule set is empty")
    for i, rule in enumerate(rules):
        if rule not in RULES:
            raise ValueError(f"unknown rule {rule!r}")
        if rule in rules[:i]:
            raise ValueError(f"the rule set names {rule!r} twice")
    plain = [Candidate(op) for op in OPERATIONS if op not in CONV_OPERATIONS]
    return plain + [Candidate(op, rule) for op in CONV_OPERATIONS for rule in rules]


class Edge(NamedTuple):
    """A kept edge of a genotype: candidate and the state it reads."""

    op: str
    rule: Optional[str]
    input: int


class Genotype(NamedTuple):
    """Two edges per node for the normal and reduction cells (both concatenate 2..5)."""

    normal: Tuple[Edge, ...]
    reduce: Tuple[Edge, ...]

    def with_rule(self, rule: str) -> "Genotype":
        """The same cells with every weighted operation on ``rule``."""
        def change(cell):
            return tuple(e._replace(rule=rule) if e.op in CONV_OPERATIONS else e for e in cell)
        return Genotype(change(self.normal), change(self.reduce))


def _edges(*edges) -> Tuple[Edge, ...]:
    return tuple(Edge(op, rule, i) for op, rule, i in edges)


# The cell of the DARTS paper (second order), every convolution on BP.
DARTS_V2 = Genotype(
    normal=_edges(("sep_conv_3x3", "bp", 0), ("sep_conv_3x3", "bp", 1),
                  ("sep_conv_3x3", "bp", 0), ("sep_conv_3x3", "bp", 1),
                  ("sep_conv_3x3", "bp", 1), ("skip_connect", None, 0),
                  ("skip_connect", None, 0), ("dil_conv_3x3", "bp", 2)),
    reduce=_edges(("max_pool_3x3", None, 0), ("max_pool_3x3", None, 1),
                  ("skip_connect", None, 2), ("max_pool_3x3", None, 1),
                  ("max_pool_3x3", None, 0), ("skip_connect", None, 2),
                  ("skip_connect", None, 2), ("max_pool_3x3", None, 1)),
)

# The best mixed-rule cell released with the paper (used by the self-test's counts).
BIODARTS = Genotype(
    normal=_edges(("skip_connect", None, 0), ("skip_connect", None, 1),
                  ("sep_conv_3x3", "frsf", 1), ("sep_conv_3x3", "usf", 2),
                  ("sep_conv_3x3", "usf", 0), ("skip_connect", None, 1),
                  ("sep_conv_3x3", "frsf", 1), ("max_pool_3x3", None, 0)),
    reduce=_edges(("max_pool_3x3", None, 0), ("skip_connect", None, 1),
                  ("max_pool_3x3", None, 0), ("max_pool_3x3", None, 1),
                  ("max_pool_3x3", None, 0), ("max_pool_3x3", None, 1),
                  ("max_pool_3x3", None, 0), ("dil_conv_5x5", "usf", 3)),
)


class LayerSpec(NamedTuple):
    """Settings shared by the layers of one edge or preprocessing step."""

    c_in: int
    c_out: int
    stride: int
    affine: bool  # batch norms with learnable scale and shift (false while searching)
    rule: str
    hub: Hub

    def conv(self, c_in, c_out, kernel, **options) -> RuleConv2d:
        return RuleConv2d(c_in, c_out, kernel, rule=self.rule, hub=self.hub, **options)


class ReluConvBn(nn.Module):
    """ReLU, convolution, batch norm (the cell preprocessing)."""

    def __init__(self, spec: LayerSpec, kernel: int, padding: int):
        super().__init__()
        self.conv = spec.conv(spec.c_in, spec.c_out, kernel, stride=spec.stride,
                              padding=padding)
        self.bn = nn.BatchNorm2d(spec.c_out, affine=spec.affine)

    def forward(self, x):
        return self.bn(self.conv(F.relu(x)))


class DwPwBn(nn.Module):
    """ReLU, depthwise ``k x k`` convolution (strided, possibly dilated), pointwise 1x1
    convolution, batch norm: half a separable convolution, or a whole dilated one."""

    def __init__(self, spec: LayerSpec, kernel: int, dilation: int):
        super().__init__()
        padding = dilation * (kernel - 1) // 2
        self.depthwise = spec.conv(spec.c_in, spec.c_in, kernel, stride=spec.stride,
                                   padding=padding, dilation=dilation, groups=spec.c_in)
        self.pointwise = spec.conv(spec.c_in, spec.c_out, 1)
        self.bn = nn.BatchNorm2d(spec.c_out, affine=spec.affine)

    def forward(self, x):
        return self.bn(self.pointwise(self.depthwise(F.relu(x))))


class SepConv(nn.Module):
    """Separable convolution: two :class:`DwPwBn` halves, the first strided."""

    def __init__(self, spec: LayerSpec, kernel: int):
        super().__init__()
        self.first = DwPwBn(spec._replace(c_out=spec.c_in), kernel, 1)
        self.second = DwPwBn(spec._replace(stride=1), kernel, 1)

    def forward(self, x):
        return self.second(self.first(x))


class FactorizedReduce(nn.Module):
    """ReLU, two 1x1 stride-2 convolutions (the second on the input shifted by one pixel
    and zero-padded at the end), concatenated, batch norm."""

    def __init__(self, spec: LayerSpec):
        super().__init__()
        half = spec.c_out // 2
        self.even = spec.conv(spec.c_in, half, 1, stride=2)
        self.odd = spec.conv(spec.c_in, half, 1, stride=2)
        self.bn = nn.BatchNorm2d(2 * half, affine=spec.affine)

    def forward(self, x):
        x = F.relu(x)
        shifted = F.pad(x[:, :, 1:, 1:], (0, 1, 0, 1))
        return self.bn(torch.cat([self.even(x), self.odd(shifted)], dim=1))


class Pool(nn.Module):
    """3x3 max or average pooling (padding 1, padding not counted in the average),
    followed by a non-affine batch norm in the search supernet."""

    def __init__(self, kind: str, channels: int, stride: int, with_norm: bool):
        super().__init__()
        self.kind, self.stride = kind, stride
        self.bn = nn.BatchNorm2d(channels, affine=False) if with_norm else None

    def forward(self, x):
        if self.kind == "max":
            y = F.max_pool2d(x, 3, self.stride, 1)
        else:
            y = F.avg_pool2d(x, 3, self.stride, 1, count_include_pad=False)
        return self.bn(y) if self.bn is not None else y


class Zero(nn.Module):
    """The zero operation (skipped by the mixed operation)."""

    def __init__(self, stride: int):
        super().__init__()
        self.stride = stride

    def forward(self, x):
        n, c, h, w = x.shape
        return x.new_zeros(n, c, -(-h // self.stride), -(-w // self.stride))


def edge_op(candidate: Candidate, channels: int, stride: int, search: bool,
            skeleton_rule: str, hub: Hub) -> nn.Module:
    """The module of one candidate on an edge; a stride-2 skip is a factorized reduce on
    the skeleton rule."""
    spec = LayerSpec(channels, channels, stride, not search, candidate.rule or skeleton_rule,
                     hub)
    op = candidate.op
    if op == "none":
        return Zero(stride)
    if op == "skip_connect":
        return nn.Identity() if stride == 1 else FactorizedReduce(spec)
    if op in ("max_pool_3x3", "avg_pool_3x3"):
        return Pool(op[:3], channels, stride, search)
    if op.startswith("sep_conv"):
        return SepConv(spec, int(op[-1]))
    if op.startswith("dil_conv"):
        return DwPwBn(spec, int(op[-1]), 2)
    raise ValueError(f"unknown operation {op!r}")


class CellSpec(NamedTuple):
    """Channel sizes and kind of one cell."""

    c_prev_prev: int
    c_prev: int
    channels: int
    reduction: bool
    reduction_prev: bool
    search: bool
    skeleton_rule: str
    hub: Hub

    def stride(self, state: int) -> int:
        """Edges leaving the two inputs of a reduction cell have stride 2."""
        return 2 if self.reduction and state < 2 else 1

    def preprocess(self) -> Tuple[nn.Module, nn.Module]:
        """The preprocessing of the older and the newer input, on the skeleton rule."""
        def layer(c_in):
            return LayerSpec(c_in, self.channels, 1, not self.search, self.skeleton_rule,
                             self.hub)
        older = layer(self.c_prev_prev)
        pre0 = FactorizedReduce(older) if self.reduction_prev else ReluConvBn(older, 1, 0)
        return pre0, ReluConvBn(layer(self.c_prev), 1, 0)


def cell_specs(channels: int, layers: int, multiplier: int, search: bool, skeleton_rule: str,
               hub: Hub) -> Tuple[List[CellSpec], int]:
    """Cells ``layers // 3`` and ``2 * layers // 3`` reduce and double the channels;
    returns the specs and the channels of the last cell's output."""
    c_prev_prev = c_prev = STEM_MULTIPLIER * channels
    c, reduction_prev, specs = channels, False, []
    for i in range(layers):
        reduction = i in (layers // 3, 2 * layers // 3)
        if reduction:
            c *= 2
        specs.append(CellSpec(c_prev_prev, c_prev, c, reduction, reduction_prev, search,
                              skeleton_rule, hub))
        reduction_prev = reduction
        c_prev_prev, c_prev = c_prev, multiplier * c
    return specs, c_prev


def scale_gradient(x: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """The identity whose backward pass multiplies the gradient by ``scale``."""
    c = scale.detach()
    return x * c + x.detach() * (1.0 - c)


class MixedOp(nn.Module):
    """``sum_k w_k op_k(x)`` over the candidates, the zero operation skipped; a DFA
    candidate's input gradient is scaled by its ``w_k`` explicitly."""

    def __init__(self, candidates, channels, stride, spec: CellSpec):
        super().__init__()
        self.ops = nn.ModuleList(edge_op(c, channels, stride, True, spec.skeleton_rule,
                                         spec.hub) for c in candidates)
        self.direct = [c.rule == "dfa" for c in candidates]

    def forward(self, x, weights):
        total = None
        for k, op in enumerate(self.ops):
            if isinstance(op, Zero):
                continue
            w = weights[k]
            term = op(scale_gradient(x, w) if self.direct[k] else x) * w
            total = term if total is None else total + term
        return total if total is not None else self.ops[0](x)


class SearchCell(nn.Module):
    """Two preprocessed inputs, four nodes, a mixed operation on each of the 14 edges;
    the output concatenates the four nodes."""

    def __init__(self, spec: CellSpec, candidates: Sequence[Candidate]):
        super().__init__()
        self.pre0, self.pre1 = spec.preprocess()
        self.reduction = spec.reduction
        self.edges = nn.ModuleList(
            MixedOp(candidates, spec.channels, spec.stride(j), spec)
            for node in range(STEPS) for j in range(node + 2)
        )

    def forward(self, s0, s1, weights):
        states = [self.pre0(s0), self.pre1(s1)]
        offset = 0
        for _ in range(STEPS):
            node = None
            for j, h in enumerate(states):
                out = self.edges[offset + j](h, weights[offset + j])
                node = out if node is None else node + out
            offset += len(states)
            states.append(node)
        return torch.cat(states[2:], dim=1)


class Cell(nn.Module):
    """The discrete cell of a genotype: two operations per node."""

    def __init__(self, spec: CellSpec, edges: Sequence[Edge]):
        super().__init__()
        self.pre0, self.pre1 = spec.preprocess()
        self.ops = nn.ModuleList(
            edge_op(Candidate(e.op, e.rule), spec.channels, spec.stride(e.input), False,
                    spec.skeleton_rule, spec.hub) for e in edges
        )
        self.inputs = [e.input for e in edges]

    def forward(self, s0, s1):
        states = [self.pre0(s0), self.pre1(s1)]
        for i in range(0, len(self.ops), 2):
            a = self.ops[i](states[self.inputs[i]])
            b = self.ops[i + 1](states[self.inputs[i + 1]])
            states.append(a + b)
        return torch.cat(states[2:], dim=1)


class Stem(nn.Module):
    """3x3 convolution to ``3 C`` channels and an affine batch norm."""

    def __init__(self, channels: int, rule: str, hub: Hub):
        super().__init__()
        self.conv = RuleConv2d(IMAGE_CHANNELS, channels, 3, padding=1, rule=rule, hub=hub)
        self.bn = nn.BatchNorm2d(channels)

    def forward(self, x):
        return self.bn(self.conv(x))


class Network(nn.Module):
    """The network of a genotype (CIFAR layout), affine batch norms."""

    def __init__(self, genotype: Genotype, channels=36, layers=20, classes=10,
                 skeleton_rule="bp"):
        super().__init__()
        self.hub = Hub(classes)
        specs, c_last = cell_specs(channels, layers, STEPS, False, skeleton_rule, self.hub)
        self.stem = Stem(STEM_MULTIPLIER * channels, skeleton_rule, self.hub)
        self.cells = nn.ModuleList(
            Cell(s, genotype.reduce if s.reduction else genotype.normal) for s in specs
        )
        self.classifier = RuleLinear(c_last, classes, skeleton_rule, self.hub)

    def forward(self, images):
        s0 = s1 = self.stem(images)
        for cell in self.cells:
            s0, s1 = s1, cell(s0, s1)
        return self.hub.tap(self.classifier(s1.mean(dim=(2, 3))))


class Supernet(nn.Module):
    """The DARTS search supernet: every edge a softmax-weighted mixture of all candidates,
    non-affine batch norms in the cells, one ``alpha`` ``[14, candidates]`` per cell type
    drawn from ``N(0, 1e-3^2)``."""

    def __init__(self, channels=16, layers=8, classes=10, rules=PAPER_RULES,
                 skeleton_rule="bp", alpha_init_std=1e-3):
        super().__init__()
        self.candidates = candidate_set(list(rules))
        self.hub = Hub(classes)
        specs, c_last = cell_specs(channels, layers, STEPS, True, skeleton_rule, self.hub)
        self.stem = Stem(STEM_MULTIPLIER * channels, skeleton_rule, self.hub)
        self.cells = nn.ModuleList(SearchCell(s, self.candidates) for s in specs)
        self.classifier = RuleLinear(c_last, classes, skeleton_rule, self.hub)
        shape = (SEARCH_EDGES, len(self.candidates))
        self.alpha_normal = nn.Parameter(alpha_init_std * torch.randn(shape))
        self.alpha_reduce = nn.Parameter(alpha_init_std * torch.randn(shape))

    def alphas(self) -> List[nn.Parameter]:
        return [self.alpha_normal, self.alpha_reduce]

    def weights(self) -> List[nn.Parameter]:
        ids = {id(a) for a in self.alphas()}
        return [p for p in self.parameters() if id(p) not in ids]

    def forward(self, images):
        normal = F.softmax(self.alpha_normal, dim=-1)
        reduce = F.softmax(self.alpha_reduce, dim=-1)
        s0 = s1 = self.stem(images)
        for cell in self.cells:
            s0, s1 = s1, cell(s0, s1, reduce if cell.reduction else normal)
        return self.hub.tap(self.classifier(s1.mean(dim=(2, 3))))


def trained_parameters(model: nn.Module) -> int:
    """Values an optimiser trains (stored feedback and running statistics are buffers)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def rule_layers(model: nn.Module) -> List[RuleLayer]:
    return [m for m in model.modules() if isinstance(m, RuleLayer)]


# ---------------------------------------------------------------------------------------
# Measurement
# ---------------------------------------------------------------------------------------

CASES = tuple(f"train-{r}" for r in RULES) + ("search", "infer")
CLIP = 5.0


def memory_kib(key: str) -> Optional[float]:
    """``VmRSS`` or ``VmHWM`` of this process in KiB (Linux), else None."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith(key + ":"):
                    return float(line.split()[1])
    except OSError:
        pass
    return None


def random_batches(args, count: int) -> List[Tuple[torch.Tensor, torch.Tensor]]:
    """``count`` seeded batches of images ``randn(batch, 3, 32, 32)`` and labels."""
    gen = torch.Generator().manual_seed(args.seed)
    return [(torch.randn(args.batch, IMAGE_CHANNELS, 32, 32, generator=gen),
             torch.randint(0, 10, (args.batch,), generator=gen)) for _ in range(count)]


def sgd(params) -> torch.optim.Optimizer:
    return torch.optim.SGD(params, lr=0.025, momentum=0.9, weight_decay=3e-4)


def train_case(args, rule: str) -> Tuple[Callable[[], None], int]:
    """The training step of DARTS_V2 on ``rule`` and its number of timed steps."""
    net = Network(DARTS_V2.with_rule(rule), args.channels, args.cells).train()
    optim = sgd(net.parameters())
    batches = iter(random_batches(args, args.steps + 1))

    def step():
        images, labels = next(batches)
        optim.zero_grad()
        loss = F.cross_entropy(net(images), labels)
        loss.backward()
        nn.utils.clip_grad_norm_(net.parameters(), CLIP)
        optim.step()

    return step, args.steps


def search_case(args) -> Tuple[Callable[[], None], int]:
    """One first-order search step: Adam on the alphas, then SGD on the weights."""
    net = Supernet(args.channels, args.cells, rules=args.rules).train()
    arch_optim = torch.optim.Adam(net.alphas(), lr=3e-4, betas=(0.5, 0.999), eps=1e-8,
                                  weight_decay=1e-3)
    weights = net.weights()
    weight_optim = sgd(weights)
    batches = iter(random_batches(args, 2 * (args.search_steps + 1)))

    def step():
        images, labels = next(batches)  # architecture step
        net.zero_grad()
        F.cross_entropy(net(images), labels).backward()
        arch_optim.step()
        images, labels = next(batches)  # weight step
        net.zero_grad()
        F.cross_entropy(net(images), labels).backward()
        nn.utils.clip_grad_norm_(weights, CLIP)
        weight_optim.step()

    return step, args.search_steps


def infer_case(args) -> Tuple[Callable[[], None], int]:
    """A forward pass of DARTS_V2 (BP) in evaluation mode."""
    net = Network(DARTS_V2, args.channels, args.cells).eval()
    batches = iter(random_batches(args, args.infer_steps + 1))

    def step():
        images, _ = next(batches)
        with torch.inference_mode():
            net(images)

    return step, args.infer_steps


def run_one_case(args, name: str) -> dict:
    """Runs case ``name`` in this process and returns its JSON record."""
    torch.manual_seed(args.seed)
    if name == "search":
        kind, rule, images = "search", "+".join(args.rules), 2
        step, steps = search_case(args)
    elif name == "infer":
        kind, rule, images = "infer", "bp", 1
        step, steps = infer_case(args)
    else:
        kind, rule, images = "train", name[len("train-"):], 1
        step, steps = train_case(args, rule)
    baseline = memory_kib("VmRSS")
    step()  # warm-up
    start = time.perf_counter()
    for _ in range(steps):
        step()
    per_step = (time.perf_counter() - start) / max(steps, 1)
    peak = memory_kib("VmHWM")
    both = peak is not None and baseline is not None
    return {
        "framework": "pytorch",
        "version": torch.__version__,
        "case": kind,
        "rule": rule,
        "channels": args.channels,
        "cells": args.cells,
        "batch": args.batch,
        "threads": args.threads,
        "steps": steps,
        "seconds_per_step": per_step,
        "images_per_second": images * args.batch / per_step,
        "peak_rss_mib": peak / 1024 if peak is not None else None,
        "step_peak_mib": (peak - baseline) / 1024 if both else None,
    }


def child_argv(args, name: str) -> List[str]:
    """The command line that runs case ``name`` in a fresh process."""
    return [sys.executable, os.path.abspath(__file__), "--one-case", name,
            "--channels", str(args.channels), "--cells", str(args.cells),
            "--batch", str(args.batch), "--threads", str(args.threads),
            "--steps", str(args.steps), "--search-steps", str(args.search_steps),
            "--infer-steps", str(args.infer_steps), "--rules", ",".join(args.rules),
            "--seed", str(args.seed)]


def run_child(args, name: str) -> dict:
    """Runs case ``name`` in a child process and parses its JSON line."""
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads),
               MKL_NUM_THREADS=str(args.threads))
    done = subprocess.run(child_argv(args, name), stdout=subprocess.PIPE, env=env,
                          text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"case {name} failed with exit status {done.returncode}")
    lines = [l for l in done.stdout.splitlines() if l.startswith("{")]
    if not lines:
        raise RuntimeError(f"case {name} printed no JSON line")
    return json.loads(lines[-1])


def print_table(records: Sequence[dict]) -> None:
    """A readable table on stderr; ``vs BP`` is a training step's time over BP's."""
    def number(value, digits=1):
        return "-" if value is None else f"{value:.{digits}f}"

    bp = next((r["seconds_per_step"] for r in records
               if r["case"] == "train" and r["rule"] == "bp"), None)
    head = f"{'case':28} {'s/step':>9} {'img/s':>9} {'peak MiB':>10} {'step MiB':>10} " \
           f"{'vs BP':>8}"
    print(head, file=sys.stderr)
    for r in records:
        ratio = f"{r['seconds_per_step'] / bp:.3f}x" if bp and r["case"] == "train" else "-"
        print(f"{r['case'] + ':' + r['rule']:28} {r['seconds_per_step']:>9.3f} "
              f"{number(r['images_per_second']):>9} {number(r['peak_rss_mib']):>10} "
              f"{number(r['step_peak_mib']):>10} {ratio:>8}", file=sys.stderr)


# ---------------------------------------------------------------------------------------
# Self-test
# ---------------------------------------------------------------------------------------

def _close(name: str, got: torch.Tensor, want: torch.Tensor, tol=1e-9) -> None:
    if got.shape != want.shape or not torch.allclose(got, want, rtol=1e-7, atol=tol):
        err = (got - want).abs().max().item() if got.shape == want.shape else "shape"
        raise AssertionError(f"{name}: mismatch (max error {err})")


def _check_conv_rules() -> None:
    """Each weight-shaped rule on convolutions of several shapes: the output and the
    weight gradient are BP's, the input gradient is autograd's through ``conv(x, B)``."""
    torch.manual_seed(1)
    shapes = [  # (c_in, c_out, kernel, stride, padding, dilation, groups, size)
        (3, 5, 3, 2, 1, 1, 1, 7), (4, 4, 3, 1, 2, 2, 4, 6), (6, 6, 5, 2, 2, 1, 6, 9),
        (4, 6, 1, 1, 0, 1, 1, 5), (4, 3, 1, 2, 0, 1, 1, 6), (4, 6, 3, 1, 1, 1, 2, 5),
    ]
    for c_in, c_out, k, s, p, d, g, size in shapes:
        for rule in WEIGHT_SHAPED:
            layer = RuleConv2d(c_in, c_out, k, s, p, d, g, rule=rule).double()
            x = torch.randn(2, c_in, size, size, dtype=torch.double, requires_grad=True)
            conf = layer.conf
            b = layer.feedback().detach().double()
            y = FeedbackConv2d.apply(x, layer.weight, layer.weight if rule == "bp" else b,
                                     conf)
            g_out = torch.randn_like(y)
            dx, dw = torch.autograd.grad(y, (x, layer.weight), g_out)
            opts = (None, conf.stride, conf.padding, conf.dilation, conf.groups)
            y_ref = F.conv2d(x, layer.weight, *opts)
            dx_bp, dw_bp = torch.autograd.grad(y_ref, (x, layer.weight), g_out)
            dx_b = torch.autograd.grad(F.conv2d(x, b, *opts), x, g_out)[0]
            tag = f"conv {rule} {(c_in, c_out, k, s, p, d, g)}"
            _close(tag + " output", y, y_ref)
            _close(tag + " weight gradient", dw, dw_bp)
            _close(tag + " input gradient", dx, dx_b)
            if rule == "bp":
                _close(tag + " input gradient (BP)", dx, dx_bp)
            if rule in ("usf", "frsf", "brsf"):  # also the transposed convolution of B
                pad = F.conv_transpose2d(g_out, b, None, conf.stride, conf.padding, 0,
                                         conf.groups, conf.dilation)
                h = min(pad.shape[-1], size)
                _close(tag + " conv_transpose2d", dx[..., :h, :h], pad[..., :h, :h])
            _check_feedback(layer, tag)
            # The module path: plain forward, weight gradient as BP.
            layer.zero_grad()
            layer(x).backward(g_out)
            _close(tag + " module weight gradient", layer.weight.grad, dw_bp)


def _check_feedback(layer: RuleLayer, tag: str) -> None:
    """How B relates to W for each rule."""
    w = layer.weight.detach()
    b1, b2 = layer.feedback().detach(), layer.feedback().detach()
    fan_in, fan_out = (conv_fans(w.shape) if w.dim() == 4 else (w.shape[1], w.shape[0]))
    a = math.sqrt(6.0 / (fan_in + fan_out))
    if layer.rule == "usf":
        _close(tag + " uSF feedback", b1, w.sign() * math.sqrt(2.0 / (fan_in + fan_out)))
    if layer.rule in ("brsf", "frsf"):
        assert torch.equal(b1.sign(), w.sign()), tag + ": sign-symmetric feedback"
        assert b1.abs().max() <= a, tag + ": feedback within the Xavier bound"
        fixed = torch.equal(b1, b2)
        assert fixed == (layer.rule == "frsf"), tag + ": brSF redraws, frSF does not"
    if layer.rule == "fa":
        assert torch.equal(b1, b2) and b1.abs().max() <= a, tag + ": fixed FA feedback"


def _check_linear_rules() -> None:
    """The same for linear layers."""
    torch.manual_seed(2)
    for rule in WEIGHT_SHAPED:
        layer = RuleLinear(7, 4, rule=rule).double()
        x = torch.randn(5, 7, dtype=torch.double, requires_grad=True)
        b = layer.feedback().detach().double()
        y = FeedbackLinear.apply(x, layer.weight, b) + layer.bias
        g_out = torch.randn_like(y)
        dx, dw, db = torch.autograd.grad(y, (x, layer.weight, layer.bias), g_out)
        y_ref = F.linear(x, layer.weight, layer.bias)
        dx_bp, dw_bp, db_bp = torch.autograd.grad(y_ref, (x, layer.weight, layer.bias), g_out)
        dx_b = torch.autograd.grad(F.linear(x, b), x, g_out)[0]
        tag = f"linear {rule}"
        _close(tag + " output", y, y_ref)
        _close(tag + " weight gradient", dw, dw_bp)
        _close(tag + " bias gradient", db, db_bp)
        _close(tag + " input gradient", dx, dx_b)
        if rule == "bp":
            _close(tag + " input gradient (BP)", dx, dx_bp)
        _check_feedback(layer, tag)


def _check_dfa() -> None:
    """A DFA convolution and a DFA linear layer under a BP head: the input gradient is
    the output error through the projection, the weight gradient is BP's."""
    torch.manual_seed(3)
    hub = Hub(10)
    conv = RuleConv2d(4, 6, 3, stride=2, padding=2, dilation=2, groups=2, rule="dfa",
                      hub=hub).double()
    lin = RuleLinear(6, 8, rule="dfa", hub=hub).double()
    head = RuleLinear(8, 10).double()
    x = torch.randn(3, 4, 9, 9, dtype=torch.double, requires_grad=True)
    labels = torch.tensor([1, 5, 9])
    feats = conv(x)
    hidden = lin(feats.mean(dim=(2, 3)))
    logits = hub.tap(head(hidden))
    F.cross_entropy(logits, labels).backward()
    e = (F.softmax(logits.detach(), dim=1) - F.one_hot(labels, 10)) / 3
    # Input gradient of the convolution: e spread over the pixels, through P, one group.
    p, c = conv.fixed, conv.conf
    spread = e[:, :, None, None].expand(-1, -1, *feats.shape[2:])
    x2 = x.detach().requires_grad_()
    out = F.conv2d(x2, p, None, c.stride, c.padding, c.dilation, 1)
    want_dx = torch.autograd.grad(out, x2, spread)[0]
    _close("dfa conv input gradient", x.grad, want_dx)
    # Weight gradients as BP's: the layers above the DFA convolution are BP except lin.
    w_conv = conv.weight.detach().requires_grad_()
    w_lin = lin.weight.detach().requires_grad_()
    y = F.conv2d(x.detach(), w_conv, None, c.stride, c.padding, c.dilation, c.groups)
    h = F.linear(y.mean(dim=(2, 3)), w_lin, lin.bias.detach())
    logits_ref = F.linear(h, head.weight.detach(), head.bias.detach())
    # lin's input gradient is e @ P_lin instead of BP's; feed it by hand to the conv.
    dw_lin = torch.autograd.grad(F.cross_entropy(logits_ref, labels), w_lin)[0]
    _close("dfa linear weight gradient", lin.weight.grad, dw_lin)
    d_mean = e.matmul(lin.fixed)
    d_y = (d_mean[:, :, None, None] / (y.shape[2] * y.shape[3])).expand_as(y)
    dw_conv = torch.autograd.grad(y, w_conv, d_y)[0]
    _close("dfa conv weight gradient", conv.weight.grad, dw_conv)


def _hebbian_reference(x, weight, conf: ConvConf) -> torch.Tensor:
    """Oja's rule with explicit patches (``unfold``), group by group."""
    out_c, in_g, kh, kw = weight.shape
    groups = conf.groups
    cols = F.unfold(x, (kh, kw), conf.dilation, conf.padding, conf.stride)
    n, _, length = cols.shape
    cols = cols.reshape(n, groups, in_g * kh * kw, length)
    per_group = out_c // groups
    dw = torch.zeros_like(weight)
    for o in range(out_c):
        patches = cols[:, o // per_group].permute(0, 2, 1).reshape(-1, in_g * kh * kw)
        norms = patches.norm(dim=1, keepdim=True)
        unit = torch.where(norms.square() < MIN_SQUARED_NORM, torch.zeros_like(patches),
                           patches / norms.clamp_min(1e-300))
        w = weight[o].reshape(-1)
        u = unit.matmul(w)
        dw[o] = (u[:, None] * (unit - u[:, None] * w)).mean(dim=0).reshape(in_g, kh, kw)
    return dw


def _check_hebbian() -> None:
    """Oja's rule against explicit patches; zero input gradient; the documented case."""
    torch.manual_seed(4)
    for c_in, c_out, k, s, p, d, g in [(3, 4, 3, 2, 1, 1, 1), (4, 4, 3, 1, 2, 2, 4),
                                       (4, 6, 1, 1, 0, 1, 1)]:
        layer = RuleConv2d(c_in, c_out, k, s, p, d, g, rule="hebbian").double()
        x = torch.randn(2, c_in, 6, 6, dtype=torch.double, requires_grad=True)
        y = layer(x)
        y.backward(torch.randn_like(y))
        want = -_hebbian_reference(x.detach(), layer.weight.detach(), layer.conf)
        tag = f"hebbian conv {(c_in, c_out, k, s, p, d, g)}"
        _close(tag + " weight gradient", layer.weight.grad, want)
        _close(tag + " input gradient", x.grad, torch.zeros_like(x))
    # One input [3, 4] (norm 5), weight [1, 0]: x^ = [0.6, 0.8], u = 0.6,
    # dW = u x^ - u^2 W = [0, 0.48].
    x = torch.tensor([[3.0, 4.0]], dtype=torch.double)
    w = torch.tensor([[1.0, 0.0]], dtype=torch.double)
    _close("hebbian linear update", hebbian_linear_update(x, w),
           torch.tensor([[0.0, 0.48]], dtype=torch.double), 1e-12)
    layer = RuleLinear(5, 3, rule="hebbian").double()
    x = torch.randn(4, 5, dtype=torch.double, requires_grad=True)
    layer(x).sum().backward()
    unit = x.detach() / x.detach().norm(dim=1, keepdim=True)
    u = unit.matmul(layer.weight.detach().t())
    want = (u.t().matmul(unit) - layer.weight.detach() * u.square().sum(0)[:, None]) / 4
    _close("hebbian linear weight gradient", layer.weight.grad, -want)
    _close("hebbian linear input gradient", x.grad, torch.zeros_like(x))


def _check_networks() -> None:
    """Sizes as the Rust code counts them, and a training pass of small networks with
    every rule in which every parameter gets a gradient."""
    counts = [
        ("DARTS_V2, C=36, 20 cells, 10 classes", Network(DARTS_V2), 3_349_342),
        ("DARTS_V2, C=36, 20 cells, 100 classes", Network(DARTS_V2, classes=100),
         3_401_272),
        ("BIODARTS, C=36, 20 cells, 10 classes", Network(BIODARTS), 2_867_662),
    ]
    for name, net, want in counts:
        got = trained_parameters(net)
        print(f"  {name}: {got:,} trained parameters", file=sys.stderr)
        assert got == want, f"{name}: {got} trained parameters, expected {want}"
    biodarts = counts[2][1]
    stored = sum(m.fixed.numel() for m in rule_layers(biodarts) if m.fixed is not None)
    feedback = sum(m.feedback_len() for m in rule_layers(biodarts))
    assert stored == 707_616, f"BIODARTS stores {stored} frSF magnitudes, expected 707,616"
    assert feedback == 1_446_552, f"BIODARTS feedback length {feedback}, expected 1,446,552"
    small = trained_parameters(Network(DARTS_V2, 16, 8))
    print(f"  DARTS_V2, C=16, 8 cells, 10 classes: {small:,} trained parameters",
          file=sys.stderr)
    supernet = Supernet(16, 8)
    assert len(supernet.candidates) == 20, "the paper's rule set gives 20 candidates"
    print(f"  supernet, C=16, 8 cells, fa+usf+brsf+frsf: {len(supernet.candidates)} "
          f"candidates, {trained_parameters(supernet):,} trained parameters",
          file=sys.stderr)
    torch.manual_seed(5)
    x = torch.randn(2, 3, 8, 8)
    for rule in RULES:
        net = Network(DARTS_V2.with_rule(rule), 4, 3)
        F.cross_entropy(net(x), torch.tensor([0, 1])).backward()
        missing = [n for n, p in net.named_parameters() if p.grad is None]
        assert not missing, f"DARTS_V2 on {rule}: no gradient for {missing}"
    supernet = Supernet(4, 3, rules=("fa", "usf", "brsf", "frsf", "dfa", "hebbian", "bp"))
    F.cross_entropy(supernet(x), torch.tensor([0, 1])).backward()
    missing = [n for n, p in supernet.named_parameters() if p.grad is None]
    assert not missing, f"supernet: no gradient for {missing}"


def self_test() -> None:
    checks = [("convolution rules", _check_conv_rules), ("linear rules", _check_linear_rules),
              ("DFA", _check_dfa), ("Hebbian", _check_hebbian),
              ("networks", _check_networks)]
    for name, check in checks:
        check()
        print(f"ok: {name}", file=sys.stderr)
    print("self-test passed", file=sys.stderr)


# ---------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------

def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description="Training, search and inference throughput and peak memory of the "
                    "bionas networks in PyTorch (CPU), one fresh process per case.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    # The search supernet needs more than 24 GiB at batch 64: only when asked for.
    parser.add_argument("--cases", default=",".join(c for c in CASES if c != "search"),
                        help="comma-separated cases: train-<rule> (" + ", ".join(RULES)
                             + "), search, infer (default: all but search)")
    parser.add_argument("--channels", type=int, default=16, help="initial channels C")
    parser.add_argument("--cells", type=int, default=8, help="number of cells")
    parser.add_argument("--batch", type=int, default=64, help="images per batch")
    parser.add_argument("--threads", type=int, default=2,
                        help="intra-op threads (torch.set_num_threads); inter-op: 1")
    parser.add_argument("--steps", type=int, default=5,
                        help="timed training steps, after one warm-up step")
    parser.add_argument("--search-steps", type=int, default=2,
                        help="timed search steps, after one warm-up step")
    parser.add_argument("--infer-steps", type=int, default=10,
                        help="timed inference passes, after one warm-up pass")
    parser.add_argument("--rules", default=",".join(PAPER_RULES),
                        help="rules of the supernet's candidates")
    parser.add_argument("--rounds", type=int, default=1,
                        help="runs of the whole case list; each case keeps its fastest")
    parser.add_argument("--seed", type=int, default=0, help="seed of weights and inputs")
    parser.add_argument("--json", metavar="FILE", help="also write the JSON lines to FILE")
    parser.add_argument("--self-test", action="store_true",
                        help="check the rules' gradients and the networks' sizes, then exit")
    parser.add_argument("--one-case", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.cases = list(dict.fromkeys(c.strip() for c in args.cases.split(",") if c.strip()))
    args.rules = [r.strip().lower() for r in args.rules.split(",") if r.strip()]
    for case in args.cases + ([args.one_case] if args.one_case else []):
        if case not in CASES:
            parser.error(f"unknown case {case!r}: use train-<rule>, search or infer")
    try:
        candidate_set(args.rules)
    except ValueError as err:
        parser.error(f"--rules: {err}")
    for name in ("channels", "cells", "batch", "threads", "steps", "search_steps",
                 "infer_steps", "rounds"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.self_test:
        torch.set_num_threads(args.threads)
        self_test()
        return 0
    if args.one_case:
        torch.set_num_threads(args.threads)
        torch.set_num_interop_threads(1)
        print(json.dumps(run_one_case(args, args.one_case)), flush=True)
        return 0
    total = args.rounds * len(args.cases)
    best: Dict[str, dict] = {}
    for round_ in range(args.rounds):
        for name in args.cases:
            print(f"[{round_ * len(args.cases) + args.cases.index(name) + 1}/{total}] {name}",
                  file=sys.stderr, flush=True)
            try:
                record = run_child(args, name)
            except RuntimeError as err:
                print(f"error: {err}", file=sys.stderr)
                return 1
            print(f"    {record['seconds_per_step']:.3f} s/step, "
                  f"{record['images_per_second']:.1f} images/s", file=sys.stderr)
            if name not in best or record["seconds_per_step"] < best[name]["seconds_per_step"]:
                best[name] = record
    lines = [json.dumps(best[name]) for name in args.cases]
    for line in lines:
        print(line)
    if args.json:
        os.makedirs(os.path.dirname(args.json) or ".", exist_ok=True)
        with open(args.json, "w", encoding="utf-8") as out:
            out.write("".join(line + "\n" for line in lines))
    print_table([best[name] for name in args.cases])
    return 0


if __name__ == "__main__":
    sys.exit(main())
