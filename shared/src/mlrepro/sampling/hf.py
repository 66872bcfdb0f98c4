"""``hf`` backend: transformers ``generate``, batched with left padding (conventions §6).

Design
------
* Every prompt is encoded once: plain strings with the tokenizer's own special tokens, chat prompts through
  ``tokenizer.apply_chat_template(..., add_generation_prompt=True, tokenize=False)`` and then tokenized with
  ``add_special_tokens=False`` (the template already holds BOS etc., so it is applied exactly once).
* The ``n`` samples of every prompt are separate rows; rows are sorted by prompt length (longest first, so an
  out-of-memory shows up on the first batch) and generated ``batch_size`` rows at a time, left padded.
* Token choice is made by our own logits processor, with one ``torch.Generator`` per row seeded from
  ``(params.seed, prompt index, sample index)``; ``generate`` runs greedy over the processor's one-hot output.
  So a sample depends only on its seed and its prompt, not on the batch it landed in or on ``batch_size``
  (up to float noise from padding), and ``params.seed`` makes results reproducible. With ``seed=None`` the base
  seed is drawn from torch's global RNG (so ``seed_everything`` still makes runs reproducible).
* ``temperature == 0`` is greedy (``n`` copies of one greedy completion). Otherwise temperature, top-k
  (``top_k > 0``) and top-p are applied in that order, as in vLLM.
* The model's own ``generation_config`` sampling defaults (e.g. a repetition penalty shipped with an instruct
  model) are neutralised: only ``SamplingParams`` decide, so the hf, vllm and openai backends agree.
* ``logprobs``: log-probability of each returned token under the model's unmodified next-token distribution
  (``log_softmax`` of the raw logits, before temperature/top-k/top-p), like vLLM's default ``raw_logprobs``;
  they match a plain forward pass over prompt + completion.
* Stop strings are checked on the decoded generated text only (never the prompt) after every step; a row that
  produced one stops, its text is cut before the stop string and ``finish_reason`` is ``"stop"``.
  ``token_ids``/``logprobs`` keep every generated token up to and including the one that completed the stop
  string or the EOS token; ``text`` is decoded with ``skip_special_tokens=True``. ``finish_reason`` is
  ``"length"`` when ``max_new_tokens`` ran out first.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .base import Completion, Prompt, SamplingParams, apply_stop, encode_prompt, row_seed

__all__ = ["HFSampler"]

_DTYPES = {"float32": "float32", "fp32": "float32", "float": "float32", "bfloat16": "bfloat16", "bf16": "bfloat16",
           "float16": "float16", "fp16": "float16", "half": "float16"}


def _resolve_dtype(dtype: Any, device: str):
    import torch

    if dtype is None:
        if device.startswith("cuda") and torch.cuda.is_bf16_supported():
            return torch.bfloat16
        return torch.float32
    if isinstance(dtype, torch.dtype) or dtype == "auto":
        return dtype
    if isinstance(dtype, str) and dtype.lower() in _DTYPES:
        return getattr(torch, _DTYPES[dtype.lower()])
    raise ValueError(f"unknown dtype {dtype!r}; use one of {sorted(_DTYPES)}, 'auto' or a torch.dtype")


def _make_chooser(params: SamplingParams, seeds: list[int], prompt_len: int, want_logprobs: bool):
    """A logits processor that picks each row's next token (greedy or seeded sampling) and records its logprob."""
    import torch
    from transformers import LogitsProcessor

    class _Chooser(LogitsProcessor):
        def __init__(self) -> None:
            self.generators: list[torch.Generator] | None = None
            self.logprobs: list[torch.Tensor] = []  # one [B] tensor per step

        def _sample(self, scores: torch.Tensor) -> torch.Tensor:
            s = scores / params.temperature
            if params.top_k is not None and params.top_k > 0 and params.top_k < s.shape[-1]:
                kth = torch.topk(s, params.top_k, dim=-1).values[:, -1:]
                s = s.masked_fill(s < kth, float("-inf"))
            if params.top_p < 1.0:
                sorted_s, idx = torch.sort(s, dim=-1, descending=True)
                probs = sorted_s.softmax(-1)
                # drop a token when the tokens ranked above it already reach top_p (the top one always stays)
                drop = (probs.cumsum(-1) - probs) >= params.top_p
                drop[:, 0] = False
                s = s.scatter(1, idx, sorted_s.masked_fill(drop, float("-inf")))
            probs = s.softmax(-1)
            if self.generators is None:
                self.generators = []
                for sd in seeds:
                    g = torch.Generator(device=scores.device)
                    g.manual_seed(sd)
                    self.generators.append(g)
            return torch.cat([torch.multinomial(probs[r], 1, generator=g) for r, g in enumerate(self.generators)])

        def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
            chosen = scores.argmax(-1) if params.greedy else self._sample(scores)
            if want_logprobs:
                step = input_ids.shape[1] - prompt_len
                lp = scores.float().log_softmax(-1).gather(1, chosen[:, None]).squeeze(1)
                if step == len(self.logprobs):
                    self.logprobs.append(lp)
            out = torch.full_like(scores, float("-inf"))
            out.scatter_(1, chosen[:, None], 0.0)
            return out

    return _Chooser()


