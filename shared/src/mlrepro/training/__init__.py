"""Training glue: accelerate/DeepSpeed launcher configs by short name, a launch helper, TRL tokenizer/masking glue.

Launcher configs (package data in ``mlrepro/training/configs/``, resolved with ``importlib.resources``):

* ``ddp``: PyTorch DDP on the GPUs of one machine, bf16;
* ``zero2``: DeepSpeed ZeRO-2; ``zero3``: ZeRO-3 (16-bit weights gathered on save); ``zero3_offload``: ZeRO-3 with
  optimizer states and parameters offloaded to CPU. The DeepSpeed ones need the ``deepspeed`` extra (Linux);
  deepspeed is never imported by this module (only looked up with ``importlib.util.find_spec`` before a launch).

API
---
``accelerate_config_path(name) -> Path``: short name (or existing YAML path) -> file path; ``ValueError`` otherwise.
``list_accelerate_configs() -> list[str]``; ``load_accelerate_config(name) -> dict``; ``uses_deepspeed(name)``.
``build_launch_command(entry, args=(), *, config="ddp", num_processes=None, launcher="accelerate"|"torchrun",
main_process_port=None, mixed_precision=None, cpu=False, extra_launch_args=(), python=None) -> list[str]``:
    ``entry`` is a module (``mlrepro_<slug>.cli``, run with ``-m``) or a ``.py`` script. Example::

        build_launch_command("mlrepro_distillm2.cli", ["train", "--recipe", "paper"], config="zero3")
        # [python, -m, accelerate.commands.launch, --config_file, .../zero3.yaml, --num_processes, <#GPUs>,
        #  -m, mlrepro_distillm2.cli, train, --recipe, paper]

``launch(entry, args=(), *, config="ddp", num_processes=None, launcher="accelerate", env=None, cwd=None,
dry_run=False, check=True, timeout=None, capture_output=False, **build_kwargs)``: runs it (``subprocess.run``).

Multi-process runs on CPU: ``accelerate launch --cpu --num_processes 2`` starts ONE process on a machine without
MPI, so CPU tests use ``launcher="torchrun"`` (``torch.distributed.run --standalone --nproc_per_node N``) with
``Accelerator(cpu=True)`` (gloo) in the script, which should assert ``accelerator.num_processes == N``.

TRL glue (:mod:`mlrepro.training.text`): ``setup_tokenizer``, ``CHATML_TEMPLATE``, ``prompt_completion_records``
(records -> TRL prompt-completion format), ``tokenize_prompt_completion`` (completion-only labels),
``assistant_only_mask`` (assistant-only labels for conversations), ``pad_batch``.
"""

from .launch import (
    CONFIG_NAMES,
    DEEPSPEED_CONFIGS,
    accelerate_config_path,
    build_launch_command,
    launch,
    list_accelerate_configs,
    load_accelerate_config,
    require_deepspeed,
    uses_deepspeed,
)
from .text import (
    CHATML_TEMPLATE,
    IGNORE_INDEX,
    assistant_only_mask,
    pad_batch,
    prompt_completion_records,
    setup_tokenizer,
    tokenize_prompt_completion,
)

__all__ = [
    "CONFIG_NAMES", "DEEPSPEED_CONFIGS", "accelerate_config_path", "list_accelerate_configs", "load_accelerate_config",
    "uses_deepspeed", "require_deepspeed", "build_launch_command", "launch",
    "CHATML_TEMPLATE", "IGNORE_INDEX", "setup_tokenizer", "prompt_completion_records", "tokenize_prompt_completion",
    "assistant_only_mask", "pad_batch",
]
