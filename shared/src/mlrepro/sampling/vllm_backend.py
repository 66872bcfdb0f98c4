"""``vllm`` backend: vLLM's offline ``LLM`` engine (optional extra ``mlrepro[vllm]``; imported only when built).

* Prompts are encoded here with the model's HF tokenizer, exactly as the hf backend does (strings with the
  tokenizer's special tokens; chat messages through ``apply_chat_template(add_generation_prompt=True)`` once,
  then tokenized without special tokens) and passed to ``LLM.generate`` as token-id prompts, so the chat
  template is never applied twice and hf/vllm see identical prompts.
* ``SamplingParams`` map to ``vllm.SamplingParams``: ``n``, ``temperature`` (0 = greedy: one request, ``n``
  copies, as in the hf backend), ``top_p``, ``top_k`` (only when > 0), ``max_tokens``, ``stop``, ``seed`` (per
  prompt, derived from ``(params.seed, prompt index)`` so results do not depend on batching or data-parallel
  sharding), ``logprobs=0`` (the sampled token's logprob) when ``params.logprobs``. vLLM's default logprobs are
  those of the raw model distribution (recent vLLM: ``logprobs_mode="raw_logprobs"``), like the hf backend.
* ``tensor_parallel_size`` shards one engine over GPUs. ``data_parallel_size > 1`` runs that many independent
  engine replicas in spawned worker processes, each seeing its own ``tensor_parallel_size`` GPUs through
  ``CUDA_VISIBLE_DEVICES``; prompts are split into contiguous shards and the results merged in order. (Scripts
  using it need the usual ``if __name__ == "__main__":`` guard of ``multiprocessing`` spawn.)
* ``finish_reason``: vLLM's ``stop``/``length`` pass through (``abort`` too).
"""

from __future__ import annotations

import os
import traceback
from pathlib import Path
from typing import Any

from .base import Completion, Prompt, SamplingParams, encode_prompt, row_seed

__all__ = ["VLLMSampler", "to_vllm_params", "shard"]


def to_vllm_params(params: SamplingParams, seed: int | None) -> dict[str, Any]:
    """Keyword arguments of ``vllm.SamplingParams`` for one prompt (plain dict: picklable for replicas)."""
    d: dict[str, Any] = {"n": 1 if params.greedy else params.n, "temperature": float(params.temperature),
                         "top_p": float(params.top_p), "max_tokens": int(params.max_new_tokens)}
    if params.top_k is not None and params.top_k > 0:
        d["top_k"] = int(params.top_k)
    if params.stop:
        d["stop"] = [s for s in params.stop if s]
    if seed is not None and not params.greedy:
        d["seed"] = int(seed)
    if params.logprobs:
        d["logprobs"] = 0
    return d


def shard(n_items: int, n_shards: int) -> list[tuple[int, int]]:
    """Contiguous, balanced ``[start, stop)`` ranges covering ``range(n_items)``."""
    base, extra = divmod(n_items, n_shards)
    out, start = [], 0
    for r in range(n_shards):
        stop = start + base + (1 if r < extra else 0)
        out.append((start, stop))
        start = stop
    return out


def _logprob_value(x: Any) -> float:
    return float(getattr(x, "logprob", x))


def _convert(out: Any, want_logprobs: bool) -> Completion:
    ids = [int(t) for t in out.token_ids]
    lps = None
    if want_logprobs and out.logprobs is not None:
        lps = []
        for tok, pos in zip(ids, out.logprobs):
            lps.append(_logprob_value(pos[tok]) if tok in pos else float("nan"))
    finish = out.finish_reason if out.finish_reason is not None else "stop"
    return Completion(text=out.text, token_ids=ids, logprobs=lps, finish_reason=str(finish))


def _engine_generate(llm: Any, vllm: Any, token_prompts: list[list[int]], sp_dicts: list[dict[str, Any]],
                     want_logprobs: bool, use_tqdm: bool) -> list[list[Completion]]:
    """Run one engine on token-id prompts; one list of completions per prompt (vLLM's order by ``index``)."""
    if not token_prompts:
        return []
    sps = [vllm.SamplingParams(**d) for d in sp_dicts]
    outs = llm.generate([{"prompt_token_ids": ids} for ids in token_prompts], sps, use_tqdm=use_tqdm)
    return [[_convert(o, want_logprobs) for o in sorted(r.outputs, key=lambda o: getattr(o, "index", 0))]
            for r in outs]


