import json
from dataclasses import dataclass, field
from typing import Any

import pytest

from mlrepro.runs import (
    RunDir,
    atomic_write_json,
    atomic_write_jsonl,
    claim,
    compare_expected,
    read_json,
    read_jsonl,
    to_jsonable,
)
from mlrepro.runs.cli import make_main


def test_atomic_write_leaves_no_temp(tmp_path):
    p = atomic_write_json(tmp_path / "a" / "r.json", {"x": 1.5, "nan": float("nan")})
    assert read_json(p) == {"x": 1.5, "nan": None}
    assert [q.name for q in p.parent.iterdir()] == ["r.json"]


def test_atomic_write_jsonl_roundtrip(tmp_path):
    import numpy as np

    rows = [{"a": 1, "t": (1, 2)}, {"x": np.float32(0.5), "nan": float("nan")}]
    p = atomic_write_jsonl(tmp_path / "s" / "rows.jsonl", (r for r in rows))
    assert read_jsonl(p) == [{"a": 1, "t": [1, 2]}, {"x": 0.5, "nan": None}]
    assert p.read_text().count("\n") == 2 and [q.name for q in p.parent.iterdir()] == ["rows.jsonl"]


def test_atomic_write_failure_keeps_old(tmp_path, monkeypatch):
    p = atomic_write_json(tmp_path / "r.json", {"v": 1})
    import mlrepro.runs.io as io

    def boom(fd):
        raise OSError("disk full")

    monkeypatch.setattr(io.os, "fsync", boom)
    with pytest.raises(OSError):
        atomic_write_json(p, {"v": 2})
    assert read_json(p) == {"v": 1}  # the old file is intact
    assert [q.name for q in tmp_path.iterdir()] == ["r.json"]  # and no temporary file is left


def test_to_jsonable_numpy_torch():
    import numpy as np
    import torch

    assert to_jsonable({"a": np.float32(1.5), "b": np.arange(3), "c": torch.tensor([1, 2])}) == {"a": 1.5, "b": [0, 1, 2], "c": [1, 2]}


def test_claims_and_expected():
    c = claim("c1", "x beats y", 0.5, 0.7, 0.7 > 0.5)
    assert c.to_dict()["holds"] is True
    cmp = compare_expected([{"metric": "acc.mean", "value": 0.5, "tolerance": 0.1}], {"acc": {"mean": 0.55}})
    assert cmp[0]["measured"] == 0.55 and cmp[0]["within_tolerance"] is True
    assert compare_expected([{"metric": "missing", "value": 1, "tolerance": 0}], {})[0]["measured"] is None


def test_stages_resume(tmp_path):
    run = RunDir.create("demo", "mini", root=tmp_path)
    run.write_config("seed: 0\n")
    calls = []

    def stage_a(d):
        calls.append("a")
        (d / "artifact.txt").write_text("ok")
        return {"value": 1}

    assert run.stage("a", stage_a) == {"value": 1}
    with pytest.raises(RuntimeError):
        run.stage("b", lambda d: (_ for _ in ()).throw(RuntimeError("killed")))
    assert not run.stage_done("b")
    run2 = RunDir.open(run.path)
    assert run2.stage("a", stage_a) == {"value": 1}
    assert calls == ["a"]  # not redone
    assert run2.stage("b", lambda d: {"b": 2}) == {"b": 2}


@dataclass
class DemoConfig:
    seed: int = 0
    steps: int = 3
    report_to: str = "none"
    expected: list[dict[str, Any]] = field(default_factory=list)


def _demo_main(tmp_path, monkeypatch, fail_at=None):
    rd = tmp_path / "pkg" / "recipes"
    rd.mkdir(parents=True, exist_ok=True)
    (rd / "mini.yaml").write_text("steps: 3\nexpected:\n  - {metric: total, value: 3, tolerance: 0}\n")
    import mlrepro.runs.cli as cli

    monkeypatch.setattr(cli, "recipes_dir_of", lambda package: rd)
    monkeypatch.setenv("MLREPRO_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.chdir(tmp_path)
    done = []

    def reproduce(cfg, run, args):
        for i in range(cfg.steps):
            def body(d, i=i):
                if fail_at is not None and i == fail_at:
                    raise KeyboardInterrupt
                done.append(i)
                return {"i": i}

            run.stage(f"step{i}", body)
            run.log_metrics({"i": i}, step=i)
        res = run.write_results({"total": len(list((run.path / "stages").iterdir()))},
                                claims=[claim("c", "three stages", 3, cfg.steps, cfg.steps == 3)], expected=cfg.expected, seeds=[cfg.seed])
        return res

    return make_main("demo", DemoConfig, {"reproduce": reproduce}, package="mlrepro"), done


def test_cli_run_contract_and_resume(tmp_path, monkeypatch, capsys):
    main, done = _demo_main(tmp_path, monkeypatch, fail_at=2)
    with pytest.raises(KeyboardInterrupt):
        main(["reproduce", "--recipe", "mini", "--seed", "7"])
    assert done == [0, 1]
    main2, done2 = _demo_main(tmp_path, monkeypatch)
    assert main2(["reproduce", "--recipe", "mini", "--resume"]) == 0
    assert done2 == [2]  # stages 0 and 1 were not redone
    run = next((tmp_path / "runs" / "demo" / "mini").iterdir())
    for f in ("config.yaml", "env.json", "metrics.jsonl", "results.json"):
        assert (run / f).exists(), f
    res = read_json(run / "results.json")
    assert res["seeds"] == [7] and res["claims"][0]["holds"] is True and res["expected"][0]["within_tolerance"] is True
    env = read_json(run / "env.json")
    assert "versions" in env and "previous_attempts" in env
    steps = [r["step"] for r in read_jsonl(run / "metrics.jsonl")]
    assert steps == [0, 1, 0, 1, 2]  # the killed attempt's lines are kept, the resumed run appends
    out = capsys.readouterr().out
    assert "holds" in out and "run directory" in out


def test_cli_bad_override_exit_code(tmp_path, monkeypatch, capsys):
    main, _ = _demo_main(tmp_path, monkeypatch)
    assert main(["reproduce", "--recipe", "mini", "stepz=3"]) == 2
    assert "stepz" in capsys.readouterr().err
    assert main(["print-config", "--recipe", "mini", "steps=5"]) == 0
    assert "steps: 5" in capsys.readouterr().out


def test_env_json_has_no_secrets(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret-test-value")
    run = RunDir.create("demo", "mini", root=tmp_path)
    run.write_env(argv=["x"])
    assert "sk-secret-test-value" not in (run.path / "env.json").read_text()
    assert json.loads((run.path / "env.json").read_text())["command"] == ["x"]
