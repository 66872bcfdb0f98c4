"""``openai`` backend: any OpenAI-compatible HTTP endpoint (hosted API or a ``vllm serve`` server), stdlib only.

* Chat prompts (lists of messages) go to ``POST {base_url}/chat/completions``.
* Plain string prompts: ``string_prompts="chat"`` (default) wraps the string as one user message and uses chat
  completions, because hosted APIs serve chat models only; ``string_prompts="completions"`` sends it unchanged to
  the legacy ``POST {base_url}/completions`` endpoint (what a ``vllm serve`` of a base model offers, and the
  faithful equivalent of the hf backend's raw-string prompt).
* The API key is read from the environment variable named ``api_key_env`` at every request; it is never stored
  on the object, logged, put in an exception or written anywhere. A missing key is an error unless the base URL
  is a loopback address (a local vLLM server usually needs none).
* Base URL: the ``base_url`` argument, else the ``base_url_env`` environment variable, else the OpenAI API.
* Retries with exponential backoff and jitter on HTTP 408/409/429/5xx, connection errors and timeouts
  (a ``Retry-After`` header is honoured); other 4xx fail at once with the server's error message.
* At most ``max_concurrency`` requests in flight (a thread pool, one task per prompt).
* ``n`` goes in the request's ``n`` field; when a server returns fewer choices (some ignore ``n``) the rest are
  fetched with further requests.
* ``logprobs=True`` asks for the sampled tokens' log-probabilities. Token ids are filled only when the server
  returns tokens as ``token_id:<id>`` (vLLM: ``extra_body={"return_tokens_as_token_ids": True}``); otherwise
  ``token_ids`` is empty and ``Completion.num_tokens`` falls back to the server's token count.
* ``finish_reason``: ``stop``/``eos``/``end_turn``/``tool_calls`` -> ``"stop"``, ``length``/``max_tokens`` ->
  ``"length"``, anything else (e.g. ``content_filter``) is passed through.
* Stop strings: the first 4 are sent (the OpenAI limit); all of them are also applied to the returned text.
* ``top_k > 0`` is sent as ``top_k`` (a vLLM extension; hosted OpenAI rejects it). ``seed`` is sent per prompt,
  derived from ``(params.seed, prompt index)``.
"""

from __future__ import annotations

import json
import os
import random
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor, as_completed
from http.client import HTTPException
from typing import Any

from .base import Completion, Prompt, SamplingParams, apply_stop, row_seed

__all__ = ["OpenAISampler", "OpenAIError", "map_finish_reason", "DEFAULT_BASE_URL"]

DEFAULT_BASE_URL = "https://api.openai.com/v1"
RETRY_STATUS = frozenset({408, 409, 429, 500, 502, 503, 504})
_LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1", "0.0.0.0"}
_FINISH = {"stop": "stop", "eos": "stop", "end_turn": "stop", "stop_sequence": "stop", "tool_calls": "stop",
           "function_call": "stop", "length": "length", "max_tokens": "length"}