def _make_tracker(tokenizer, stop: list[str] | None, eos_ids: set[int], prompt_len: int, batch: int):
    """A stopping criterion that records, per row, where generation ended and why (EOS or stop string)."""
    import torch
    from transformers import StoppingCriteria

    stops = [s for s in (stop or []) if s]
    # a character is at most 4 byte-level tokens; a few extra tokens so a leading-space token is decoded in context
    window = 4 * max((len(s) for s in stops), default=0) + 4

    class _Tracker(StoppingCriteria):
        def __init__(self) -> None:
            self.length: list[int | None] = [None] * batch  # generated tokens kept, incl. EOS / stop-completing
            self.reason: list[str | None] = [None] * batch

        def __call__(self, input_ids: torch.Tensor, scores=None, **kwargs) -> torch.Tensor:
            t = input_ids.shape[1] - prompt_len  # tokens generated so far
            last = input_ids[:, -1].tolist()
            tails = None
            if stops:
                tails = input_ids[:, max(prompt_len, input_ids.shape[1] - window):].tolist()
            for r in range(batch):
                if self.length[r] is not None:
                    continue
                if last[r] in eos_ids:
                    self.length[r], self.reason[r] = t, "eos"
                elif tails is not None and any(s in tokenizer.decode(tails[r], skip_special_tokens=True)
                                               for s in stops):
                    self.length[r], self.reason[r] = t, "stop_string"
            return torch.tensor([x is not None for x in self.length], dtype=torch.bool, device=input_ids.device)

    return _Tracker()


