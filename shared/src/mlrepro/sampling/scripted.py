"""``scripted`` backend: deterministic canned or rule-based replies for tests and mock agents."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from .base import Completion, Prompt, SamplingParams, apply_stop

ReplyFn = Callable[[Prompt, SamplingParams, int], str]


class ScriptedSampler:
    """Replies come from ``fn(prompt, params, sample_index)`` or, cyclically, from a list of ``responses``.

    Token ids are whitespace-split word indices (``num_tokens`` = number of words), so token accounting works
    in tests without a tokenizer; pass ``tokenizer`` to count real tokens.
    """

    name = "scripted"

    def __init__(self, fn: ReplyFn | None = None, responses: Sequence[str] | None = None, tokenizer=None, **_: object):
        if fn is None and not responses:
            raise ValueError("ScriptedSampler needs fn or a non-empty responses list")
        self.fn = fn
        self.responses = list(responses or [])
        self.tokenizer = tokenizer
        self.calls = 0
        self._i = 0

    def __repr__(self) -> str:
        src = f"fn={getattr(self.fn, '__name__', 'fn')}" if self.fn is not None else f"responses={len(self.responses)}"
        return f"ScriptedSampler({src})"

    def describe(self) -> dict:
        return {"backend": self.name, "source": "fn" if self.fn is not None else "responses"}

    def _reply(self, prompt: Prompt, params: SamplingParams, j: int) -> str:
        if self.fn is not None:
            return self.fn(prompt, params, j)
        r = self.responses[self._i % len(self.responses)]
        self._i += 1
        return r

    def generate(self, prompts: list[Prompt], params: SamplingParams) -> list[list[Completion]]:
        out = []
        for p in prompts:
            self.calls += 1
            row = []
            for j in range(params.n):
                text, stopped = apply_stop(self._reply(p, params, j), params.stop)
                if self.tokenizer is not None:
                    ids = self.tokenizer.encode(text, add_special_tokens=False)
                else:
                    ids = list(range(len(text.split())))
                finish = "stop"
                if len(ids) > params.max_new_tokens:
                    ids = ids[: params.max_new_tokens]
                    finish = "length"
                    if self.tokenizer is not None:
                        text = self.tokenizer.decode(ids)
                    else:
                        text = " ".join(text.split()[: params.max_new_tokens])
                row.append(Completion(text=text, token_ids=ids, finish_reason=finish if not stopped else "stop"))
            out.append(row)
        return out