class OpenAIError(RuntimeError):
    """An endpoint error; carries the HTTP status (None for connection failures). Never contains the API key."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


def map_finish_reason(reason: str | None) -> str:
    if reason is None:
        return "stop"
    return _FINISH.get(reason, reason)


def _is_local(url: str) -> bool:
    host = (urllib.parse.urlparse(url).hostname or "").lower()
    return host in _LOCAL_HOSTS or host.endswith(".localhost") or host.startswith("127.")


def _logger():
    from mlrepro.runs.logging import get_logger

    return get_logger("mlrepro.sampling.openai")


class OpenAISampler:
    """Sampler over an OpenAI-compatible chat-completions (or completions) HTTP API.

    Args:
        model: model name sent in every request.
        base_url: e.g. ``http://127.0.0.1:8000/v1``; default ``$<base_url_env>`` or the OpenAI API.
        api_key_env: name of the environment variable holding the key (the key itself is never passed in code).
        base_url_env: name of the environment variable holding the base URL.
        max_concurrency: requests in flight at most.
        max_retries: retries per request after the first attempt.
        timeout: seconds per HTTP request.
        string_prompts: ``"chat"`` (wrap as a user message) or ``"completions"`` (legacy endpoint).
        backoff_base, backoff_max: first retry delay and cap in seconds (doubling, with jitter).
        max_tokens_field: ``"max_tokens"`` or ``"max_completion_tokens"`` (newer OpenAI models need the latter).
        extra_body: extra JSON fields merged into every request (e.g. vLLM's ``return_tokens_as_token_ids``).
        progress: show a tqdm bar over prompts.
    """

    name = "openai"

    def __init__(self, model: str, base_url: str | None = None, api_key_env: str = "OPENAI_API_KEY",
                 base_url_env: str = "OPENAI_BASE_URL", max_concurrency: int = 8, max_retries: int = 5,
                 timeout: float = 300.0, string_prompts: str = "chat", backoff_base: float = 1.0,
                 backoff_max: float = 60.0, max_tokens_field: str = "max_tokens",
                 extra_body: dict[str, Any] | None = None, progress: bool = False, **_: Any):
        if string_prompts not in ("chat", "completions"):
            raise ValueError(f"string_prompts must be 'chat' or 'completions', got {string_prompts!r}")
        if max_concurrency < 1:
            raise ValueError("max_concurrency must be >= 1")
        if not model:
            raise ValueError("OpenAISampler needs a model name")
        self.model = model
        self.base_url = (base_url or os.environ.get(base_url_env) or DEFAULT_BASE_URL).rstrip("/")
        self.api_key_env = api_key_env
        self.max_concurrency = int(max_concurrency)
        self.max_retries = int(max_retries)
        self.timeout = float(timeout)
        self.string_prompts = string_prompts
        self.backoff_base = float(backoff_base)
        self.backoff_max = float(backoff_max)
        self.max_tokens_field = max_tokens_field
        self.extra_body = dict(extra_body or {})
        self.progress = progress
        # loopback servers are reached directly, whatever HTTP(S)_PROXY says
        self._opener = (urllib.request.build_opener(urllib.request.ProxyHandler({})) if _is_local(self.base_url)
                        else urllib.request.build_opener())
        self._lock = threading.Lock()
        self.stats = {"requests": 0, "retries": 0, "failures": 0}
        if not os.environ.get(api_key_env) and not _is_local(self.base_url):
            raise ValueError(f"environment variable {api_key_env} is not set: the openai backend reads the API key "
                             f"from it (required for non-local base URL {self.base_url})")

    def __repr__(self) -> str:
        return (f"OpenAISampler(model={self.model!r}, base_url={self.base_url!r}, api_key_env={self.api_key_env!r}, "
                f"max_concurrency={self.max_concurrency})")

    def describe(self) -> dict[str, Any]:
        """What to record in env.json (names of env vars only, never the key)."""
        return {"backend": self.name, "model": self.model, "base_url": self.base_url, "api_key_env": self.api_key_env,
                "string_prompts": self.string_prompts, "max_concurrency": self.max_concurrency,
                "max_retries": self.max_retries}

    # -- HTTP -----------------------------------------------------------------------------------------------------

    def _headers(self) -> dict[str, str]:
        h = {"Content-Type": "application/json", "Accept": "application/json", "User-Agent": "mlrepro-sampling"}
        key = os.environ.get(self.api_key_env)
        if key:
            h["Authorization"] = "Bearer " + key
        return h

    def _delay(self, attempt: int, retry_after: str | None) -> float:
        if retry_after:
            try:
                return min(max(float(retry_after), 0.0), self.backoff_max)
            except ValueError:
                pass
        return min(self.backoff_base * (2 ** attempt), self.backoff_max) * (0.5 + 0.5 * random.random())

    def _count(self, key: str) -> None:
        with self._lock:
            self.stats[key] += 1

    def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        url = self.base_url + path
        data = json.dumps(body).encode()
        log = _logger()
        for attempt in range(self.max_retries + 1):
            self._count("requests")
            retry_after = None
            try:
                req = urllib.request.Request(url, data=data, headers=self._headers(), method="POST")
                with self._opener.open(req, timeout=self.timeout) as resp:
                    raw = resp.read()
                try:
                    out = json.loads(raw)
                except json.JSONDecodeError:
                    raise OpenAIError(f"{url}: response is not JSON: {raw[:200]!r}", 200) from None
                if isinstance(out, dict) and out.get("error"):
                    raise OpenAIError(f"{url}: {out['error']}", 200)
                return out
            except urllib.error.HTTPError as e:
                try:
                    detail = e.read()[:500].decode("utf-8", "replace")
                except Exception:
                    detail = ""
                if e.code not in RETRY_STATUS or attempt >= self.max_retries:
                    self._count("failures")
                    raise OpenAIError(f"{url}: HTTP {e.code} after {attempt + 1} attempt(s): {detail}", e.code) from None
                retry_after = e.headers.get("Retry-After") if e.headers else None
                what = f"HTTP {e.code}"
            except (urllib.error.URLError, HTTPException, ConnectionError, TimeoutError) as e:
                reason = getattr(e, "reason", None) or type(e).__name__
                if attempt >= self.max_retries:
                    self._count("failures")
                    raise OpenAIError(f"{url}: connection failed after {attempt + 1} attempt(s): {reason}") from None
                what = f"connection error ({reason})"
            delay = self._delay(attempt, retry_after)
            self._count("retries")
            log.warning("openai backend: %s from %s; retry %d/%d in %.2fs", what, url, attempt + 1, self.max_retries,
                        delay)
            time.sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    # -- requests -------------------------------------------------------------------------------------------------

    def _body(self, prompt: Prompt, params: SamplingParams, n: int, seed: int | None) -> tuple[str, dict[str, Any]]:
        use_chat = not isinstance(prompt, str) or self.string_prompts == "chat"
        body: dict[str, Any] = {"model": self.model, "n": n, "temperature": params.temperature,
                                "top_p": params.top_p, self.max_tokens_field: params.max_new_tokens}
        if use_chat:
            body["messages"] = [{"role": "user", "content": prompt}] if isinstance(prompt, str) else prompt
        else:
            body["prompt"] = prompt
        if params.stop:
            body["stop"] = [s for s in params.stop if s][:4]
        if seed is not None:
            body["seed"] = seed
        if params.top_k is not None and params.top_k > 0:
            body["top_k"] = params.top_k
        if params.logprobs:
            body["logprobs"] = True if use_chat else 1
        body.update(self.extra_body)
        return ("/chat/completions" if use_chat else "/completions"), body

    @staticmethod
    def _parse_choice(choice: dict[str, Any], chat: bool, params: SamplingParams) -> Completion:
        if chat:
            msg = choice.get("message") or {}
            text = msg.get("content") or ""
            content = (choice.get("logprobs") or {}).get("content") or []
            tokens = [c.get("token", "") for c in content]
            lps = [float(c.get("logprob", 0.0)) for c in content]
        else:
            text = choice.get("text") or ""
            lp = choice.get("logprobs") or {}
            tokens = list(lp.get("tokens") or [])
            lps = [float(x) if x is not None else 0.0 for x in (lp.get("token_logprobs") or [])]
        ids: list[int] = []
        if tokens and all(isinstance(t, str) and t.startswith("token_id:") for t in tokens):
            try:
                ids = [int(t.split(":", 1)[1]) for t in tokens]
            except ValueError:
                ids = []
        text, stopped = apply_stop(text, params.stop)
        finish = "stop" if stopped else map_finish_reason(choice.get("finish_reason"))
        return Completion(text=text, token_ids=ids, logprobs=lps if params.logprobs and lps else None,
                          finish_reason=finish, n_tokens=len(tokens) if tokens else None)

    def _one_prompt(self, index: int, prompt: Prompt, params: SamplingParams) -> list[Completion]:
        got: list[Completion] = []
        k = 0
        while len(got) < params.n:
            seed = None if params.seed is None else row_seed(params.seed, index, k) % (2**31 - 1)
            path, body = self._body(prompt, params, params.n - len(got), seed)
            resp = self._post(path, body)
            choices = sorted(resp.get("choices") or [], key=lambda c: c.get("index", 0))
            if not choices:
                raise OpenAIError(f"{self.base_url}{path}: response without choices")
            comps = [self._parse_choice(c, path == "/chat/completions", params) for c in choices]
            usage = (resp.get("usage") or {}).get("completion_tokens")
            if len(comps) == 1 and comps[0].n_tokens is None and isinstance(usage, int):
                comps[0].n_tokens = usage
            got.extend(comps[: params.n - len(got)])
            k += 1
        return got

    def generate(self, prompts: list[Prompt], params: SamplingParams) -> list[list[Completion]]:
        if isinstance(prompts, str | dict):
            raise TypeError("generate() takes a list of prompts")
        if not prompts:
            return []
        workers = min(self.max_concurrency, len(prompts))
        pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="mlrepro-openai")
        try:
            futs = [pool.submit(self._one_prompt, i, p, params) for i, p in enumerate(prompts)]
            done = as_completed(futs)
            if self.progress:
                from tqdm.auto import tqdm

                done = tqdm(done, total=len(futs), desc="openai generate", unit="prompt")
            for f in done:
                f.result()  # raise the first failure at once (the rest are cancelled below)
            return [f.result() for f in futs]
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
