"""End to end: the smoke recipe, resume after a kill, the dry run of the paper recipe, in-stage training resume."""

import json
import time

import pytest
import torch
from mlrepro_mavflow.cli import main
from mlrepro_mavflow.method.renderer import MAVFlow
from mlrepro_mavflow.trainer import Prepared, train_cfm


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("smoke") / "run"
    t0 = time.time()
    assert main(["reproduce", "--recipe", "smoke", "--output-dir", str(out), "--no-export"]) == 0
    return out, time.time() - t0


def test_smoke_end_to_end(smoke_run):
    out, _ = smoke_run
    res = json.loads((out / "results.json").read_text())
    ids = {c["id"] for c in res["claims"]}
    assert {"secs_speaker_conditioning", "emotion_stream_raises_emo_acc", "dtw_lowest_with_both_streams",
            "isometric_length"} <= ids
    assert all(isinstance(c["holds"], bool) for c in res["claims"])
    assert res["seeds"] == [0] and res["wall_time_s"] > 0
    main_m = res["metrics"]["main"]
    assert {"full", "no_speaker", "no_emotion", "reference_gt"} <= set(main_m)
    assert main_m["full"]["len_err_max"] == 0 and main_m["full"]["n_nonfinite"] == 0
    kinds = {r["kind"] for r in res["metrics"]["sweep"]}
    assert kinds == {"nfe", "guidance"}
    assert res["metrics"]["pipeline_demo"]["out_frames"] == res["metrics"]["pipeline_demo"]["src_frames"]
    assert {"nfe_guidance.png", "ablation.png"} <= {p.name for p in (out / "plots").glob("*.png")}
    assert (out / "samples.jsonl").exists() and (out / "metrics.jsonl").exists()


def test_resume_skips_finished_stages(smoke_run):
    out, _ = smoke_run
    stages = out / "stages"
    done_before = {p.parent.name: p.stat().st_mtime_ns for p in stages.glob("*/DONE")}
    # simulate a kill during the sweep: the last two stages and the results are gone
    for name in ("eval_sweep", "pipeline_demo"):
        (stages / name / "DONE").unlink()
    (out / "results.json").unlink()
    assert main(["reproduce", "--recipe", "smoke", "--resume", str(out), "--no-export"]) == 0
    after = {p.parent.name: p.stat().st_mtime_ns for p in stages.glob("*/DONE")}
    for name, t in done_before.items():
        if name in ("eval_sweep", "pipeline_demo"):
            assert after[name] != t
        else:
            assert after[name] == t, f"stage {name} was redone"
    assert (out / "results.json").exists()


def test_paper_recipe_dry_run(tmp_path):
    out = tmp_path / "dry"
    assert main(["reproduce", "--recipe", "paper", "--dry-run", "--output-dir", str(out)]) == 0
    res = json.loads((out / "results.json").read_text())
    comp = res["metrics"]["components"]
    assert res["metrics"]["dry_run"] is True and "manifest" in comp["data"]
    assert comp["mavflow_sample_nested"]["net_evals"] == 6


def _tiny_prep(n=6, L=10):
    g = torch.Generator().manual_seed(0)
    return Prepared([torch.randn(8, L, generator=g) for _ in range(n)],
                    [torch.randint(5, (L,), generator=g) for _ in range(n)], torch.randn(n, 4, generator=g),
                    [torch.randn(3, L, generator=g) for _ in range(n)])


def _tiny_model():
    torch.manual_seed(0)
    return MAVFlow(5, 8, 4, 3, [8, 8], 1, 0, 0, 0.0, 8, 4, 1, p_drop_speaker=0.5, p_drop_emotion=0.5)


def test_training_resumes_from_its_checkpoint_bit_for_bit(tmp_path):
    prep = _tiny_prep()
    ref = _tiny_model()
    train_cfm(ref, prep, 6, 3, 1e-2, tmp_path / "a", seed=0, checkpoint_every=3, log_every=3)

    class Kill(Exception):
        pass

    def killer(rec):  # dies during step 4, after the step-3 checkpoint
        if rec["train_step"] == 4:
            raise Kill

    m = _tiny_model()
    (tmp_path / "b").mkdir()
    with pytest.raises(Kill):
        train_cfm(m, prep, 6, 3, 1e-2, tmp_path / "b", seed=0, checkpoint_every=3, log_every=1, log_fn=killer)
    assert (tmp_path / "b" / "ckpt.pt").exists()
    m2 = _tiny_model()
    info = train_cfm(m2, prep, 6, 3, 1e-2, tmp_path / "b", seed=0, checkpoint_every=3, log_every=3)
    assert info["resumed_from"] == 3
    for (k, a), (_, b) in zip(ref.state_dict().items(), m2.state_dict().items()):
        assert torch.allclose(a, b), k
