"""Model-facing pieces: step generation through ``mlrepro.sampling`` and the process reward model.

* :class:`PromptBuilder`: the (system, user, partial assistant) context of a step. ``chat`` renders the system
  prompt and the question with the model's own chat template and appends the partial solution, which equals the
  official ``continue_final_message=True`` continuation; ``plain`` uses a text template (tiny models of the mini).
* :class:`SamplerStepGenerator`: one reasoning step per request from any ``mlrepro.sampling`` sampler (vLLM on
  GPU, transformers on CPU): stop string ``"\\n\\n"`` (put back into the step text, as vLLM's
  ``include_stop_str_in_output=True``), no stop on the last iteration, token log-probabilities kept for TLC.
* :class:`PRMScorer`: a causal-LM process reward model loaded by HF id or path. ``rlhflow`` style
  (``RLHFlow/Llama3.1-8B-PRM-Deepseek-Data``): the solution becomes a multi-turn chat, user turn 1 = question +
  " " + step 1, user turn k = step k, every assistant turn "+"; a step's score is softmax over the "+"/"-" logits
  at its assistant position, P("+"). ``math_shepherd`` style (``peiyi9979/math-shepherd-mistral-7b-prm``): steps
  joined with a step tag (" ки"), score P(good) vs P(bad) at each tag.

Torch and transformers are imported inside functions only.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .method import STEP_DELIMITER, Step, StepRequest

__all__ = ["DEFAULT_SYSTEM_PROMPT", "PromptBuilder", "SamplerStepGenerator", "PRMScorer", "prm_conversation",
           "label_positions"]

# Our own wording of the search-and-learn step-format instruction (spec §2.2); not the upstream string.
DEFAULT_SYSTEM_PROMPT = (
    "Solve the math problem clearly and efficiently.\n\n"
    "If the problem needs at most two steps, give a short solution with little explanation.\n\n"
    "Otherwise write the solution step by step. Start each step with a line '## Step k: ' and a brief "
    "description, then the short explanation and the calculations. Leave one blank line between steps.\n\n"
    "Whatever the length, end with the sentence: Therefore, the final answer is: $\\boxed{answer}$. "
    "Here answer is only the final number or expression that solves the problem."
)


class PromptBuilder:
    """Builds the text a step is generated from: context(question) + prefix."""

    def __init__(self, style: str = "chat", tokenizer: Any = None, system_prompt: str | None = DEFAULT_SYSTEM_PROMPT,
                 template: str = "{question}\n"):
        if style not in ("chat", "plain"):
            raise ValueError(f"prompt style must be 'chat' or 'plain', got {style!r}")
        if style == "chat" and tokenizer is None:
            raise ValueError("the chat prompt style needs the model's tokenizer")
        if "{question}" not in template:
            raise ValueError("the plain template must contain {question}")
        self.style, self.tokenizer, self.system_prompt, self.template = style, tokenizer, system_prompt, template
        self._cache: dict[str, str] = {}

    def context(self, question: str) -> str:
        if question in self._cache:
            return self._cache[question]
        if self.style == "plain":
            text = self.template.format(question=question)
        else:
            msgs = ([{"role": "system", "content": self.system_prompt}] if self.system_prompt else [])
            msgs.append({"role": "user", "content": question})
            text = self.tokenizer.apply_chat_template(msgs, add_generation_prompt=True, tokenize=False)
            bos = getattr(self.tokenizer, "bos_token", None)
            # the samplers encode string prompts with special tokens: do not send BOS twice
            if bos and text.startswith(bos) and self._adds_bos():
                text = text[len(bos):]
        self._cache[question] = text
        return text

    def _adds_bos(self) -> bool:
        tok = self.tokenizer
        ids = tok("a", add_special_tokens=True)["input_ids"]
        return bool(ids) and tok.bos_token_id is not None and ids[0] == tok.bos_token_id

    def __call__(self, question: str, prefix: str) -> str:
        return self.context(question) + prefix


class SamplerStepGenerator:
    """A :class:`~mlrepro_smart.method.StepGenerator` over an ``mlrepro.sampling`` sampler.

    A completion that stopped at ``"\\n\\n"`` is an intermediate step (the delimiter is appended back to its
    text); one that ended with an end-of-sequence (special) token, ran out of tokens, or came from the last
    iteration (no stop string) finishes the trajectory.
    """

    def __init__(self, sampler: Any, role: str, prompt: PromptBuilder, temperature: float = 0.8, top_p: float = 1.0,
                 max_step_tokens: int = 2048, max_final_tokens: int | None = None, delimiter: str = STEP_DELIMITER,
                 eos_token_ids: Sequence[int] | None = None, logprobs: bool = True):
        self.sampler, self.role, self.prompt = sampler, role, prompt
        self.temperature, self.top_p = float(temperature), float(top_p)
        self.max_step_tokens = int(max_step_tokens)
        self.max_final_tokens = int(max_final_tokens or max_step_tokens)
        self.delimiter, self.logprobs = delimiter, logprobs
        ids = set(int(x) for x in (eos_token_ids or []))
        ids.update(int(x) for x in getattr(sampler, "eos_token_ids", None) or [])
        tok = getattr(sampler, "tokenizer", None)
        if tok is not None:
            ids.update(int(x) for x in getattr(tok, "all_special_ids", []) or [])
            if getattr(tok, "eos_token_id", None) is not None:
                ids.add(int(tok.eos_token_id))
        self.eos_token_ids = ids

    def describe(self) -> dict[str, Any]:
        from mlrepro.sampling import describe_sampler

        return {"role": self.role, "sampler": describe_sampler(self.sampler), "temperature": self.temperature,
                "top_p": self.top_p, "max_step_tokens": self.max_step_tokens}

    def generate_steps(self, requests: list[StepRequest], final: bool, seed: int) -> list[Step]:
        from mlrepro.sampling import SamplingParams

        if not requests:
            return []
        params = SamplingParams(n=1, temperature=self.temperature, top_p=self.top_p,
                                max_new_tokens=self.max_final_tokens if final else self.max_step_tokens,
                                stop=None if final else [self.delimiter], seed=int(seed), logprobs=self.logprobs)
        outs = self.sampler.generate([self.prompt(r.question, r.prefix) for r in requests], params)
        steps = []
        for row in outs:
            c = row[0]
            ended_eos = bool(c.token_ids) and int(c.token_ids[-1]) in self.eos_token_ids
            if c.finish_reason == "length":
                reason = "length"
            elif final or ended_eos:
                reason = "eos"
            else:
                reason = "step"
            text = c.text + (self.delimiter if reason == "step" else "")
            if reason == "step" and not c.text.strip():
                reason = "empty"  # a blank step ends the trajectory (official: empty step -> completed)
            steps.append(Step(text=text, n_tokens=c.num_tokens,
                              logprobs=list(c.logprobs) if c.logprobs is not None else None,
                              finished=reason != "step", finish_reason=reason))
        return steps


# ---------------------------------------------------------------------------------------------------------------
# process reward model
# ---------------------------------------------------------------------------------------------------------------


def prm_conversation(question: str, steps: Sequence[str], label: str = "+") -> list[dict[str, str]]:
    """RLHFlow PRM input: user turn 1 = question + " " + step 1, user turn k = step k, assistant turns ``label``."""
    msgs: list[dict[str, str]] = []
    for i, st in enumerate(steps):
        msgs.append({"role": "user", "content": f"{question} {st}" if i == 0 else st})
        msgs.append({"role": "assistant", "content": label})
    return msgs


def label_positions(tokenizer: Any, question: str, steps: Sequence[str], label: str = "+") -> tuple[list[int], list[int]]:
    """Token ids of the RLHFlow conversation and, per step, the index of the token *predicting* its label.

    Character offsets of each assistant label come from rendering the growing conversation (the chat template is
    prefix-stable); they are mapped to tokens with the fast tokenizer's offsets. Raises when the label is not a
    single token at that place (the reward could not be read)."""
    full = tokenizer.apply_chat_template(prm_conversation(question, steps, label), tokenize=False)
    char_pos = []
    for k in range(len(steps)):
        msgs = prm_conversation(question, steps[:k + 1], label)[:-1]
        prefix = tokenizer.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)
        if not full.startswith(prefix) or not full[len(prefix):].startswith(label):
            raise ValueError("the PRM chat template is not prefix-stable: cannot locate the step labels")
        char_pos.append(len(prefix))
    enc = tokenizer(full, add_special_tokens=False, return_offsets_mapping=True)
    ids, offsets = list(enc["input_ids"]), list(enc["offset_mapping"])
    start_to_tok = {int(a): t for t, (a, b) in enumerate(offsets) if b > a}
    label_id = tokenizer.convert_tokens_to_ids(tokenizer.tokenize(label))
    positions = []
    for cp in char_pos:
        t = start_to_tok.get(cp)
        if t is None or t == 0 or len(label_id) != 1 or ids[t] != label_id[0]:
            raise ValueError(f"the PRM label {label!r} is not one token at its position; pick another label")
        positions.append(t - 1)
    return ids, positions


class PRMScorer:
    """Process reward model scorer (:class:`~mlrepro_smart.method.StepScorer`): re-scores every step each call.

    Args:
        model: HF id / path (``AutoModelForCausalLM``) or a loaded causal LM.
        tokenizer: id / path / object; default from ``model``.
        style: ``rlhflow`` (multi-turn chat, "+"/"-") or ``math_shepherd`` (step tag, good/bad tokens).
        good_token, bad_token: the label tokens ("+"/"-" for both published PRMs).
        step_tag: the Math-Shepherd step tag.
        batch_size: solutions per forward pass; device/dtype as in the samplers.
    """

    keep_scores_on_intervention = False

    def __init__(self, model: Any, tokenizer: Any = None, style: str = "rlhflow", good_token: str = "+",
                 bad_token: str = "-", step_tag: str = "ки", batch_size: int = 4, device: str | None = None,
                 dtype: Any = None, trust_remote_code: bool = False):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        if style not in ("rlhflow", "math_shepherd"):
            raise ValueError(f"PRM style must be 'rlhflow' or 'math_shepherd', got {style!r}")
        if batch_size < 1:
            raise ValueError("PRM batch_size must be >= 1")
        self.style, self.batch_size, self.step_tag = style, int(batch_size), step_tag
        self.good_token, self.bad_token = good_token, bad_token
        if isinstance(model, str):
            from mlrepro.sampling.hf import _resolve_dtype

            dev = device or ("cuda" if torch.cuda.is_available() else "cpu")
            self.model_name = model
            self.model = AutoModelForCausalLM.from_pretrained(model, dtype=_resolve_dtype(dtype, dev),
                                                              trust_remote_code=trust_remote_code).to(dev)
        else:
            self.model = model
            self.model_name = getattr(model, "name_or_path", None) or type(model).__name__
            if device is not None:
                self.model.to(device)
        self.model.eval()
        self.device = next(self.model.parameters()).device
        if tokenizer is None:
            tokenizer = self.model_name
        if isinstance(tokenizer, str):
            tokenizer = AutoTokenizer.from_pretrained(tokenizer, trust_remote_code=trust_remote_code)
        self.tokenizer = tokenizer
        ids = [tokenizer.convert_tokens_to_ids(tokenizer.tokenize(t)) for t in (good_token, bad_token)]
        if any(len(x) != 1 for x in ids):
            raise ValueError(f"PRM label tokens {good_token!r}/{bad_token!r} must each be one token")
        self.good_id, self.bad_id = ids[0][0], ids[1][0]
        self.name = f"prm:{self.model_name}"
        pad = tokenizer.pad_token_id
        self.pad_id = int(pad if pad is not None else (tokenizer.eos_token_id or 0))

    def describe(self) -> dict[str, Any]:
        return {"scorer": "prm", "model": self.model_name, "style": self.style, "device": str(self.device),
                "batch_size": self.batch_size}

    def encode(self, question: str, steps: Sequence[str]) -> tuple[list[int], list[int]]:
        """Token ids and label-predicting positions for one solution (empty steps become a single space)."""
        steps = [s.strip() or " " for s in steps]
        if self.style == "rlhflow":
            return label_positions(self.tokenizer, question, steps, self.good_token)
        tok = self.tokenizer
        ids = list(tok(question + " ", add_special_tokens=True)["input_ids"])
        tag = tok(" " + self.step_tag, add_special_tokens=False)["input_ids"]
        positions = []
        for i, st in enumerate(steps):
            ids += tok(("\n" if i else "") + st, add_special_tokens=False)["input_ids"] + tag
            positions.append(len(ids) - 1)  # Math-Shepherd reads the label distribution AT the step tag
        return ids, positions

    def score(self, questions: list[str], steps: list[list[Step]]) -> list[list[float]]:
        import torch

        enc = [self.encode(q, [st.text for st in sol]) if sol else ([], []) for q, sol in zip(questions, steps)]
        out: list[list[float]] = [[] for _ in enc]
        order = [i for i in sorted(range(len(enc)), key=lambda i: -len(enc[i][0])) if enc[i][1]]
        for s in range(0, len(order), self.batch_size):
            idx = order[s:s + self.batch_size]
            L = max(len(enc[i][0]) for i in idx)
            ids = torch.full((len(idx), L), self.pad_id, dtype=torch.long)
            att = torch.zeros((len(idx), L), dtype=torch.long)
            for r, i in enumerate(idx):  # right padding: positions stay as computed
                x = enc[i][0]
                ids[r, :len(x)] = torch.tensor(x, dtype=torch.long)
                att[r, :len(x)] = 1
            with torch.inference_mode():
                hidden = self._hidden(ids.to(self.device), att.to(self.device))
                head = self.model.get_output_embeddings()
                w = head.weight[[self.good_id, self.bad_id]]  # only the two label rows: no [B, T, V] logits
                b = head.bias[[self.good_id, self.bad_id]] if getattr(head, "bias", None) is not None else None
                for r, i in enumerate(idx):
                    pos = torch.tensor(enc[i][1], device=hidden.device)
                    pair = (hidden[r, pos] @ w.T + (b if b is not None else 0)).float()
                    out[i] = pair.softmax(-1)[:, 0].tolist()
        return out

    def _hidden(self, ids, att):
        """Final hidden states (after the decoder's last norm); falls back to the full model when the decoder
        cannot be reached."""
        get = getattr(self.model, "get_decoder", None)
        dec = get() if callable(get) else None
        if dec is not None and dec is not self.model:
            return dec(input_ids=ids, attention_mask=att).last_hidden_state
        return self.model(input_ids=ids, attention_mask=att, output_hidden_states=True).hidden_states[-1]
