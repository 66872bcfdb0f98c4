"""Run by test_ddp.py under ``torchrun --nproc_per_node 2`` (gloo, CPU): a few DistiLLM-2 steps with DDP; each rank
writes a checksum of its student weights so the test can check that gradients were synchronised."""

import json
import sys

import torch


def main(out_dir: str, model_path: str) -> None:
    from datasets import Dataset
    from mlrepro_distillm2.data import pair_records
    from mlrepro_distillm2.trainer import DistiLLM2Config, DistiLLM2Trainer

    from mlrepro.testing import build_model, load_tiny

    torch.set_num_threads(1)
    student, tok = load_tiny(model_path)
    teacher = build_model(tok, hidden=32, layers=2, seed=1)
    recs, _ = pair_records([f"what is {i} plus {i}?" for i in range(8)], [f"it is {2 * i}" for i in range(8)],
                           [f"maybe {i} or {i + 1}" for i in range(8)])
    args = DistiLLM2Config(output_dir=f"{out_dir}/trainer", use_cpu=True, bf16=False, report_to="none",
                           save_strategy="no", max_steps=2, per_device_train_batch_size=2, learning_rate=1e-2,
                           gradient_checkpointing=False, ddp_backend="gloo", disable_tqdm=True,
                           dataloader_num_workers=0, seed=0, data_seed=0)
    tr = DistiLLM2Trainer(model=student, teacher_model=teacher, args=args, train_dataset=Dataset.from_list(recs),
                          processing_class=tok)
    tr.train()
    rank = tr.accelerator.process_index
    m = tr.accelerator.unwrap_model(tr.model)
    checksum = float(sum(p.detach().double().sum() for p in m.parameters()))
    with open(f"{out_dir}/rank{rank}.json", "w") as f:
        json.dump({"rank": rank, "num_processes": tr.accelerator.num_processes, "checksum": checksum,
                   "kernel": tr.kernel_mode}, f)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
