"""Recipes, CLI, dry run, smoke run end to end, resume, and training resume."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from mlrepro_smart.cli import main
from mlrepro_smart.config import Config

from mlrepro.config import ConfigError, load_config
from mlrepro.runs.cli import recipes_dir_of

RECIPES = recipes_dir_of("mlrepro_smart")


@pytest.mark.parametrize("recipe", ["paper", "mini", "smoke"])
def test_recipes_load(recipe):
    cfg = load_config(Config, recipe, recipes_dir=RECIPES)
    assert cfg.search.settings and cfg.search.scorers
    if recipe == "paper":
        assert cfg.models.slm.name_or_path == "Qwen/Qwen2.5-1.5B-Instruct"
        assert cfg.models.prm.name_or_path == "RLHFlow/Llama3.1-8B-PRM-Deepseek-Data"
        assert cfg.data.source == "math500" and cfg.search.tau == 0.9 and cfg.expected
        assert not cfg.trains_models
    else:
        assert cfg.trains_models
        assert 0.0 in cfg.search.taus and max(cfg.search.taus) > 1.0


def test_bad_keys_and_values_fail():
    with pytest.raises(ConfigError, match="tauz"):
        load_config(Config, "mini", ["search.tauz=1"], recipes_dir=RECIPES)
    with pytest.raises(ConfigError, match="agg_strategy"):
        load_config(Config, "mini", ["search.agg_strategy=mean"], recipes_dir=RECIPES)
    with pytest.raises(ConfigError, match="data.source"):
        load_config(Config, "mini", ["data.source=aime"], recipes_dir=RECIPES)
    with pytest.raises(ConfigError, match="search.settings"):
        load_config(Config, "mini", ["search.settings.0.beam_width=9"], recipes_dir=RECIPES)
    with pytest.raises(ConfigError, match="models"):
        load_config(Config, "mini", ["models.slm.name_or_path=Qwen/x"], recipes_dir=RECIPES)
    with pytest.raises(ConfigError):
        load_config(Config, "mini", ["search.n=abc"], recipes_dir=RECIPES)
    with pytest.raises(ConfigError, match="headline_selection"):
        load_config(Config, "mini", ["eval.headline_selection=best"], recipes_dir=RECIPES)


def test_print_config(capsys):
    assert main(["print-config", "--recipe", "paper"]) == 0
    out = capsys.readouterr().out
    assert "RLHFlow/Llama3.1-8B-PRM-Deepseek-Data" in out
    assert main(["print-config", "--recipe", "mini", "search.nope=1"]) == 2


def test_dry_run_paper(tmp_path):
    assert main(["reproduce", "--recipe", "paper", "--dry-run", "--output-dir", str(tmp_path / "d")]) == 0
    assert not (tmp_path / "d" / "results.json").exists()


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("smoke") / "run"
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    assert main(["reproduce", "--recipe", "smoke", "--output-dir", str(out)]) == 0
    return out


def test_smoke_end_to_end(smoke_run):
    res = json.loads((smoke_run / "results.json").read_text())
    ids = {c["id"] for c in res["claims"]}
    assert {"tau0_reproduces_slm_only_bon_prm", "tau0_reproduces_slm_only_bon_conf",
            "tau_max_is_per_step_llm_bon_prm", "smart_bon_conf_near_llm_accuracy_with_fewer_llm_tokens"} <= ids
    for c in res["claims"]:
        assert isinstance(c["holds"], bool)
    by = {c["id"]: c for c in res["claims"]}
    assert by["tau0_reproduces_slm_only_bon_prm"]["holds"]  # exact by construction (same seeds)
    runs = res["metrics"]["runs"]
    assert runs["bon-prm-smart-tau0"]["llm_tokens"] == 0
    assert runs["bon-prm-llm_only"]["slm_tokens"] == 0
    assert runs["bon-conf-smart-tau1.01"]["llm_tokens"] > 0
    assert set(res["metrics"]["headline"]) >= {"max_accuracy_ratio", "max_llm_token_reduction"}
    assert (smoke_run / "plots" / "tradeoff_bon.png").exists()
    assert (smoke_run / "samples.jsonl").exists()
    assert res["seeds"] == [0] and res["wall_time_s"] > 0


def test_resume_skips_done_stages(smoke_run):
    stages = smoke_run / "stages"
    before = {p.name: (p / "DONE").stat().st_mtime_ns for p in stages.iterdir()}
    last = stages / "run_beam-conf-smart-tau0.9"
    old = json.loads((last / "output.json").read_text())
    (last / "DONE").unlink()  # as if the run had been killed during this stage
    (smoke_run / "results.json").unlink()
    assert main(["reproduce", "--recipe", "smoke", "--resume", str(smoke_run)]) == 0
    after = {p.name: (p / "DONE").stat().st_mtime_ns for p in stages.iterdir()}
    redone = {k for k in before if after[k] != before[k]}
    assert redone == {"run_beam-conf-smart-tau0.9"}
    assert json.loads((last / "output.json").read_text())["texts"] == old["texts"]  # same seeds, same outputs
    assert (smoke_run / "results.json").exists()


def test_training_resumes_from_checkpoint(tmp_path):
    import torch
    from mlrepro_smart.data import make_world
    from mlrepro_smart.trainer import build_world_tokenizer, lm_examples, train_lm

    from mlrepro.testing import build_model

    torch.set_num_threads(1)
    recs = make_world(40, 0, max_value=15, max_operand=3, kinds=("add", "sub"))
    tok = build_world_tokenizer([r["question"] + "\n" + r["solution"] for r in recs], 300)
    ex = lm_examples(recs, tok)

    def fresh():
        return build_model(tok, layers=1, hidden=16, heads=4, kv_heads=2, max_position=128, seed=0)

    full = fresh()
    train_lm(full, ex, tok.pad_token_id, steps=6, batch_size=4, lr=1e-2, warmup=2, seed=0)

    class Boom(list):
        calls = 0

        def __getitem__(self, i):
            Boom.calls += 1
            if Boom.calls > 4 * 4:  # dies during step 5 (4 examples per step)
                raise KeyboardInterrupt
            return super().__getitem__(i)

    part = fresh()
    with pytest.raises(KeyboardInterrupt):
        train_lm(part, Boom(ex), tok.pad_token_id, steps=6, batch_size=4, lr=1e-2, warmup=2, seed=0,
                 ckpt_dir=tmp_path, ckpt_every=2)
    assert (tmp_path / "ckpt.pt").exists()
    resumed = fresh()
    stats = train_lm(resumed, ex, tok.pad_token_id, steps=6, batch_size=4, lr=1e-2, warmup=2, seed=0,
                     ckpt_dir=tmp_path, ckpt_every=2)
    assert stats["resumed_from"] == 4
    for a, b in zip(full.state_dict().values(), resumed.state_dict().values()):
        assert torch.allclose(a, b, atol=1e-6)
    assert Path(tmp_path / "ckpt.pt").exists()
