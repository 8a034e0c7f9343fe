"""MTN's building blocks (METHODS.md 2.10): AQPr, the attention core, MTx / Tx units, CCM fusion,
the importance regressor and the network that assembles every Table 1 aggregator.

Shapes: a batch of segments is ``x`` (B, N, C) tokens (N = frames x positions of the per-frame
conv maps) with ``mask`` (B, N) (1 = a real token; padding frames are 0), per task.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

AGGREGATORS = ("gap", "aqpr", "gap_concat", "gap_ccm", "mtx")
UNITS = ("mtx", "tx")
NORMS = ("instance", "batch", "bias", "none")
TASKS = ("scene", "action")


def masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """GAP over the real tokens: (B, N, C), (B, N) -> (B, C)."""
    w = mask.to(x.dtype).unsqueeze(-1)
    return (x * w).sum(1) / w.sum(1).clamp_min(1.0)


class AQPr(nn.Module):
    """Attentional query processor (Eqs. 1-2): ``M = sigmoid(norm(W_att x))``, ``Y = sum M x / sum M``.

    ``norm``: ``instance`` (the single channel normalised over the sample's real positions, affine
    gamma / beta, eps 1e-5), ``batch`` (over every real position of the batch, running statistics at
    eval), ``bias`` (a learnable scalar) or ``none`` (Table 5).
    """

    def __init__(self, channels: int, norm: str = "instance", eps: float = 1e-5, momentum: float = 0.1) -> None:
        super().__init__()
        if norm not in NORMS:
            raise ValueError(f"AQPr norm must be one of {NORMS}, got {norm!r}")
        self.norm, self.eps, self.momentum = norm, eps, momentum
        self.w_att = nn.Linear(channels, 1, bias=False)
        if norm in ("instance", "batch"):
            self.gamma = nn.Parameter(torch.ones(1))
            self.beta = nn.Parameter(torch.zeros(1))
        if norm == "bias":
            self.bias = nn.Parameter(torch.zeros(1))
        if norm == "batch":
            self.register_buffer("running_mean", torch.zeros(1))
            self.register_buffer("running_var", torch.ones(1))

    def logits(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        z = self.w_att(x).squeeze(-1)  # (B, N)
        m = mask.to(z.dtype)
        if self.norm == "instance":
            n = m.sum(1, keepdim=True).clamp_min(1.0)
            mu = (z * m).sum(1, keepdim=True) / n
            var = (((z - mu) ** 2) * m).sum(1, keepdim=True) / n
            return (z - mu) / torch.sqrt(var + self.eps) * self.gamma + self.beta
        if self.norm == "batch":
            if self.training:
                n = m.sum().clamp_min(1.0)
                mu = (z * m).sum() / n
                var = (((z - mu) ** 2) * m).sum() / n
                with torch.no_grad():
                    unbiased = var * n / (n - 1).clamp_min(1.0)
                    self.running_mean.mul_(1 - self.momentum).add_(self.momentum * mu.detach())
                    self.running_var.mul_(1 - self.momentum).add_(self.momentum * unbiased.detach())
            else:
                mu, var = self.running_mean, self.running_var
            return (z - mu) / torch.sqrt(var + self.eps) * self.gamma + self.beta
        if self.norm == "bias":
            return z + self.bias
        return z

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(Y_att (B, C), attention map M (B, N), 0 on padding)."""
        m = torch.sigmoid(self.logits(x, mask)) * mask.to(x.dtype)
        y = (m.unsqueeze(-1) * x).sum(1) / m.sum(1, keepdim=True).clamp_min(1e-12)
        return y, m


def attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Scaled dot-product attention of one query: ``a = softmax(q K^T / sqrt(D))``, returns (aV, a).

    q (B, D), k / v (B, N, D), mask (B, N)."""
    logits = torch.einsum("bd,bnd->bn", q, k) / math.sqrt(q.shape[-1])
    if mask is not None:
        logits = logits.masked_fill(mask <= 0, float("-inf"))
    a = torch.softmax(logits, dim=-1)
    return torch.einsum("bn,bnd->bd", a, v), a


class _Unit(nn.Module):
    """Shared part of the MTx and Tx units: the unit's own K / V projections of the task's tokens."""

    def __init__(self, channels: int, dim: int, ffn: int, dropout: float) -> None:
        super().__init__()
        self.k = nn.Linear(channels, dim)
        self.v = nn.Linear(channels, dim)
        self.w1 = nn.Linear(dim, ffn)
        self.w2 = nn.Linear(ffn, dim)
        self.drop = nn.Dropout(dropout)

    def context(self, q: torch.Tensor, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """``aV`` of :func:`attend` with ``K = x W_K^T + b_K`` and ``V = x W_V^T + b_V``, computed without
        projecting the N tokens: ``q K_n = (W_K^T q) x_n + q b_K`` and, as the weights sum to 1,
        ``a V = W_V (a x) + b_V`` (the same numbers; O(N C) instead of O(N C D))."""
        logits = (torch.einsum("bc,bnc->bn", q @ self.k.weight, x) + (q @ self.k.bias).unsqueeze(1)) / math.sqrt(q.shape[-1])
        logits = logits.masked_fill(mask <= 0, float("-inf"))
        a = torch.softmax(logits, dim=-1)
        return self.v(torch.einsum("bn,bnc->bc", a, x))

    def context_projected(self, q: torch.Tensor, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """The literal form (every token projected to K and V, then :func:`attend`), for tests."""
        return attend(q, self.k(x), self.v(x), mask)[0]


class MTxUnit(_Unit):
    """Pre-activation unit: ``u = q + Dropout(aV)``,
    ``f = W2 ReLU(LN_b(W1 ReLU(LN_a(u)) + b1)) + b2``, ``q' = ReLU(LN_c(u + f))``."""

    def __init__(self, channels: int, dim: int, ffn: int, dropout: float = 0.1) -> None:
        super().__init__(channels, dim, ffn, dropout)
        self.ln_a, self.ln_b, self.ln_c = nn.LayerNorm(dim), nn.LayerNorm(ffn), nn.LayerNorm(dim)

    def forward(self, q: torch.Tensor, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        u = q + self.drop(self.context(q, x, mask))
        f = self.w2(torch.relu(self.ln_b(self.w1(torch.relu(self.ln_a(u))))))
        return torch.relu(self.ln_c(u + f))


class TxUnit(_Unit):
    """Action-transformer unit (Girdhar et al.): ``u = LN1(q + Dropout(aV))``,
    ``q' = LN2(u + Dropout(W2 ReLU(W1 u + b1) + b2))``."""

    def __init__(self, channels: int, dim: int, ffn: int, dropout: float = 0.1) -> None:
        super().__init__(channels, dim, ffn, dropout)
        self.ln1, self.ln2 = nn.LayerNorm(dim), nn.LayerNorm(dim)

    def forward(self, q: torch.Tensor, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        u = self.ln1(q + self.drop(self.context(q, x, mask)))
        return self.ln2(u + self.drop(self.w2(torch.relu(self.w1(u)))))


class CCM(nn.Module):
    """Class conversion matrices (Eq. 3), both fusions from the pre-fusion queries:
    ``q_sc' = q_sc + ReLU(W_sc sg(q_ac) + b_sc)`` and ``q_ac' = q_ac + ReLU(W_ac sg(q_sc) + b_ac)``;
    ``backprop=True`` removes the stop-gradient (Table 6 "CCM, backpropagated")."""

    def __init__(self, dim_scene: int, dim_action: int, backprop: bool = False) -> None:
        super().__init__()
        self.to_scene = nn.Linear(dim_action, dim_scene)
        self.to_action = nn.Linear(dim_scene, dim_action)
        self.backprop = backprop

    def forward(self, q_sc: torch.Tensor, q_ac: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        src_ac, src_sc = (q_ac, q_sc) if self.backprop else (q_ac.detach(), q_sc.detach())
        return q_sc + torch.relu(self.to_scene(src_ac)), q_ac + torch.relu(self.to_action(src_sc))


class ImportanceRegressor(nn.Module):
    """Linear(in -> in/2), ReLU, Dropout, Linear(-> 1): the importance logit; its input is detached
    (stop-gradient), so the BCE on g/2 trains this MLP only."""

    def __init__(self, inputs: int, dropout: float = 0.1) -> None:
        super().__init__()
        hidden = max(1, inputs // 2)
        self.mlp = nn.Sequential(nn.Linear(inputs, hidden), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden, 1))

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        return self.mlp(feats.detach()).squeeze(-1)


class MTNHead(nn.Module):
    """Everything after the (cached or fine-tuned) backbone maps: one aggregator of Table 1, the
    scene / action classifiers and the importance regressor.

    ``forward(x_sc, m_sc, x_ac, m_ac)`` -> dict ``scene`` (B, S) and ``action`` (B, A) logits,
    ``importance`` (B,) logit, ``attention`` {task: (B, N)} AQPr maps (aqpr / mtx).
    """

    def __init__(self, channels: tuple[int, int], classes: tuple[int, int], *, aggregator: str = "mtx", unit: str = "mtx",
                 units: int = 2, dim: int = 128, ffn: int = 0, dropout: float = 0.1, aqpr_norm: str = "instance",
                 ccm_backprop: bool = False) -> None:  # fmt: skip
        super().__init__()
        if aggregator not in AGGREGATORS:
            raise ValueError(f"aggregator must be one of {AGGREGATORS}, got {aggregator!r}")
        if unit not in UNITS:
            raise ValueError(f"unit must be one of {UNITS}, got {unit!r}")
        c_sc, c_ac = channels
        self.aggregator, self.units = aggregator, units
        if aggregator in ("aqpr", "mtx"):
            self.aqpr = nn.ModuleDict({t: AQPr(c, aqpr_norm) for t, c in zip(TASKS, channels, strict=True)})
        if aggregator == "mtx":
            make = MTxUnit if unit == "mtx" else TxUnit
            width = ffn or dim
            self.query = nn.ModuleDict({t: nn.Linear(c, dim) for t, c in zip(TASKS, channels, strict=True)})
            self.stack = nn.ModuleDict({t: nn.ModuleList([make(c, dim, width, dropout) for _ in range(units)])
                                        for t, c in zip(TASKS, channels, strict=True)})  # fmt: skip
            self.ccm = nn.ModuleList([CCM(dim, dim, ccm_backprop) for _ in range(units)])
            feat, imp_in = (dim, dim), 2 * units * dim
        elif aggregator == "gap_concat":
            feat, imp_in = (c_sc + c_ac, c_ac + c_sc), c_sc + c_ac
        else:
            if aggregator == "gap_ccm":
                self.ccm = nn.ModuleList([CCM(c_sc, c_ac, ccm_backprop)])
            feat, imp_in = (c_sc, c_ac), c_sc + c_ac
        self.cls = nn.ModuleDict({t: nn.Linear(f, k) for t, f, k in zip(TASKS, feat, classes, strict=True)})
        self.importance = ImportanceRegressor(imp_in, dropout)

    def forward(self, x_sc: torch.Tensor, m_sc: torch.Tensor, x_ac: torch.Tensor, m_ac: torch.Tensor) -> dict[str, Any]:
        att: dict[str, torch.Tensor] = {}
        if self.aggregator == "mtx":
            xs, ms = {"scene": x_sc, "action": x_ac}, {"scene": m_sc, "action": m_ac}
            q = {}
            for t in TASKS:
                y, att[t] = self.aqpr[t](xs[t], ms[t])
                q[t] = self.query[t](y)
            outputs = []
            for u in range(self.units):
                q = {t: self.stack[t][u](q[t], xs[t], ms[t]) for t in TASKS}
                outputs += [q["scene"], q["action"]]
                q["scene"], q["action"] = self.ccm[u](q["scene"], q["action"])
            f_sc, f_ac, imp_in = q["scene"], q["action"], torch.cat(outputs, dim=1)
        else:
            if self.aggregator == "aqpr":
                (f_sc, att["scene"]), (f_ac, att["action"]) = self.aqpr["scene"](x_sc, m_sc), self.aqpr["action"](x_ac, m_ac)
            else:
                f_sc, f_ac = masked_mean(x_sc, m_sc), masked_mean(x_ac, m_ac)
            imp_in = torch.cat([f_sc, f_ac], dim=1)
            if self.aggregator == "gap_concat":
                f_sc, f_ac = torch.cat([f_sc, f_ac], dim=1), torch.cat([f_ac, f_sc], dim=1)
            elif self.aggregator == "gap_ccm":
                f_sc, f_ac = self.ccm[0](f_sc, f_ac)
        return {"scene": self.cls["scene"](f_sc), "action": self.cls["action"](f_ac),
                "importance": self.importance(imp_in), "attention": att}  # fmt: skip


def post_processed(scene_prob: torch.Tensor, action_prob: torch.Tensor, importance_prob: torch.Tensor) -> torch.Tensor:
    """Eq. 4: ``u = max softmax(P_sc) * max softmax(P_ac) * sigmoid(P_imp)`` from the three probabilities."""
    return scene_prob.max(dim=-1).values * action_prob.max(dim=-1).values * importance_prob
