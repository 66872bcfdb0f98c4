"""Two gloo processes on CPU (torchrun, conventions §9): the fused loss path runs through the DDP wrapper's forward
(``_ForwardRedirection``), so gradients are all-reduced and both ranks end with identical weights."""

import json
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.slow
def test_two_process_ddp_keeps_ranks_in_sync(tmp_path, tiny_lm_path):
    script = Path(__file__).with_name("ddp_script.py")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", str(script),
           str(tmp_path), str(tiny_lm_path)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900,
                          env={**__import__("os").environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert all(r["num_processes"] == 2 for r in ranks) and ranks[0]["kernel"] == "fused"
    assert ranks[0]["checksum"] == pytest.approx(ranks[1]["checksum"], rel=1e-9, abs=1e-9)
