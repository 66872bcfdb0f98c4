"""A reusable DistiLLM-2 trainer on top of TRL, and the paper's batched on-policy loop (Algorithm 1).

:class:`DistiLLM2Trainer` subclasses TRL's ``DPOTrainer``, as the released code subclasses (a fork of) TRL 0.9's
``DPOTrainer``: it gets paired data (teacher response = chosen, student response = rejected), the reference model
slot (here the frozen teacher), PEFT wrapping, DeepSpeed/FSDP preparation of the second model and the padded
``[chosen; rejected]`` batches for free, and replaces only the loss (:func:`mlrepro_distillm2.method.distillation_loss`)
and the tokenization (:func:`mlrepro_distillm2.data.tokenize_pair`). Every baseline runs by changing ``distill_loss``.

Use it on your own teacher and student::

    from mlrepro_distillm2.trainer import DistiLLM2Config, DistiLLM2Trainer, make_peft_config
    args = DistiLLM2Config(output_dir="out", distill_loss="distillm_v2", learning_rate=5e-5,
                           per_device_train_batch_size=1, gradient_accumulation_steps=8, bf16=True)
    trainer = DistiLLM2Trainer(model="my/student-sft", teacher_model="my/teacher", args=args,
                               train_dataset=pairs,  # {"prompt", "chosen": [msgs], "rejected": [msgs]} records
                               processing_class=tokenizer, peft_config=make_peft_config(use_dora=True))
    trainer.train()

Multi-GPU (ZeRO-3 as in the paper): ``accelerate launch --config_file $(python -c "from mlrepro.training import
accelerate_config_path as p; print(p('zero3'))") your_script.py`` or :func:`mlrepro.training.launch`.

Logit computation (``kernel``): ``fused`` runs the backbones and feeds hidden states + LM-head weights to the fused
chunked divergences of :mod:`mlrepro.kernels` (no ``[2B, T, V]`` logits in forward or backward); ``logits`` takes the
models' own logits (in the model dtype) and only chunks the float32 maths; ``naive`` is the full-vocabulary float32
implementation of the released code; ``auto`` = ``fused`` unless DeepSpeed ZeRO-3 is on or a model post-processes its
logits (Gemma-2 soft-capping, logit scales, an LM-head bias), where it falls back to ``logits``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from trl import DPOConfig, DPOTrainer

from . import method as M
from .data import GenerationConfig, GenerationStats, generate_responses, pair_records, tokenize_pair

KERNELS = ("auto", "fused", "logits", "naive")


@dataclass
class DistiLLM2Config(DPOConfig):
    """``DPOConfig`` plus the DistiLLM-2 knobs. ``beta`` (DPOConfig) is DPKD's DPO temperature (code default 0.1);
    the SRKL weight of DistiLLM-2 is ``srkl_beta0`` / ``beta_schedule``."""

    distill_loss: str = field(default="distillm_v2", metadata={
        "help": f"loss by its code name: {', '.join(M.LOSSES)}"})
    loss_reduction: str = field(default="seq_mean", metadata={
        "help": "seq_mean: per-sequence token mean (released code); sum: token sum (paper eq. 1-2)"})
    skew_alpha: float = field(default=0.1, metadata={
        "help": "alpha0, the skew of SKL/SRKL (code base_alpha_1 = base_alpha_2 = 0.1; Table 11)"})
    alpha_min: float = field(default=0.01, metadata={"help": "lower clip of the curriculum alpha (App. B.3)"})
    adaptive_alpha: str = field(default="off", metadata={
        "help": "off (released code), paper (per-sample alpha from epoch 2, anchors = epoch-1 mean gaps) or code "
                "(the code's disabled path made to work: anchors = mean gaps of the last logging window)"})
    alpha_pairing: str = field(default="code", metadata={
        "help": "code: alpha_t from the y_t gap, alpha_s from the y_s gap; printed: Algorithm 1 as printed (swapped)"})
    alpha_reference_chosen: float | None = field(default=None, metadata={
        "help": "m_t, the reference gap P(y_t) - Q(y_t) (paper form; set by the epoch loop after epoch 1)"})
    alpha_reference_rejected: float | None = field(default=None, metadata={
        "help": "m_s, the reference gap Q(y_s) - P(y_s) (paper form)"})
    beta_schedule: str = field(default="off", metadata={
        "help": "SRKL weight schedule: off (released code, beta = srkl_beta0), paper (Algorithm 1 literal), "
                "paper_global (global-progress reading), code (the disabled gradual_beta ramp)"})
    srkl_beta0: float = field(default=0.5, metadata={"help": "beta0, the SRKL weight / clip value (Table 11)"})
    gkd_beta: float = field(default=0.9, metadata={"help": "GKD's JSD weight (code: 0.9)"})
    srkl_detach_mixture: bool = field(default=True, metadata={
        "help": "treat the student's share of the SRKL mixture as a constant (DistiLLM-2 code; v1 did not)"})
    divergence_on: str = field(default="chosen", metadata={
        "help": "rows for the bare divergence losses (kl/rkl/skl/srkl/jsd): chosen, rejected or both"})
    kernel: str = field(default="auto", metadata={"help": f"logit path: {', '.join(KERNELS)}"})
    kernel_chunk_size: int | None = field(default=None, metadata={"help": "tokens per chunk (None: kernel default)"})
    max_prompt_length: int | None = field(default=512, metadata={
        "help": "keep_end prompt truncation when prompt + response > max_length (code: 512 of 1024)"})
    add_bos: bool = field(default=True, metadata={"help": "prepend the tokenizer's BOS token to prompts"})
    distill_epoch: int = field(default=1, metadata={"help": "current epoch e of Algorithm 1 (set by the loop)"})
    distill_num_epochs: int = field(default=1, metadata={"help": "E, epochs of Algorithm 1 (set by the loop)"})
    log_sequence_logps: bool = field(default=True, metadata={
        "help": "log per-sequence log-probs and sentence-probability gaps (two extra chunked passes per model)"})

    def __post_init__(self):
        super().__post_init__()
        for name, value, allowed in (("distill_loss", self.distill_loss, M.LOSSES),
                                     ("loss_reduction", self.loss_reduction, M.REDUCTIONS),
                                     ("adaptive_alpha", self.adaptive_alpha, M.ALPHA_SCHEDULES),
                                     ("alpha_pairing", self.alpha_pairing, M.ALPHA_PAIRINGS),
                                     ("beta_schedule", self.beta_schedule, M.BETA_SCHEDULES),
                                     ("divergence_on", self.divergence_on, M.DATA_SIDES),
                                     ("kernel", self.kernel, KERNELS)):
            if value not in allowed:
                raise ValueError(f"{name}={value!r} is not one of {allowed}")
        if not 0 <= self.alpha_min <= self.skew_alpha <= 1:
            raise ValueError(f"need 0 <= alpha_min <= skew_alpha <= 1 (got {self.alpha_min}, {self.skew_alpha})")
        if not 0 <= self.srkl_beta0 <= 1:
            raise ValueError(f"srkl_beta0 must lie in [0, 1], got {self.srkl_beta0}")
        if not 0 <= self.gkd_beta <= 1:
            raise ValueError(f"gkd_beta must lie in [0, 1], got {self.gkd_beta}")
        if self.distill_epoch < 1 or self.distill_num_epochs < self.distill_epoch:
            raise ValueError("need 1 <= distill_epoch <= distill_num_epochs")
        if self.precompute_ref_log_probs:
            raise ValueError("precompute_ref_log_probs is not supported: the losses need the teacher's full "
                             "next-token distributions, not only its sequence log-probs")


# ------------------------------------------------------------------------------------------------ model helpers
def _is_peft(model) -> bool:
    try:
        from peft import PeftModel
    except ImportError:  # pragma: no cover
        return False
    return isinstance(model, PeftModel)


def causal_lm(model):
    """The transformers causal LM inside a (PEFT-wrapped) model."""
    return model.get_base_model() if _is_peft(model) else model


def post_processes_logits(model) -> bool:
    """True when the model's logits are not simply ``hidden @ lm_head.weight.T`` (soft-capping, scales, bias)."""
    lm = causal_lm(model)
    cfg = lm.config.get_text_config() if hasattr(lm.config, "get_text_config") else lm.config
    head = lm.get_output_embeddings()
    extra = any(getattr(cfg, k, None) not in (None, 1.0) for k in
                ("final_logit_softcapping", "logit_scale", "output_multiplier", "lm_head_multiplier",
                 "logits_scaling"))
    return extra or getattr(head, "bias", None) is not None