class HFSampler:
    """Sample with a transformers causal LM.

    Args:
        model: hub id or local path (loaded with ``AutoModelForCausalLM``), or an already-loaded model object.
        tokenizer: id/path or tokenizer object; default: loaded from ``model`` (or ``model.name_or_path``).
        device: ``"cuda"``, ``"cpu"``, ...; default CUDA when available. A loaded model is moved only when given.
        dtype: ``"bfloat16"``/``"float32"``/``"float16"``/``"auto"``/torch dtype; default bf16 on CUDA, else fp32.
        batch_size: rows (prompt x sample) per ``generate`` call.
        trust_remote_code: passed to ``from_pretrained`` (off by default, keep it off).
        chat_template_kwargs: extra arguments of ``apply_chat_template`` (e.g. ``enable_thinking``).
        eos_token_ids: extra end-of-sequence token ids (the model's and tokenizer's EOS are always used).
        progress: show a tqdm bar over batches.
    """

    name = "hf"

    def __init__(self, model: Any, tokenizer: Any = None, device: str | None = None, dtype: Any = None,
                 batch_size: int = 16, trust_remote_code: bool = False,
                 chat_template_kwargs: dict[str, Any] | None = None, eos_token_ids: list[int] | None = None,
                 progress: bool = False, **_: Any):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.batch_size = int(batch_size)
        self.chat_template_kwargs = dict(chat_template_kwargs or {})
        self.progress = progress
        if isinstance(model, str | Path):
            self.model_name = str(model)
            dev = device or ("cuda" if torch.cuda.is_available() else "cpu")
            self.model = AutoModelForCausalLM.from_pretrained(
                self.model_name, dtype=_resolve_dtype(dtype, dev), trust_remote_code=trust_remote_code)
            self.model.to(dev)
        else:
            self.model = model
            self.model_name = getattr(model, "name_or_path", None) or type(model).__name__
            if device is not None:
                self.model.to(device)
            if dtype is not None and dtype != "auto":
                self.model.to(_resolve_dtype(dtype, str(device or "cpu")))
        self.model.eval()
        self.device = next(self.model.parameters()).device
        if tokenizer is None:
            src = model if isinstance(model, str | Path) else getattr(model, "name_or_path", None)
            if not src:
                raise ValueError("pass tokenizer= together with an already-loaded model")
            tokenizer = str(src)
        if isinstance(tokenizer, str | Path):
            tokenizer = AutoTokenizer.from_pretrained(str(tokenizer), trust_remote_code=trust_remote_code)
        self.tokenizer = tokenizer

        eos: set[int] = set(eos_token_ids or [])
        gen_eos = getattr(getattr(self.model, "generation_config", None), "eos_token_id", None)
        for e in (gen_eos, tokenizer.eos_token_id):
            if isinstance(e, int):
                eos.add(e)
            elif e is not None:
                eos.update(int(x) for x in e)
        if not eos:
            raise ValueError("no EOS token id known: pass eos_token_ids=")
        self.eos_token_ids = sorted(eos)
        pad = tokenizer.pad_token_id
        self.pad_token_id = int(pad) if pad is not None else self.eos_token_ids[0]

    def __repr__(self) -> str:
        return f"HFSampler(model={self.model_name!r}, device={str(self.device)!r}, batch_size={self.batch_size})"

    def describe(self) -> dict[str, Any]:
        """What to record in env.json."""
        return {"backend": self.name, "model": self.model_name, "device": str(self.device),
                "dtype": str(self.model.dtype).replace("torch.", ""), "batch_size": self.batch_size,
                "chat_template_kwargs": self.chat_template_kwargs}

    # -- encoding -------------------------------------------------------------------------------------------------

    def encode_prompt(self, prompt: Prompt) -> list[int]:
        """Token ids of one prompt (chat messages through the chat template, applied once)."""
        return encode_prompt(self.tokenizer, prompt, self.chat_template_kwargs)

    # -- generation -----------------------------------------------------------------------------------------------

    def generate(self, prompts: list[Prompt], params: SamplingParams) -> list[list[Completion]]:
        import torch

        if isinstance(prompts, str | dict):
            raise TypeError("generate() takes a list of prompts")
        encoded = [self.encode_prompt(p) for p in prompts]
        if any(len(e) == 0 for e in encoded):
            raise ValueError("empty prompt (no tokens): HF generate needs at least one prompt token")
        n_rows = 1 if params.greedy else params.n
        base = params.seed
        if base is None:
            base = int(torch.randint(0, 2**62, (1,)).item())
        rows = [(i, j) for i in range(len(prompts)) for j in range(n_rows)]
        order = sorted(range(len(rows)), key=lambda k: -len(encoded[rows[k][0]]))
        results: dict[tuple[int, int], Completion] = {}
        batches = [order[s:s + self.batch_size] for s in range(0, len(order), self.batch_size)]
        it = batches
        if self.progress and len(batches) > 1:
            from tqdm.auto import tqdm

            it = tqdm(batches, desc="hf generate", unit="batch")
        for b in it:
            keys = [rows[k] for k in b]
            outs = self._generate_batch([encoded[i] for i, _ in keys],
                                        [row_seed(base, i, j) for i, j in keys], params)
            results.update(zip(keys, outs))
        out: list[list[Completion]] = []
        for i in range(len(prompts)):
            if params.greedy:
                c = results[(i, 0)]
                out.append([c] + [Completion(c.text, list(c.token_ids), None if c.logprobs is None else
                                             list(c.logprobs), c.finish_reason) for _ in range(params.n - 1)])
            else:
                out.append([results[(i, j)] for j in range(params.n)])
        return out

    def _generate_batch(self, ids: list[list[int]], seeds: list[int], params: SamplingParams) -> list[Completion]:
        import torch
        from transformers import LogitsProcessorList, StoppingCriteriaList

        B, L = len(ids), max(len(x) for x in ids)
        input_ids = torch.full((B, L), self.pad_token_id, dtype=torch.long)
        attn = torch.zeros((B, L), dtype=torch.long)
        for r, x in enumerate(ids):
            input_ids[r, L - len(x):] = torch.tensor(x, dtype=torch.long)
            attn[r, L - len(x):] = 1
        chooser = _make_chooser(params, seeds, L, params.logprobs)
        tracker = _make_tracker(self.tokenizer, params.stop, set(self.eos_token_ids), L, B)
        with torch.inference_mode():
            seqs = self.model.generate(
                input_ids=input_ids.to(self.device), attention_mask=attn.to(self.device),
                max_new_tokens=params.max_new_tokens, do_sample=False, num_beams=1,
                # neutralise the model's shipped sampling defaults: only SamplingParams decide
                repetition_penalty=1.0, no_repeat_ngram_size=0,
                pad_token_id=self.pad_token_id, eos_token_id=self.eos_token_ids,
                logits_processor=LogitsProcessorList([chooser]), stopping_criteria=StoppingCriteriaList([tracker]),
            )
        gen = seqs[:, L:].tolist()
        lps = torch.stack(chooser.logprobs, 1).tolist() if params.logprobs and chooser.logprobs else None
        out = []
        for r in range(B):
            n_tok = tracker.length[r] if tracker.length[r] is not None else min(len(gen[r]), params.max_new_tokens)
            toks = gen[r][:n_tok]
            text = self.tokenizer.decode(toks, skip_special_tokens=True)
            text, stopped = apply_stop(text, params.stop)
            finish = "stop" if (stopped or tracker.reason[r] is not None) else "length"
            out.append(Completion(text=text, token_ids=toks, logprobs=lps[r][:n_tok] if lps is not None else None,
                                  finish_reason=finish))
        return out