def _replica_main(rank: int, devices: str, llm_kwargs: dict[str, Any], inq: Any, outq: Any) -> None:
    """Worker process of one data-parallel replica: build an engine, then serve jobs until ``None``."""
    os.environ["CUDA_VISIBLE_DEVICES"] = devices
    for k in ("VLLM_DP_RANK", "VLLM_DP_RANK_LOCAL", "VLLM_DP_SIZE", "VLLM_DP_MASTER_IP", "VLLM_DP_MASTER_PORT"):
        os.environ.pop(k, None)
    try:
        import vllm

        llm = vllm.LLM(**llm_kwargs)
    except BaseException:
        outq.put(("error", rank, traceback.format_exc()))
        return
    outq.put(("ready", rank, None))
    while True:
        job = inq.get()
        if job is None:
            break
        job_id, prompts, sps, want_lp, use_tqdm = job
        try:
            outq.put(("ok", rank, (job_id, _engine_generate(llm, vllm, prompts, sps, want_lp, use_tqdm))))
        except BaseException:
            outq.put(("error", rank, traceback.format_exc()))


class VLLMSampler:
    """Sample with vLLM's offline engine.

    Args:
        model: hub id or local path.
        tokenizer: tokenizer id/path (default: ``model``).
        tensor_parallel_size: GPUs per engine.
        data_parallel_size: independent engine replicas (each on its own ``tensor_parallel_size`` GPUs).
        gpu_memory_utilization, max_model_len, dtype, enforce_eager, trust_remote_code: passed to ``vllm.LLM``.
        seed: engine seed (used for requests without ``params.seed``).
        chat_template_kwargs: extra ``apply_chat_template`` arguments (e.g. ``enable_thinking``).
        engine_kwargs: any further ``vllm.LLM``/``EngineArgs`` keyword arguments.
        use_tqdm: vLLM's progress bar.
    """

    name = "vllm"

    def __init__(self, model: str | Path, tokenizer: str | Path | None = None, tensor_parallel_size: int = 1,
                 data_parallel_size: int = 1, gpu_memory_utilization: float = 0.9, max_model_len: int | None = None,
                 dtype: str = "auto", seed: int = 0, trust_remote_code: bool = False,
                 chat_template_kwargs: dict[str, Any] | None = None, enforce_eager: bool = False,
                 engine_kwargs: dict[str, Any] | None = None, use_tqdm: bool = False, **_: Any):
        import vllm  # noqa: F401  (fail early and clearly when the extra is missing)
        from transformers import AutoTokenizer

        if tensor_parallel_size < 1 or data_parallel_size < 1:
            raise ValueError("tensor_parallel_size and data_parallel_size must be >= 1")
        self.model_name = str(model)
        self.tensor_parallel_size = int(tensor_parallel_size)
        self.data_parallel_size = int(data_parallel_size)
        self.chat_template_kwargs = dict(chat_template_kwargs or {})
        self.use_tqdm = use_tqdm
        self.tokenizer = AutoTokenizer.from_pretrained(str(tokenizer or model), trust_remote_code=trust_remote_code)
        self.llm_kwargs: dict[str, Any] = {
            "model": self.model_name, "tokenizer": str(tokenizer or model),
            "tensor_parallel_size": self.tensor_parallel_size, "gpu_memory_utilization": gpu_memory_utilization,
            "dtype": dtype, "seed": seed, "trust_remote_code": trust_remote_code, "enforce_eager": enforce_eager,
            **({"max_model_len": int(max_model_len)} if max_model_len else {}), **(engine_kwargs or {}),
        }
        self.llm = None
        self._workers: list[Any] = []
        self._inqs: list[Any] = []
        self._outq = None
        self._job = 0
        if self.data_parallel_size == 1:
            import vllm

            self.llm = vllm.LLM(**self.llm_kwargs)
        else:
            self._start_replicas()

    # -- replicas -------------------------------------------------------------------------------------------------

    def _start_replicas(self) -> None:
        import multiprocessing as mp

        visible = os.environ.get("CUDA_VISIBLE_DEVICES")
        if visible:
            devs = [d.strip() for d in visible.split(",") if d.strip()]
        else:
            import torch

            devs = [str(i) for i in range(torch.cuda.device_count())]
        need = self.tensor_parallel_size * self.data_parallel_size
        if len(devs) < need:
            raise ValueError(f"data_parallel_size x tensor_parallel_size = {need} GPUs needed, {len(devs)} visible")
        ctx = mp.get_context("spawn")
        self._outq = ctx.Queue()
        for r in range(self.data_parallel_size):
            inq = ctx.Queue()
            group = ",".join(devs[r * self.tensor_parallel_size:(r + 1) * self.tensor_parallel_size])
            p = ctx.Process(target=_replica_main, args=(r, group, self.llm_kwargs, inq, self._outq), daemon=False)
            p.start()
            self._workers.append(p)
            self._inqs.append(inq)
        ready = 0
        while ready < self.data_parallel_size:
            kind, rank, payload = self._get()
            if kind == "error":
                self.close()
                raise RuntimeError(f"vllm replica {rank} failed to start:\n{payload}")
            ready += 1

    def _get(self) -> tuple[str, int, Any]:
        """Next message from the replicas; fails instead of hanging when a replica process died."""
        import queue

        while True:
            try:
                return self._outq.get(timeout=10)
            except queue.Empty:
                dead = [r for r, p in enumerate(self._workers) if not p.is_alive()]
                if dead:
                    codes = [self._workers[r].exitcode for r in dead]
                    self.close()
                    raise RuntimeError(f"vllm replica(s) {dead} exited (codes {codes})") from None

    def close(self) -> None:
        """Stop replica processes / release the engine."""
        for q in self._inqs:
            try:
                q.put(None)
            except Exception:
                pass
        for p in self._workers:
            p.join(timeout=60)
            if p.is_alive():
                p.terminate()
        self._workers, self._inqs = [], []
        self.llm = None

    def __enter__(self) -> VLLMSampler:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return (f"VLLMSampler(model={self.model_name!r}, tensor_parallel_size={self.tensor_parallel_size}, "
                f"data_parallel_size={self.data_parallel_size})")

    def describe(self) -> dict[str, Any]:
        import importlib.metadata as md

        try:
            version = md.version("vllm")
        except md.PackageNotFoundError:  # pragma: no cover
            version = None
        keep = ("gpu_memory_utilization", "max_model_len", "dtype", "seed", "enforce_eager")
        return {"backend": self.name, "model": self.model_name, "vllm_version": version,
                "tensor_parallel_size": self.tensor_parallel_size, "data_parallel_size": self.data_parallel_size,
                **{k: self.llm_kwargs[k] for k in keep if k in self.llm_kwargs},
                "chat_template_kwargs": self.chat_template_kwargs}

    # -- generation -----------------------------------------------------------------------------------------------

    def encode_prompt(self, prompt: Prompt) -> list[int]:
        return encode_prompt(self.tokenizer, prompt, self.chat_template_kwargs)

    def generate(self, prompts: list[Prompt], params: SamplingParams) -> list[list[Completion]]:
        if isinstance(prompts, str | dict):
            raise TypeError("generate() takes a list of prompts")
        ids = [self.encode_prompt(p) for p in prompts]
        sps = [to_vllm_params(params, None if params.seed is None else row_seed(params.seed, i, 0) % (2**31 - 1))
               for i in range(len(prompts))]
        if self.llm is not None:
            import vllm

            rows = _engine_generate(self.llm, vllm, ids, sps, params.logprobs, self.use_tqdm)
        else:
            rows = self._generate_dp(ids, sps, params.logprobs)
        if params.greedy and params.n > 1:
            rows = [[r[0]] + [Completion(r[0].text, list(r[0].token_ids),
                                         None if r[0].logprobs is None else list(r[0].logprobs),
                                         r[0].finish_reason) for _ in range(params.n - 1)] for r in rows]
        return rows

    def _generate_dp(self, ids: list[list[int]], sps: list[dict[str, Any]], want_lp: bool) -> list[list[Completion]]:
        if not self._workers:
            raise RuntimeError("VLLMSampler is closed")
        self._job += 1
        ranges = shard(len(ids), self.data_parallel_size)
        for r, (a, b) in enumerate(ranges):
            self._inqs[r].put((self._job, ids[a:b], sps[a:b], want_lp, self.use_tqdm and r == 0))
        parts: dict[int, list[list[Completion]]] = {}
        while len(parts) < len(ranges):
            kind, rank, payload = self._get()
            if kind == "error":
                raise RuntimeError(f"vllm replica {rank} failed:\n{payload}")
            job_id, res = payload
            if job_id == self._job:
                parts[rank] = res
        return [c for r in range(len(ranges)) for c in parts[r]]