def align_vocab(tokenizer, *models) -> list[int]:
    """Resize each model's embeddings and LM head to ``len(tokenizer)`` (code ``utils/resize_embedding.py``: Qwen2.5
    heads are padded to different sizes per model size, and the losses need one vocabulary). Returns old sizes."""
    old = []
    for m in models:
        n = int(m.get_output_embeddings().weight.shape[0])
        old.append(n)
        if n != len(tokenizer):
            m.resize_token_embeddings(len(tokenizer))
    return old


def make_peft_config(r: int = 16, lora_alpha: int = 128, lora_dropout: float = 0.05,
                     target_modules: Sequence[str] | str = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj",
                                                           "up_proj", "down_proj"),
                     use_dora: bool = True):
    """LoRA/DoRA config of the released recipes (r 16, alpha 128, dropout 0.05, attention + MLP projections,
    ``use_dora=True``; the paper text says LoRA r = 16)."""
    from peft import LoraConfig

    tm = target_modules if isinstance(target_modules, str) else list(target_modules)
    return LoraConfig(r=r, lora_alpha=lora_alpha, lora_dropout=lora_dropout, target_modules=tm, use_dora=use_dora,
                      task_type="CAUSAL_LM", bias="none")


def _zero3() -> bool:
    try:
        from transformers.integrations.deepspeed import is_deepspeed_zero3_enabled

        return bool(is_deepspeed_zero3_enabled())
    except Exception:  # pragma: no cover
        return False


