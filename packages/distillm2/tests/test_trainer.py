"""DistiLLM2Trainer (a TRL DPOTrainer subclass) and the batched on-policy loop on tiny offline models."""

from __future__ import annotations

import pytest
import torch
from mlrepro_distillm2.data import GenerationConfig, pair_records
from mlrepro_distillm2.trainer import (
    BatchedOnPolicyDistiller,
    DistiLLM2Config,
    DistiLLM2Trainer,
    align_vocab,
    make_peft_config,
    post_processes_logits,
)

from mlrepro.sampling import ScriptedSampler

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def models(tiny_lm_path):
    from mlrepro.testing import build_model, load_tiny

    student, tok = load_tiny(tiny_lm_path)
    teacher = build_model(tok, hidden=32, layers=2, seed=1)
    return student, teacher, tok


@pytest.fixture(scope="module")
def pairs():
    from datasets import Dataset

    prompts = [f"what is {i} plus {i}?" for i in range(8)]
    recs, _ = pair_records(prompts, [f"it is {2 * i}" for i in range(8)], [f"maybe {i}" for i in range(8)])
    return Dataset.from_list(recs)


def _args(cpu_trainer_kwargs, **kw):
    base = dict(cpu_trainer_kwargs, max_steps=1, per_device_train_batch_size=4, learning_rate=1e-3,
                gradient_checkpointing=False, max_length=64, max_prompt_length=32)
    base.update(kw)
    return DistiLLM2Config(**base)


def _copy(model):
    import copy

    return copy.deepcopy(model)


def test_config_validation(cpu_trainer_kwargs):
    with pytest.raises(ValueError, match="distill_loss"):
        _args(cpu_trainer_kwargs, distill_loss="nope")
    with pytest.raises(ValueError, match="alpha"):
        _args(cpu_trainer_kwargs, skew_alpha=0.001, alpha_min=0.01)
    with pytest.raises(ValueError, match="beta_schedule"):
        _args(cpu_trainer_kwargs, beta_schedule="cosine")


def test_kernel_paths_agree_and_teacher_frozen(models, pairs, cpu_trainer_kwargs):
    student, teacher, tok = models
    t_before = {k: v.clone() for k, v in teacher.state_dict().items()}
    losses = {}
    for kernel in ("fused", "logits", "naive"):
        args = _args(cpu_trainer_kwargs, kernel=kernel, learning_rate=0.0, adaptive_alpha="code",
                     beta_schedule="code")
        tr = DistiLLM2Trainer(model=_copy(student), teacher_model=teacher, args=args, train_dataset=pairs,
                              processing_class=tok)
        assert tr.kernel_mode == kernel and tr.teacher_model is teacher
        out = tr.train()
        losses[kernel] = out.metrics["train_loss"]
        logged = tr.state.log_history[0]
        assert 0.01 - 1e-6 <= logged["alpha_t"] <= 0.1 + 1e-6 and logged["beta"] == pytest.approx(0.5)
        assert "gap/chosen" in logged and "skl" in logged and "srkl" in logged
    assert losses["fused"] == pytest.approx(losses["logits"], rel=1e-4)
    assert losses["fused"] == pytest.approx(losses["naive"], rel=1e-4)
    for k, v in teacher.state_dict().items():
        assert torch.equal(v, t_before[k]), k


@pytest.mark.parametrize("loss", ["distillm_v2", "kd", "seqkd", "gkd", "distillm_v1", "dpkd", "imitkd", "srkl"])
def test_every_loss_trains_a_step(models, pairs, cpu_trainer_kwargs, loss):
    student, teacher, tok = models
    s = _copy(student)
    w0 = s.lm_head.weight.detach().clone()
    tr = DistiLLM2Trainer(model=s, teacher_model=teacher,
                          args=_args(cpu_trainer_kwargs, distill_loss=loss, log_sequence_logps=False),
                          train_dataset=pairs, processing_class=tok)
    out = tr.train()
    assert torch.isfinite(torch.tensor(out.metrics["train_loss"]))
    assert not torch.equal(w0, s.lm_head.weight)


