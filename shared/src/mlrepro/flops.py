"""Training/inference FLOPs accounting (Kaplan et al. 2020 approximation).

Training costs ``6 N`` FLOPs per trained token (forward 2N + backward 4N) and generation ``2 N`` per generated
(or prefilled) token, with ``N`` the number of non-embedding parameters (or all parameters, as a caller chooses).
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["train_flops", "inference_flops", "count_params", "FlopsCounter"]


def train_flops(n_params: float, tokens: float) -> float:
    return 6.0 * float(n_params) * float(tokens)


def inference_flops(n_params: float, tokens: float) -> float:
    return 2.0 * float(n_params) * float(tokens)


def count_params(model, non_embedding: bool = False) -> int:
    """Parameter count of a torch model; ``non_embedding`` drops input embeddings (and an untied lm_head)."""
    n = sum(p.numel() for p in model.parameters())
    if non_embedding:
        emb = getattr(model, "get_input_embeddings", lambda: None)()
        if emb is not None:
            n -= emb.weight.numel()
        head = getattr(model, "get_output_embeddings", lambda: None)()
        if head is not None and emb is not None and head.weight is not emb.weight:
            n -= head.weight.numel()
    return int(n)


@dataclass
class FlopsCounter:
    """Accumulates training and inference FLOPs for a model of ``n_params`` parameters."""

    n_params: float
    train: float = 0.0
    inference: float = 0.0
    log: list[dict] = field(default_factory=list)

    def add_train(self, tokens: float, tag: str = "") -> float:
        f = train_flops(self.n_params, tokens)
        self.train += f
        self.log.append({"kind": "train", "tokens": tokens, "flops": f, "tag": tag})
        return f

    def add_inference(self, tokens: float, tag: str = "") -> float:
        f = inference_flops(self.n_params, tokens)
        self.inference += f
        self.log.append({"kind": "inference", "tokens": tokens, "flops": f, "tag": tag})
        return f

    @property
    def total(self) -> float:
        return self.train + self.inference

    def as_dict(self) -> dict:
        return {"n_params": self.n_params, "train_flops": self.train, "inference_flops": self.inference, "total_flops": self.total}