# ------------------------------------------------------------------------------------------------ trainer
class DistiLLM2Trainer(DPOTrainer):
    """DistiLLM-2 and its baselines as a TRL trainer (see the module docstring).

    Args:
        model: the student (hub id, path, ``PreTrainedModel`` or ``PeftModel``).
        teacher_model: the teacher (hub id, path or model); frozen, put in the reference-model slot.
        args: :class:`DistiLLM2Config`.
        train_dataset: paired records ``{"prompt", "chosen", "rejected"}`` (chat messages or strings) or already
            tokenized ``{"prompt_ids", "chosen_ids", "rejected_ids"}``.
        processing_class: the shared tokenizer (the teacher's, as in the code).
        peft_config: optional LoRA/DoRA config (:func:`make_peft_config`).
    Other arguments go to ``DPOTrainer``.
    """

    _tag_names = ["trl", "distillm2"]
    _name = "DistiLLM-2"

    def __init__(self, model, teacher_model, args: DistiLLM2Config | None = None, train_dataset=None,
                 eval_dataset=None, processing_class=None, peft_config=None, callbacks=None, **kwargs):
        if teacher_model is None:
            raise ValueError("DistiLLM2Trainer needs a teacher_model")
        if args is None:
            args = DistiLLM2Config(output_dir="distillm2-out")
        if not isinstance(args, DistiLLM2Config):
            raise TypeError(f"args must be a DistiLLM2Config, got {type(args).__name__}")
        if isinstance(teacher_model, str | Path):
            from transformers import AutoModelForCausalLM

            init = dict(args.model_init_kwargs or {})
            init.setdefault("dtype", "auto")
            teacher_model = AutoModelForCausalLM.from_pretrained(str(teacher_model), trust_remote_code=False, **init)
        teacher_model.eval()
        for p in teacher_model.parameters():
            p.requires_grad_(False)
        self._gap_epoch = {"chosen": [0.0, 0], "rejected": [0.0, 0]}
        self._gap_window = {"chosen": [0.0, 0], "rejected": [0.0, 0]}
        self._code_anchor: tuple[float, float] | None = None
        super().__init__(model=model, ref_model=teacher_model, args=args, train_dataset=train_dataset,
                         eval_dataset=eval_dataset, processing_class=processing_class, peft_config=peft_config,
                         callbacks=callbacks, **kwargs)
        from trl.models.utils import _ForwardRedirection

        self._redirect = _ForwardRedirection()
        student_v = causal_lm(self.accelerator.unwrap_model(self.model)).get_output_embeddings().weight.shape[0]
        teacher_v = causal_lm(self.accelerator.unwrap_model(self.ref_model)).get_output_embeddings().weight.shape[0]
        if not _zero3() and int(student_v) != int(teacher_v):
            raise ValueError(f"student vocabulary {int(student_v)} != teacher vocabulary {int(teacher_v)}: call "
                             "align_vocab(tokenizer, student, teacher) first")
        self.kernel_mode = self._resolve_kernel()

    @property
    def teacher_model(self):
        return self.ref_model

    # -- data ----------------------------------------------------------------------------------------------------
    def _prepare_dataset(self, dataset, processing_class, args, dataset_name):
        first = next(iter(dataset))
        if {"prompt_ids", "chosen_ids", "rejected_ids"} <= set(first):
            return dataset
        if not {"chosen", "rejected"} <= set(first):
            raise ValueError(f"{dataset_name} dataset needs 'chosen' and 'rejected' (and 'prompt') columns, "
                             f"got {sorted(first)}")
        tok = processing_class.tokenizer if hasattr(processing_class, "tokenizer") else processing_class
        chat = isinstance(first["chosen"], list)
        kw = dict(max_length=args.max_length, max_prompt_length=args.max_prompt_length, chat=chat,
                  add_bos=args.add_bos)
        return dataset.map(lambda r: tokenize_pair(tok, r, **kw), remove_columns=list(dataset.column_names),
                           desc=f"Tokenizing {dataset_name} pairs")

    # -- loss ----------------------------------------------------------------------------------------------------
    def _resolve_kernel(self) -> str:
        mode = self.args.kernel
        if mode != "auto":
            return mode
        student = self.accelerator.unwrap_model(self.model)
        teacher = self.accelerator.unwrap_model(self.ref_model)
        if _zero3() or post_processes_logits(student) or post_processes_logits(teacher):
            return "logits"
        return "fused"

    def _preds(self, model, input_ids, attention_mask, mode: str) -> M.Preds:
        if mode == "fused":
            lm = causal_lm(model)
            out = lm.base_model(input_ids=input_ids, attention_mask=attention_mask, use_cache=False)
            hidden = out.last_hidden_state[:, :-1]
            weight = lm.get_output_embeddings().weight
            return M.Preds(hidden=hidden.to(weight.device), weight=weight)
        out = model(input_ids=input_ids, attention_mask=attention_mask, use_cache=False)
        return M.Preds(logits=out.logits[:, :-1])

    def _teacher_preds(self, input_ids, attention_mask, mode: str) -> M.Preds:
        wrapper = self.ref_model
        unwrapped = self.accelerator.unwrap_model(wrapper)
        unwrapped.eval()
        with torch.no_grad():
            p = self._redirect(wrapper, unwrapped, self._preds, unwrapped, input_ids, attention_mask, mode)
        return p.detach()

    def _curriculum(self, student: M.Preds, teacher: M.Preds | None, labels, n_chosen: int, mode: str):
        a = self.args
        alpha_t = alpha_s = a.skew_alpha
        metrics: dict[str, float] = {}
        want = teacher is not None and (a.adaptive_alpha != "off" or a.log_sequence_logps)
        if want:
            impl = "naive" if mode == "naive" else "chunked"
            with torch.no_grad():
                lq = M.sequence_logps(student.detach(), labels, impl=impl, chunk_size=a.kernel_chunk_size)
                lp = M.sequence_logps(teacher, labels, impl=impl, chunk_size=a.kernel_chunk_size)
            g_t, g_s = M.sentence_gaps(lp[:n_chosen], lq[:n_chosen], lp[n_chosen:], lq[n_chosen:])
            for side, g in (("chosen", g_t), ("rejected", g_s)):
                for acc in (self._gap_epoch, self._gap_window):
                    acc[side][0] += float(g.sum())
                    acc[side][1] += int(g.numel())
            metrics.update({"logps/chosen": M._f(lq[:n_chosen]), "logps/rejected": M._f(lq[n_chosen:]),
                            "teacher_logps/chosen": M._f(lp[:n_chosen]),
                            "teacher_logps/rejected": M._f(lp[n_chosen:]),
                            "gap/chosen": M._f(g_t), "gap/rejected": M._f(g_s)})
            anchors = None
            if a.adaptive_alpha == "paper" and a.distill_epoch > 1:
                if a.alpha_reference_chosen is None or a.alpha_reference_rejected is None:
                    raise ValueError("adaptive_alpha='paper' from epoch 2 needs alpha_reference_chosen/_rejected "
                                     "(the epoch-1 mean gaps; run_batched_on_policy sets them)")
                anchors = (a.alpha_reference_chosen, a.alpha_reference_rejected)
            elif a.adaptive_alpha == "code":
                anchors = self._code_anchor
            if anchors is not None:
                alpha_t, alpha_s = M.curriculum_alphas(g_t, g_s, anchors[0], anchors[1], alpha0=a.skew_alpha,
                                                       alpha_min=a.alpha_min, pairing=a.alpha_pairing)
        st = self.state
        beta = M.srkl_beta(a.beta_schedule, beta0=a.srkl_beta0, epoch=a.distill_epoch,
                           num_epochs=a.distill_num_epochs, step_in_epoch=st.global_step,
                           steps_per_epoch=max(1, st.max_steps), global_step=st.global_step,
                           max_steps=max(1, st.max_steps))
        return alpha_t, alpha_s, beta, metrics

    def _distill_forward(self, model, inputs):
        a = self.args
        mode = self.kernel_mode
        ids, am, cm = inputs["input_ids"], inputs["attention_mask"], inputs["completion_mask"]
        labels = ids.masked_fill(cm == 0, M.IGNORE_INDEX)[:, 1:]
        n_chosen = ids.shape[0] // 2
        need_teacher = M.needs_teacher(a.distill_loss) or a.adaptive_alpha != "off" or a.log_sequence_logps
        pmode = "logits" if mode == "naive" else mode
        teacher = self._teacher_preds(ids, am, pmode) if need_teacher else None
        gather = contextlib.nullcontext()
        if pmode == "fused" and _zero3():  # pragma: no cover - needs DeepSpeed
            from trl.trainer.utils import maybe_gather_lm_head_ctx

            gather = maybe_gather_lm_head_ctx(causal_lm(model).get_output_embeddings().weight)
        with gather:
            student = self._preds(model, ids, am, pmode)
            labels = labels.to(student.hidden.device if student.fused else student.logits.device)
            alpha_t, alpha_s, beta, metrics = self._curriculum(student, teacher, labels, n_chosen, mode)
            out = M.distillation_loss(
                a.distill_loss, student, teacher, labels, n_chosen, reduction=a.loss_reduction, alpha_t=alpha_t,
                alpha_s=alpha_s, beta=beta, alpha=a.skew_alpha, jsd_beta=a.gkd_beta, dpo_beta=a.beta,
                srkl_detach_mixture=a.srkl_detach_mixture, divergence_on=a.divergence_on,
                impl="naive" if mode == "naive" else "chunked", chunk_size=a.kernel_chunk_size)
        metrics.update(out.metrics)
        return out.loss, metrics

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        mode = "train" if self.model.training else "eval"
        unwrapped = self.accelerator.unwrap_model(model)
        # Through the wrapper's forward, so DDP prepares gradient sync and FSDP/DeepSpeed materialise the parameters.
        loss, metrics = self._redirect(model, unwrapped, self._distill_forward, unwrapped, inputs)
        if metrics:
            keys = sorted(metrics)
            vals = torch.tensor([float(metrics[k]) for k in keys], dtype=torch.float64, device=loss.device).unsqueeze(0)
            vals = self.accelerator.gather_for_metrics(vals).mean(0)
            for k, v in zip(keys, vals.tolist()):
                self._metrics[mode][k].append(v)
        return (loss, None) if return_outputs else loss

    def prediction_step(self, model, inputs, prediction_loss_only, ignore_keys=None):
        """Evaluation returns the loss only (the code's ``prediction_step`` reads logits it never set)."""
        inputs = self._prepare_inputs(inputs)
        with torch.no_grad(), self.compute_loss_context_manager():
            loss = self.compute_loss(model, inputs)
        return loss.detach(), None, None

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        w = self._gap_window
        if w["chosen"][1] and w["rejected"][1]:
            if self.args.adaptive_alpha == "code" and self.model.training:
                self._code_anchor = (w["chosen"][0] / w["chosen"][1], w["rejected"][0] / w["rejected"][1])
            self._gap_window = {"chosen": [0.0, 0], "rejected": [0.0, 0]}
        super().log(logs, start_time)

    def epoch_gap_means(self) -> dict[str, float | None]:
        """Mean sentence-probability gaps over everything this trainer trained on (the paper-form anchors m_t, m_s
        when measured in epoch 1)."""
        return {side: (s / n if n else None) for side, (s, n) in self._gap_epoch.items()}