def test_dora_and_eval(models, pairs, cpu_trainer_kwargs):
    from peft import PeftModel

    student, teacher, tok = models
    peft_config = make_peft_config(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], use_dora=True)
    tr = DistiLLM2Trainer(model=_copy(student), teacher_model=teacher, args=_args(cpu_trainer_kwargs),
                          train_dataset=pairs, eval_dataset=pairs, processing_class=tok, peft_config=peft_config)
    assert isinstance(tr.model, PeftModel)
    trainable = [n for n, p in tr.model.named_parameters() if p.requires_grad]
    assert trainable and all("lora" in n for n in trainable)
    assert any("magnitude" in n for n in trainable)  # DoRA
    tr.train()
    ev = tr.evaluate()
    assert "eval_loss" in ev and ev["eval_loss"] == ev["eval_loss"]


def test_vocab_mismatch_and_align(models, pairs, cpu_trainer_kwargs):
    from mlrepro.testing import build_model

    student, _, tok = models
    teacher = build_model(tok, hidden=16, layers=1, seed=2)
    teacher.resize_token_embeddings(len(tok) + 8)
    with pytest.raises(ValueError, match="vocabulary"):
        DistiLLM2Trainer(model=_copy(student), teacher_model=teacher, args=_args(cpu_trainer_kwargs),
                         train_dataset=pairs, processing_class=tok)
    old = align_vocab(tok, teacher)
    assert old == [len(tok) + 8] and teacher.get_output_embeddings().weight.shape[0] == len(tok)
    assert not post_processes_logits(teacher)


def test_batched_on_policy_loop_regenerates_student_responses(models, cpu_trainer_kwargs):
    student, teacher, tok = models
    calls = {"teacher": 0, "student": []}

    def teacher_sampler(model, epoch):
        calls["teacher"] += 1
        return ScriptedSampler(fn=lambda p, params, i: "the teacher says four")

    def student_sampler(model, epoch):
        calls["student"].append((epoch, type(model).__name__,
                                 model.model.layers[0].self_attn.q_proj.weight.detach().clone()))
        return ScriptedSampler(fn=lambda p, params, i: f"student epoch {epoch} guess")

    args = _args(cpu_trainer_kwargs, max_steps=-1, num_train_epochs=1, adaptive_alpha="paper",
                 per_device_train_batch_size=2)
    d = BatchedOnPolicyDistiller(_copy(student), teacher, tok, ["2+2?", "3+3?", "4+4?", "5+5?"], args,
                                 teacher_sampler=teacher_sampler, student_sampler=student_sampler,
                                 generation=GenerationConfig(max_new_tokens=8), num_epochs=2,
                                 peft_config=make_peft_config(r=2, lora_alpha=4, target_modules=["q_proj"],
                                                              use_dora=False))
    res = d.run()
    assert [r.epoch for r in res] == [1, 2] and res[0].n_pairs == 4
    assert calls["teacher"] == 2  # Algorithm 1 resamples y_t every epoch
    assert [e for e, _, _ in calls["student"]] == [1, 2]
    assert calls["student"][1][1] == "Qwen2ForCausalLM"  # epoch 2 samples from the merged epoch-1 student
    assert not torch.equal(calls["student"][0][2], calls["student"][1][2])  # ... whose LoRA update was merged
    assert d.last_pairs[0]["rejected"][-1]["content"] == "student epoch 2 guess"
    assert res[1].alpha_reference["chosen"] is not None  # paper-form anchors measured in epoch 1
    assert type(d.student).__name__ != "PeftModel"  # LoRA merged after each epoch


def test_zero3_config_resolves():
    from mlrepro.training import accelerate_config_path, build_launch_command, load_accelerate_config

    assert load_accelerate_config("zero3")["deepspeed_config"]["zero_stage"] == 3
    cmd = build_launch_command("mlrepro_distillm2", ["train", "--recipe", "paper"], config="zero3",
                               num_processes=4)
    assert str(accelerate_config_path("zero3")) in cmd and cmd[-3:] == ["train", "--recipe", "paper"]
