"""Judge inference: one ``judge(prompts, params, prefixes)`` interface over

* :class:`TextJudge`: any ``mlrepro.sampling`` sampler (``hf``, ``vllm``, ``openai``, ``scripted``) on the
  rendered prompt strings (text-only items: JudgeLM, PandaLM, the mini's text items);
* :class:`VLJudge`: vision-language / omni models with their media, through ``transformers`` (``AutoProcessor``
  + ``generate``, CPU or GPU) or vLLM (offline ``LLM`` with ``multi_modal_data``; GPU, optional extra, imported
  lazily). vLLM runs keep the stop string in the output (``include_stop_str_in_output=True``), as the official
  scripts do; the transformers path cuts it and :func:`mlrepro_flexjudge.method.close_open_answer` restores
  ``</answer>`` where needed.

A prompt is a :class:`mlrepro_flexjudge.prompts.JudgePrompt`; it is rendered by hand as ChatML
(:func:`render_chatml`, what the official Omni scripts do and what Qwen's template gives for one system and one
user turn), plus an optional assistant ``prefix`` (budget forcing continues from it).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mlrepro.sampling import Completion, SamplingParams, apply_stop, row_seed

from .prompts import JudgePrompt, render_chatml

__all__ = ["TextJudge", "VLJudge", "render", "make_judge"]


def render(jp: JudgePrompt, prefix: str = "") -> str:
    return render_chatml(jp.system, jp.user, assistant_prefix=prefix)


class TextJudge:
    """Wraps an ``mlrepro.sampling`` sampler. Media items are ignored (text-only models)."""

    name = "text"

    def __init__(self, sampler):
        self.sampler = sampler

    def describe(self) -> dict:
        from mlrepro.sampling import describe_sampler

        return {"judge": "text", "sampler": describe_sampler(self.sampler)}

    def judge(self, prompts: Sequence[JudgePrompt], params: SamplingParams,
              prefixes: Sequence[str] | None = None) -> list[list[Completion]]:
        texts = [render(jp, prefixes[i] if prefixes else "") for i, jp in enumerate(prompts)]
        return self.sampler.generate(texts, params)


class VLJudge:
    """A vision-language (or omni) judge.

    Args:
        model: hub id / folder, or a loaded model (transformers backend).
        processor: its processor (default: loaded from ``model``).
        backend: ``"transformers"`` or ``"vllm"``.
        batch_size: prompts per ``generate`` call (transformers).
        vllm_kwargs: extra ``vllm.LLM`` arguments (``tensor_parallel_size``, ``limit_mm_per_prompt``, ...);
            defaults follow the official scripts (``enforce_eager=True``, bf16).
    """

    name = "vl"

    def __init__(self, model: Any, processor: Any = None, backend: str = "transformers", device: str | None = None,
                 dtype: Any = None, batch_size: int = 8, vllm_kwargs: dict | None = None, progress: bool = False):
        if backend not in ("transformers", "vllm"):
            raise ValueError(f"VLJudge backend must be transformers or vllm, got {backend!r}")
        self.backend = backend
        self.batch_size = int(batch_size)
        self.progress = progress
        self.model_name = model if isinstance(model, str) else getattr(model, "name_or_path", type(model).__name__)
        if backend == "vllm":
            from vllm import LLM  # optional extra; GPU only

            kw = {"enforce_eager": True, "dtype": "bfloat16", "trust_remote_code": False, **(vllm_kwargs or {})}
            self.llm = LLM(model=str(model), **kw)
            self.model = self.processor = None
            return
        if isinstance(model, str):
            from .tiny import load_vl

            self.model, self.processor = load_vl(model, dtype=dtype, device=device)
        else:
            self.model = model
            if device is not None:
                self.model.to(device)
            self.processor = processor
        if self.processor is None:
            raise ValueError("pass processor= with a loaded model")
        self.processor.tokenizer.padding_side = "left"
        self.model.eval()

    def describe(self) -> dict:
        return {"judge": "vl", "backend": self.backend, "model": str(self.model_name)}

    # -- transformers -------------------------------------------------------------------------------------------
    def _hf_batch(self, texts: list[str], prompts: list[JudgePrompt], params: SamplingParams, seed: int):
        import torch

        kw: dict[str, Any] = {"text": texts, "padding": True, "return_tensors": "pt"}
        images = [im for jp in prompts for im in jp.images()]
        videos = [v for jp in prompts for v in jp.videos()]
        audios = [a for jp in prompts for a in jp.audios()]
        if images:
            kw["images"] = images
        if videos:
            kw["videos"] = videos
        if audios:
            kw["audio"] = audios
        inputs = self.processor(**kw).to(self.model.device)
        tok = self.processor.tokenizer
        gen: dict[str, Any] = {"max_new_tokens": params.max_new_tokens, "pad_token_id": tok.pad_token_id,
                               "num_return_sequences": 1 if params.greedy else params.n}
        if params.greedy:
            gen["do_sample"] = False
        else:
            gen.update(do_sample=True, temperature=params.temperature, top_p=params.top_p,
                       top_k=params.top_k if params.top_k and params.top_k > 0 else None)
        if params.stop:
            gen.update(stop_strings=list(params.stop), tokenizer=tok)
        torch.manual_seed(seed)
        with torch.inference_mode():
            out = self.model.generate(**inputs, **gen)
        L = inputs["input_ids"].shape[1]
        k = gen["num_return_sequences"]
        eos = {tok.eos_token_id, tok.pad_token_id}
        res = []
        for i in range(len(texts)):
            row = []
            for j in range(k):
                ids = out[i * k + j, L:].tolist()
                n = next((t + 1 for t, x in enumerate(ids) if x in eos), len(ids))
                ids = ids[:n]
                text = tok.decode(ids, skip_special_tokens=True)
                text, stopped = apply_stop(text, params.stop)
                finish = "stop" if (stopped or n < params.max_new_tokens or (ids and ids[-1] in eos)) else "length"
                row.append(Completion(text=text, token_ids=ids, finish_reason=finish))
            if params.greedy and params.n > 1:
                row = row * params.n
            res.append(row)
        return res

    # -- vLLM ---------------------------------------------------------------------------------------------------
    def _vllm(self, texts: list[str], prompts: list[JudgePrompt], params: SamplingParams):
        import vllm

        reqs = []
        for t, jp in zip(texts, prompts):
            mm: dict[str, Any] = {}
            if jp.images():
                mm["image"] = jp.images() if len(jp.images()) > 1 else jp.images()[0]
            if jp.videos():
                mm["video"] = jp.videos() if len(jp.videos()) > 1 else jp.videos()[0]
            if jp.audios():
                mm["audio"] = jp.audios() if len(jp.audios()) > 1 else jp.audios()[0]
            reqs.append({"prompt": t, "multi_modal_data": mm} if mm else {"prompt": t})
        sps = []
        for i in range(len(texts)):
            d = {"n": params.n, "temperature": params.temperature, "top_p": params.top_p,
                 "max_tokens": params.max_new_tokens, "include_stop_str_in_output": True}
            if params.stop:
                d["stop"] = list(params.stop)
            if params.seed is not None and not params.greedy:
                d["seed"] = row_seed(params.seed, i, 0) % (2**31)
            sps.append(vllm.SamplingParams(**d))
        outs = self.llm.generate(reqs, sps, use_tqdm=self.progress)
        return [[Completion(text=o.text, token_ids=list(o.token_ids), finish_reason=str(o.finish_reason or "stop"))
                 for o in r.outputs] for r in outs]

    def judge(self, prompts: Sequence[JudgePrompt], params: SamplingParams,
              prefixes: Sequence[str] | None = None) -> list[list[Completion]]:
        prompts = list(prompts)
        texts = [render(jp, prefixes[i] if prefixes else "") for i, jp in enumerate(prompts)]
        if self.backend == "vllm":
            return self._vllm(texts, prompts, params)
        out: list[list[Completion]] = []
        starts = list(range(0, len(texts), self.batch_size))
        it = starts
        if self.progress and len(starts) > 1:
            from tqdm.auto import tqdm

            it = tqdm(starts, desc="vl judge", unit="batch")
        base = params.seed if params.seed is not None else 0
        for s in it:
            out.extend(self._hf_batch(texts[s:s + self.batch_size], prompts[s:s + self.batch_size], params,
                                      row_seed(base, s, 0) % (2**31)))
        return out


def make_judge(kind: str, **kw) -> TextJudge | VLJudge:
    """``kind="text"`` (``sampler=`` or ``backend=`` + sampler kwargs) or ``"vl"`` (VLJudge kwargs)."""
    if kind == "text":
        sampler = kw.pop("sampler", None)
        if sampler is None:
            from mlrepro.sampling import get_sampler

            sampler = get_sampler(kw.pop("backend", "auto"), **kw)
        return TextJudge(sampler)
    if kind == "vl":
        return VLJudge(**kw)
    raise ValueError(f"unknown judge kind {kind!r} (text or vl)")
