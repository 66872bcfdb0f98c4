"""DistiLLM-2 (arXiv 2503.07067): contrastive distillation losses (method), a TRL trainer and Algorithm 1 (trainer),
data pipeline (data), LLM-judge harness (evaluate). Nothing heavy is imported here."""

__version__ = "0.1.0"