# ------------------------------------------------------------------------------------------------ Algorithm 1
SamplerFactory = Callable[[Any, int], Any]


@dataclass
class EpochResult:
    epoch: int
    n_pairs: int
    dropped: int
    teacher_generation: dict
    student_generation: dict
    gap_means: dict
    train_metrics: dict
    alpha_reference: dict


class BatchedOnPolicyDistiller:
    """Algorithm 1 ("batched on-policy"): for e = 1..E, sample y_t from the teacher and y_s from the *current*
    student for every prompt, pair them, and train the student for one pass over the pairs with
    :class:`DistiLLM2Trainer`; student responses are regenerated each epoch.

    Args:
        student, teacher: models (objects); the student is trained in place (with PEFT: a fresh adapter each epoch,
            merged into the weights at the end of the epoch, as the code merges LoRA before the next generation).
        tokenizer: the shared tokenizer.
        prompts: training prompts (strings).
        args: the base :class:`DistiLLM2Config`; ``output_dir`` gets ``/epoch{e}`` appended.
        teacher_sampler / student_sampler: ``factory(model, epoch) -> sampler`` (e.g. ``hf_sampler_factory``; for vLLM
            a factory that saves the merged model and starts an engine on it).
        generation: :class:`mlrepro_distillm2.data.GenerationConfig`; the seed is offset by the epoch.
        resample_teacher: Algorithm 1 resamples y_t every epoch; ``False`` reuses the epoch-1 teacher responses.
        peft_config: optional LoRA/DoRA config.
        callbacks: ``fn(epoch) -> list[TrainerCallback]`` for each epoch's trainer.
    """

    def __init__(self, student, teacher, tokenizer, prompts: Sequence[str], args: DistiLLM2Config, *,
                 teacher_sampler: SamplerFactory, student_sampler: SamplerFactory, generation: GenerationConfig,
                 num_epochs: int = 3, resample_teacher: bool = True, peft_config=None,
                 callbacks: Callable[[int], list] | None = None, log: Callable[[str], None] | None = None):
        if num_epochs < 1:
            raise ValueError("num_epochs must be >= 1")
        self.student, self.teacher, self.tokenizer = student, teacher, tokenizer
        self.prompts = list(prompts)
        self.args, self.generation, self.num_epochs = args, generation, int(num_epochs)
        self.teacher_sampler, self.student_sampler = teacher_sampler, student_sampler
        self.resample_teacher, self.peft_config, self.callbacks = resample_teacher, peft_config, callbacks
        self.log = log or (lambda msg: None)
        self._teacher_texts: list[str] | None = None
        self._teacher_stats: GenerationStats | None = None
        self.alpha_reference: dict[str, float | None] = {"chosen": None, "rejected": None}
        self.last_pairs: list[dict] = []

    def _gen(self, epoch: int) -> GenerationConfig:
        return dataclasses.replace(self.generation, seed=int(self.generation.seed) + 1000 * epoch)

    def sample_teacher(self, epoch: int) -> tuple[list[str], GenerationStats]:
        if self._teacher_texts is None or self.resample_teacher:
            sampler = self.teacher_sampler(self.teacher, epoch)
            self._teacher_texts, self._teacher_stats = generate_responses(sampler, self.prompts, self._gen(epoch))
        return self._teacher_texts, self._teacher_stats

    def sample_student(self, epoch: int) -> tuple[list[str], GenerationStats]:
        sampler = self.student_sampler(self.student, epoch)
        return generate_responses(sampler, self.prompts, dataclasses.replace(self._gen(epoch),
                                                                            seed=self._gen(epoch).seed + 1))

    def epoch_args(self, epoch: int) -> DistiLLM2Config:
        a = self.args
        return dataclasses.replace(a, output_dir=str(Path(a.output_dir) / f"epoch{epoch}"), distill_epoch=epoch,
                                   distill_num_epochs=self.num_epochs, seed=int(a.seed) + epoch - 1,
                                   alpha_reference_chosen=self.alpha_reference["chosen"],
                                   alpha_reference_rejected=self.alpha_reference["rejected"])

    def run_epoch(self, epoch: int, teacher_texts: list[str] | None = None) -> EpochResult:
        from datasets import Dataset

        if teacher_texts is None:
            teacher_texts, t_stats = self.sample_teacher(epoch)
        else:
            t_stats = GenerationStats(n=len(teacher_texts), empty=sum(not t for t in teacher_texts))
        student_texts, s_stats = self.sample_student(epoch)
        pairs, dropped = pair_records(self.prompts, teacher_texts, student_texts, system=self.generation.system)
        if not pairs:
            raise RuntimeError(f"epoch {epoch}: no usable (teacher, student) pairs")
        self.last_pairs = pairs
        self.log(f"epoch {epoch}: {len(pairs)} pairs ({dropped} dropped)")
        trainer = DistiLLM2Trainer(model=self.student, teacher_model=self.teacher, args=self.epoch_args(epoch),
                                   train_dataset=Dataset.from_list(pairs), processing_class=self.tokenizer,
                                   peft_config=self.peft_config,
                                   callbacks=self.callbacks(epoch) if self.callbacks else None)
        out = trainer.train()
        gaps = trainer.epoch_gap_means()
        if epoch == 1 and self.args.adaptive_alpha == "paper":
            self.alpha_reference = dict(gaps)  # frozen epoch-1 anchors (Table 11: no update in epoch 1)
        model = trainer.model
        if _is_peft(model):
            model = model.merge_and_unload()
        self.student = model
        return EpochResult(epoch=epoch, n_pairs=len(pairs), dropped=dropped, teacher_generation=t_stats.to_dict(),
                           student_generation=s_stats.to_dict(), gap_means=gaps,
                           train_metrics={k: v for k, v in out.metrics.items() if isinstance(v, int | float)
                                          and math.isfinite(v)},
                           alpha_reference=dict(self.alpha_reference))

    def run(self) -> list[EpochResult]:
        return [self.run_epoch(e) for e in range(1, self.num_epochs + 1)]


def hf_sampler_factory(tokenizer, batch_size: int = 64, **kw) -> SamplerFactory:
    """``factory(model, epoch)`` giving an ``hf`` sampler on the (current) model object."""
    from mlrepro.sampling import get_sampler

    def make(model, epoch: int):
        return get_sampler("hf", model=model, tokenizer=tokenizer, batch_size=batch_size, **kw)

    return make


def vllm_sampler_factory(tokenizer, workdir: str | Path, **engine_kw) -> SamplerFactory:
    """``factory(model, epoch)`` for the paper recipe: saves the (merged) model and tokenizer to
    ``workdir/epoch{e}-{name}`` and starts a vLLM engine on it (the code merges LoRA first: vLLM 0.5's LoRA inference
    was less accurate than the merged model)."""
    from mlrepro.sampling import get_sampler

    def make(model, epoch: int):
        if isinstance(model, str | Path):
            return get_sampler("vllm", model=str(model), **engine_kw)
        path = Path(workdir) / f"epoch{epoch}-{type(model).__name__.lower()}"
        m = model.merge_and_unload() if _is_peft(model) else model
        m.save_pretrained(path)
        tokenizer.save_pretrained(path)
        return get_sampler("vllm", model=str(path), **engine_kw)

    return make
