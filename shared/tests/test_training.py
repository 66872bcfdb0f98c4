"""mlrepro.training: launcher configs by name, launch commands, TRL glue, and a real 2-process CPU training run."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from mlrepro.training import (
    CHATML_TEMPLATE,
    CONFIG_NAMES,
    accelerate_config_path,
    assistant_only_mask,
    build_launch_command,
    launch,
    list_accelerate_configs,
    load_accelerate_config,
    pad_batch,
    prompt_completion_records,
    setup_tokenizer,
    tokenize_prompt_completion,
    uses_deepspeed,
)

HERE = Path(__file__).resolve().parent


# ------------------------------------------------------------------------------------------------ configs
def test_configs_resolve_by_name_and_load_in_accelerate():
    from accelerate.commands.config.config_args import load_config_from_file

    assert list_accelerate_configs() == sorted(CONFIG_NAMES)
    expect = {"ddp": ("MULTI_GPU", None, None), "zero2": ("DEEPSPEED", 2, "none"), "zero3": ("DEEPSPEED", 3, "none"),
              "zero3_offload": ("DEEPSPEED", 3, "cpu")}
    for name, (dist, stage, offload) in expect.items():
        path = accelerate_config_path(name)
        assert path.is_file() and path.name == f"{name}.yaml"
        assert accelerate_config_path(f"{name}.yaml") == path
        assert accelerate_config_path(path) == path  # an existing path is returned as is
        cfg = load_config_from_file(str(path))  # accelerate's own loader validates the fields
        assert cfg.distributed_type.value == dist
        raw = load_accelerate_config(name)
        assert raw["mixed_precision"] == "bf16"
        assert uses_deepspeed(name) == (dist == "DEEPSPEED")
        if stage is not None:
            assert cfg.deepspeed_config["zero_stage"] == stage
            assert cfg.deepspeed_config["offload_optimizer_device"] == offload
            assert cfg.deepspeed_config["offload_param_device"] == offload


def test_unknown_config_names_fail_clearly(tmp_path):
    with pytest.raises(ValueError, match="zero3_offload"):
        accelerate_config_path("zero4")
    with pytest.raises(ValueError, match="unknown accelerate config"):
        accelerate_config_path(tmp_path / "missing.yaml")
    own = tmp_path / "mine.yaml"
    own.write_text("distributed_type: MULTI_GPU\n")
    assert accelerate_config_path(own) == own.resolve()


def test_import_is_light_and_deepspeed_is_never_imported():
    code = ("import sys, mlrepro.training as t; heavy = [m for m in ('torch', 'deepspeed', 'transformers', 'trl') "
            "if m in sys.modules]; t.accelerate_config_path('zero3'); t.uses_deepspeed('zero3_offload'); "
            "t.build_launch_command('pkg.mod', config='zero3', num_processes=4); "
            "print(heavy, 'deepspeed' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split("\n")[0]
    assert out == "[] False"


# ------------------------------------------------------------------------------------------------ launch commands
def test_build_accelerate_command_parses_with_accelerate():
    from accelerate.commands.launch import launch_command_parser

    cmd = build_launch_command("mlrepro_distillm2.cli", ["train", "--recipe", "paper"], config="zero3",
                               num_processes=8, main_process_port=29555)
    assert cmd[:3] == [sys.executable, "-m", "accelerate.commands.launch"]
    args = launch_command_parser().parse_args(cmd[3:])
    assert args.config_file == str(accelerate_config_path("zero3"))
    assert args.num_processes == 8 and args.main_process_port == 29555 and args.module
    assert args.training_script == "mlrepro_distillm2.cli"
    assert args.training_script_args == ["train", "--recipe", "paper"]
    script = build_launch_command("train.py", ["--x", 1], config="ddp", num_processes=2)
    parsed = launch_command_parser().parse_args(script[3:])
    assert not parsed.module and parsed.training_script == "train.py" and parsed.training_script_args == ["--x", "1"]


def test_build_torchrun_command_and_errors():
    cmd = build_launch_command("pkg.train", ["a"], launcher="torchrun", num_processes=2)
    assert cmd == [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--standalone", "-m",
                   "pkg.train", "a"]
    assert "--master_port" in build_launch_command("x.py", launcher="torchrun", num_processes=2,
                                                   main_process_port=1234)
    with pytest.raises(ValueError, match="launcher"):
        build_launch_command("x.py", launcher="mpirun")
    assert launch("x.py", config="ddp", num_processes=2, dry_run=True) == build_launch_command(
        "x.py", config="ddp", num_processes=2)


@pytest.mark.skipif(importlib.util.find_spec("deepspeed") is not None, reason="deepspeed is installed")
def test_deepspeed_config_without_deepspeed_fails_before_launching():
    with pytest.raises(ImportError, match="deepspeed"):
        launch("x.py", config="zero2", num_processes=2)


# ------------------------------------------------------------------------------------------------ TRL glue
@pytest.fixture(scope="module")
def tok(tiny_lm_path):
    return setup_tokenizer(tiny_lm_path)


def test_setup_tokenizer(tok, tiny_lm_path):
    assert tok.pad_token is not None and tok.padding_side == "right"
    left = setup_tokenizer(tiny_lm_path, padding_side="left", model_max_length=128, chat_template="chatml")
    assert left.padding_side == "left" and left.model_max_length == 128 and left.chat_template == CHATML_TEMPLATE
    left.chat_template = None
    left.pad_token = None
    again = setup_tokenizer(left)  # falls back to ChatML and to EOS for padding
    assert again.chat_template == CHATML_TEMPLATE and again.pad_token == again.eos_token
    with pytest.raises(ValueError, match="padding_side"):
        setup_tokenizer(again, padding_side="middle")


def test_prompt_completion_records():
    recs = [{"q": "2+2?", "a": "4", "gold": 4}]
    conv = prompt_completion_records(recs, prompt_key="q", completion_key="a", system="Be brief.", keep=["gold"])
    assert conv == [{"prompt": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "2+2?"}],
                     "completion": [{"role": "assistant", "content": "4"}], "gold": 4}]
    plain = prompt_completion_records(recs, prompt_key="q", completion_key="a", conversational=False)
    assert plain == [{"prompt": "2+2?", "completion": "4"}]
    with pytest.raises(KeyError, match="'a'"):
        prompt_completion_records([{"q": "x"}], prompt_key="q", completion_key="a")


def test_tokenize_prompt_completion_masks_the_prompt(tok):
    msgs = [{"role": "user", "content": "What is 2 + 3?"}]
    enc = tokenize_prompt_completion(tok, msgs, [{"role": "assistant", "content": "2 + 3 = 5"}])
    ids, labels, cm = enc["input_ids"], enc["labels"], enc["completion_mask"]
    assert len(ids) == len(labels) == len(cm) == len(enc["attention_mask"])
    n_prompt = cm.index(1)
    assert all(lab == -100 for lab in labels[:n_prompt]) and labels[n_prompt:] == ids[n_prompt:]
    assert tok.decode(ids[:n_prompt]) == tok.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)
    assert tok.decode(ids[n_prompt:]) == "2 + 3 = 5<|im_end|>\n"
    plain = tokenize_prompt_completion(tok, "Q: 2 + 3?", " 5", max_length=100)
    assert plain["input_ids"][-1] == tok.eos_token_id and plain["labels"][-1] == tok.eos_token_id
    n = plain["completion_mask"].index(1)
    assert tok.decode(plain["input_ids"][:n]) == "Q: 2 + 3?"
    short = tokenize_prompt_completion(tok, "Q: 2 + 3?", " 5", max_length=3)
    assert len(short["input_ids"]) == 3 and all(lab == -100 for lab in short["labels"])
    with pytest.raises(TypeError):
        tokenize_prompt_completion(tok, "Q", [{"role": "assistant", "content": "A"}])


def test_assistant_only_mask_matches_generation_markers(tok):
    msgs = [{"role": "system", "content": "Add."}, {"role": "user", "content": "1 + 2?"},
            {"role": "assistant", "content": "3"}, {"role": "user", "content": "2 + 2?"},
            {"role": "assistant", "content": "4"}]
    enc = assistant_only_mask(tok, msgs)
    assert tok.decode(enc["input_ids"]) == tok.apply_chat_template(msgs, tokenize=False)
    trained = [t for t, m in zip(enc["input_ids"], enc["assistant_masks"]) if m]
    assert tok.decode(trained) == "3<|im_end|>\n4<|im_end|>\n"
    assert [lab for lab in enc["labels"] if lab != -100] == trained
    hf = tok.apply_chat_template(msgs, return_assistant_tokens_mask=True, return_dict=True)
    assert hf["input_ids"] == enc["input_ids"]
    # transformers' {% generation %} mask is ours minus the newline after each end-of-turn token
    assert all(m >= h for m, h in zip(enc["assistant_masks"], hf["assistant_masks"]))
    extra = [t for t, m, h in zip(enc["input_ids"], enc["assistant_masks"], hf["assistant_masks"]) if m > h]
    assert tok.decode(extra) == "\n\n"


def test_pad_batch():
    feats = [{"input_ids": [5, 6, 7], "attention_mask": [1, 1, 1], "labels": [-100, 6, 7]},
             {"input_ids": [8], "attention_mask": [1], "labels": [8]}]
    right = pad_batch(feats, pad_token_id=0)
    assert right["input_ids"].tolist() == [[5, 6, 7], [8, 0, 0]]
    assert right["labels"].tolist() == [[-100, 6, 7], [8, -100, -100]]
    assert right["attention_mask"].tolist() == [[1, 1, 1], [1, 0, 0]]
    left = pad_batch(feats, pad_token_id=0, padding_side="left", pad_to_multiple_of=4)
    assert left["input_ids"].tolist() == [[0, 5, 6, 7], [0, 0, 0, 8]]
    assert left["attention_mask"].tolist() == [[0, 1, 1, 1], [0, 0, 0, 1]]


# ------------------------------------------------------------------------------------------------ multi-process
def _run_two_ranks(tiny_lm_path, tmp_path, mode):
    proc = launch(HERE / "training_sft_ddp.py", [tiny_lm_path, tmp_path, mode], launcher="torchrun",
                  num_processes=2, env={"OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}, check=False,
                  capture_output=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    for r, info in enumerate(ranks):
        assert info["rank"] == r and info["world_size"] == 2 and info["num_processes"] == 2
        assert info["backend"] == "gloo" and info["steps"] == 3
    a, b = ranks
    assert a["init"] == b["init"]
    assert a["final"] == b["final"], "ranks ended with different weights"
    assert a["final"] != a["init"], "training did not change the weights"
    assert a["first_batch"] != b["first_batch"], "both ranks saw the same data: not data parallel"


def test_two_process_cpu_sft_identical_weights(tiny_lm_path, tmp_path):
    """torchrun --nproc_per_node 2 + Accelerator(cpu=True) (gloo DDP): a few SFT steps, identical final weights."""
    _run_two_ranks(tiny_lm_path, tmp_path, "accelerate")


@pytest.mark.slow
def test_two_process_cpu_trl_sft_identical_weights(tiny_lm_path, tmp_path):
    """The same through TRL's SFTTrainer (slow: importing trl takes ~15 s per process)."""
    _run_two_ranks(tiny_lm_path, tmp_path, "trl")
