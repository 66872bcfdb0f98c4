"""The same protocol with a tiny local transformers model (hf backend): a random tiny LM cannot answer in JSON, so
every reply must be counted unparseable, retried, given up, and the arena must fall back to a random legal move."""

import numpy as np
import pytest
from mlrepro_dreamad.agents import MethodAgent, OptimalAgent
from mlrepro_dreamad.evaluate import play_game
from mlrepro_dreamad.games import make_game
from mlrepro_dreamad.llm import LLM
from mlrepro_dreamad.method import MethodParams, decide


@pytest.fixture(scope="module")
def tiny_llm():
    pytest.importorskip("mlrepro.sampling.hf")
    from mlrepro.sampling import get_sampler
    from mlrepro.testing import tiny_lm

    path = tiny_lm(arch="qwen2")  # cached under $MLREPRO_CACHE (built once, about 3 s on an idle machine)
    s = get_sampler("hf", model=str(path), device="cpu")
    return LLM(s, name="tiny", max_new_tokens=12, seed=0, max_parse_retries=1)


def test_tiny_model_unparseable_is_counted(tiny_llm):
    g = make_game("nim")
    d = decide("react", g, g.start(), tiny_llm, MethodParams())
    assert d.action is None
    assert d.calls == {"budget": 1, "calls": 1, "retries": 1, "total_calls": 2, "unparseable": 2, "gave_up": 1}


def test_tiny_model_in_the_arena_falls_back(tiny_llm):
    g = make_game("chomp", rows=3, cols=3)
    rec = play_game(g, MethodAgent("react", tiny_llm, MethodParams()), OptimalAgent(), np.random.default_rng(0),
                    policy="official", max_retries=1)
    assert rec.fallback[0] == rec.agent_decisions // 2 and rec.agent_unparseable >= rec.agent_decisions
