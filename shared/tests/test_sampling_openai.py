"""``openai`` backend against a real OpenAI-compatible HTTP server that the test starts on 127.0.0.1.

The server (stdlib ``http.server`` in a thread) implements ``/v1/chat/completions`` and ``/v1/completions``,
checks the bearer key, injects 429/500 failures on request, can ignore ``n``, and records the peak number of
requests in flight.
"""

from __future__ import annotations

import io
import json
import logging
import re
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from mlrepro.sampling import SamplingParams, describe_sampler, get_sampler
from mlrepro.sampling.openai_backend import OpenAIError, OpenAISampler, map_finish_reason

KEY_ENV = "MLREPRO_TEST_OPENAI_KEY"
SECRET = "sk-test-8f3b2c1d-DO-NOT-LEAK"


class FakeOpenAI:
    """State shared by the handler threads."""

    def __init__(self, key: str | None = SECRET, delay: float = 0.0):
        self.key = key
        self.delay = delay
        self.lock = threading.Lock()
        self.requests: list[dict] = []
        self.attempts: dict[str, int] = {}
        self.in_flight = 0
        self.max_in_flight = 0

    def reply(self, path: str, headers, body: dict) -> tuple[int, dict, dict]:
        with self.lock:
            self.requests.append({"path": path, "auth": headers.get("Authorization"), "body": body})
        if self.key is not None and headers.get("Authorization") != f"Bearer {self.key}":
            return 401, {}, {"error": {"message": "invalid api key", "type": "auth"}}
        if path == "/v1/chat/completions":
            prompt = body["messages"][-1]["content"]
        elif path == "/v1/completions":
            prompt = body["prompt"]
        else:
            return 404, {}, {"error": {"message": f"no route {path}"}}
        # failure injection: "FAIL<status>x<k>" fails the first k attempts of this prompt with <status>
        m = re.search(r"FAIL(\d{3})x(\d+)", prompt)
        if m:
            with self.lock:
                seen = self.attempts.get(prompt, 0)
                self.attempts[prompt] = seen + 1
            if seen < int(m.group(2)):
                return int(m.group(1)), {"Retry-After": "0"}, {"error": {"message": "injected failure"}}
        if "BADREQUEST" in prompt:
            return 400, {}, {"error": {"message": "bad request, no retry"}}
        n = 1 if body["model"] == "ignores-n" else int(body.get("n", 1))
        max_tokens = int(body.get("max_tokens", 16))
        choices, total = [], 0
        for i in range(n):
            words = f"echo {prompt} sample {i} seed {body.get('seed')} done".split()
            finish = "stop"
            if len(words) > max_tokens:
                words, finish = words[:max_tokens], "length"
            text = " ".join(words)
            for s in body.get("stop") or []:
                if s in text:
                    text, finish = text[: text.find(s)], "stop"
            toks = text.split(" ")
            total += len(toks)
            as_ids = body.get("return_tokens_as_token_ids")
            tokens = [f"token_id:{100 + k}" if as_ids else t for k, t in enumerate(toks)]
            if path == "/v1/chat/completions":
                ch = {"index": i, "message": {"role": "assistant", "content": text}, "finish_reason": finish}
                if body.get("logprobs"):
                    ch["logprobs"] = {"content": [{"token": t, "logprob": -0.25 * (k + 1), "top_logprobs": []}
                                                  for k, t in enumerate(tokens)]}
            else:
                ch = {"index": i, "text": text, "finish_reason": finish}
                if body.get("logprobs"):
                    ch["logprobs"] = {"tokens": tokens, "token_logprobs": [-0.5] * len(tokens)}
            choices.append(ch)
        choices.reverse()  # servers may return choices out of order; the client sorts by index
        return 200, {}, {"id": "x", "object": "chat.completion", "model": body["model"], "choices": choices,
                         "usage": {"completion_tokens": total}}


def _handler(state: FakeOpenAI):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):  # keep test output quiet
            pass

        def do_POST(self):  # noqa: N802
            with state.lock:
                state.in_flight += 1
                state.max_in_flight = max(state.max_in_flight, state.in_flight)
            try:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                if state.delay:
                    time.sleep(state.delay)
                status, extra, payload = state.reply(self.path, self.headers, body)
            finally:
                with state.lock:
                    state.in_flight -= 1
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for k, v in extra.items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)

    return Handler


@pytest.fixture
def server():
    """Yield a factory ``start(**state_kwargs) -> (state, base_url)``; servers are shut down afterwards."""
    started = []

    def start(**kw):
        state = FakeOpenAI(**kw)
        httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
        httpd.daemon_threads = True
        t = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        t.start()
        started.append(httpd)
        return state, f"http://127.0.0.1:{httpd.server_address[1]}/v1"

    yield start
    for h in started:
        h.shutdown()
        h.server_close()


@pytest.fixture
def key_env(monkeypatch):
    monkeypatch.setenv(KEY_ENV, SECRET)
    return KEY_ENV


def _sampler(url, **kw):
    kw.setdefault("api_key_env", KEY_ENV)
    kw.setdefault("backoff_base", 0.001)
    return OpenAISampler("tiny-chat", base_url=url, **kw)


def test_chat_n_finish_and_auth_header(server, key_env):
    state, url = server()
    s = get_sampler("openai", model="tiny-chat", base_url=url, api_key_env=key_env)
    msgs = [{"role": "system", "content": "sys"}, {"role": "user", "content": "hello"}]
    out = s.generate([msgs, "plain"], SamplingParams(n=3, temperature=0.7, max_new_tokens=32))
    assert [len(r) for r in out] == [3, 3]
    assert [c.text for c in out[0]] == [f"echo hello sample {i} seed None done" for i in range(3)]
    assert all(c.finish_reason == "stop" for r in out for c in r)
    assert all(r["auth"] == f"Bearer {SECRET}" for r in state.requests)
    bodies = sorted((r["body"] for r in state.requests), key=lambda b: b["messages"][-1]["content"])
    assert bodies[0]["messages"] == msgs and bodies[0]["n"] == 3 and bodies[0]["max_tokens"] == 32
    # string prompts default to chat: wrapped as one user message
    assert bodies[1]["messages"] == [{"role": "user", "content": "plain"}]
    assert {r["path"] for r in state.requests} == {"/v1/chat/completions"}
    info = describe_sampler(s)
    assert info["backend"] == "openai" and info["requested"] == "openai" and info["base_url"] == url


def test_completions_endpoint_length_logprobs_and_token_ids(server, key_env):
    state, url = server()
    s = _sampler(url, string_prompts="completions", extra_body={"return_tokens_as_token_ids": True})
    out = s.generate(["one two three four five"], SamplingParams(max_new_tokens=3, logprobs=True))
    c = out[0][0]
    assert state.requests[0]["path"] == "/v1/completions" and state.requests[0]["body"]["logprobs"] == 1
    assert c.text == "echo one two" and c.finish_reason == "length"
    assert c.token_ids == [100, 101, 102] and c.logprobs == [-0.5] * 3 and c.num_tokens == 3
    # chat with logprobs, no token ids: token count comes from the logprob entries
    s2 = _sampler(url)
    c2 = s2.generate(["x y"], SamplingParams(logprobs=True, max_new_tokens=50))[0][0]
    assert c2.token_ids == [] and c2.num_tokens == len(c2.logprobs) == len(c2.text.split(" "))
    assert c2.logprobs[:2] == [-0.25, -0.5]
    # without logprobs, a single choice takes its count from usage.completion_tokens
    c3 = s2.generate(["x y"], SamplingParams(max_new_tokens=50))[0][0]
    assert c3.logprobs is None and c3.num_tokens == len(c3.text.split(" "))


def test_stop_strings_and_seeds(server, key_env):
    state, url = server()
    s = _sampler(url)
    stops = ["zzz1", "zzz2", "zzz3", "zzz4", "sample"]
    out = s.generate(["p0", "p1"], SamplingParams(n=2, stop=stops, seed=11))
    # only 4 stop strings go to the server; the fifth is applied by the client
    assert all(len(r["body"]["stop"]) == 4 for r in state.requests)
    assert all(c.text == f"echo p{i} " and c.finish_reason == "stop" for i, r in enumerate(out) for c in r)
    seeds = {r["body"]["messages"][-1]["content"]: r["body"]["seed"] for r in state.requests}
    assert seeds["p0"] != seeds["p1"]
    state.requests.clear()
    s.generate(["p0", "p1"], SamplingParams(n=2, stop=stops, seed=11))
    assert {r["body"]["messages"][-1]["content"]: r["body"]["seed"] for r in state.requests} == seeds


def test_n_fallback_when_server_ignores_n(server, key_env):
    state, url = server()
    s = OpenAISampler("ignores-n", base_url=url, api_key_env=key_env)
    out = s.generate(["q"], SamplingParams(n=3, seed=1))
    assert len(out[0]) == 3
    assert [r["body"]["n"] for r in state.requests] == [3, 2, 1]
    assert len({r["body"]["seed"] for r in state.requests}) == 3  # each extra request gets its own seed


def test_retries_on_429_and_500_then_success(server, key_env):
    state, url = server()
    s = _sampler(url)
    out = s.generate(["ok FAIL429x2", "ok FAIL500x1", "ok FAIL503x3"], SamplingParams())
    assert [r[0].text.split()[1:3] for r in out] == [["ok", "FAIL429x2"], ["ok", "FAIL500x1"], ["ok", "FAIL503x3"]]
    assert s.stats["retries"] == 6 and s.stats["failures"] == 0
    assert state.attempts == {"ok FAIL429x2": 3, "ok FAIL500x1": 2, "ok FAIL503x3": 4}


def test_gives_up_after_max_retries_and_no_retry_on_400(server, key_env):
    state, url = server()
    s = _sampler(url, max_retries=2)
    with pytest.raises(OpenAIError) as e:
        s.generate(["FAIL500x9"], SamplingParams())
    assert e.value.status == 500 and state.attempts["FAIL500x9"] == 3
    with pytest.raises(OpenAIError) as e:
        s.generate(["BADREQUEST"], SamplingParams())
    assert e.value.status == 400 and "bad request" in str(e.value)
    assert sum(1 for r in state.requests if "BADREQUEST" in json.dumps(r["body"])) == 1


def test_connection_errors_are_retried(key_env):
    with socket.socket() as sock:  # a port with nobody listening
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    s = _sampler(f"http://127.0.0.1:{port}/v1", max_retries=2, timeout=2)
    with pytest.raises(OpenAIError, match="connection failed after 3 attempt"):
        s.generate(["x"], SamplingParams())
    assert s.stats["retries"] == 2


def test_concurrency_limit(server, key_env):
    state, url = server(delay=0.15)
    s = _sampler(url, max_concurrency=3)
    t0 = time.time()
    out = s.generate([f"p{i}" for i in range(9)], SamplingParams())
    elapsed = time.time() - t0
    assert [r[0].text.split()[1] for r in out] == [f"p{i}" for i in range(9)]  # order kept
    assert state.max_in_flight == 3
    assert elapsed >= 3 * 0.15 * 0.9  # 9 requests, 3 at a time


def test_key_never_leaks(server, key_env):
    state, url = server()
    records = io.StringIO()
    handler = logging.StreamHandler(records)
    logger = logging.getLogger("mlrepro")
    logger.addHandler(handler)
    try:
        s = _sampler(url, max_retries=1)
        s.generate(["FAIL429x1 then fine"], SamplingParams())  # logs a retry warning
        with pytest.raises(OpenAIError) as e:
            s.generate(["FAIL500x5"], SamplingParams())
        # wrong key: 401, not retried
        state.key = "another-key"
        with pytest.raises(OpenAIError) as e401:
            s.generate(["x"], SamplingParams())
    finally:
        logger.removeHandler(handler)
    assert "retry" in records.getvalue()
    assert e401.value.status == 401 and state.requests[-1]["auth"] == f"Bearer {SECRET}"
    texts = [records.getvalue(), repr(s), str(s), json.dumps(describe_sampler(s)), str(e.value), str(e401.value),
             repr(vars(s)), json.dumps(s.stats)]
    assert not any(SECRET in t for t in texts)


def test_missing_key(monkeypatch, server):
    monkeypatch.delenv(KEY_ENV, raising=False)
    with pytest.raises(ValueError, match=KEY_ENV):
        OpenAISampler("m", base_url="https://api.example.com/v1", api_key_env=KEY_ENV)
    monkeypatch.delenv("MLREPRO_TEST_BASE_URL", raising=False)
    with pytest.raises(ValueError, match=KEY_ENV):  # default base URL is the (remote) OpenAI API
        OpenAISampler("m", api_key_env=KEY_ENV, base_url_env="MLREPRO_TEST_BASE_URL")
    # a loopback server needs no key: no Authorization header is sent
    state, url = server(key=None)
    monkeypatch.setenv("MLREPRO_TEST_BASE_URL", url)
    s = OpenAISampler("m", api_key_env=KEY_ENV, base_url_env="MLREPRO_TEST_BASE_URL")
    assert s.base_url == url
    assert s.generate(["hi"], SamplingParams())[0][0].text.startswith("echo hi")
    assert state.requests[0]["auth"] is None


def test_finish_reason_mapping():
    assert map_finish_reason("stop") == map_finish_reason("eos") == map_finish_reason(None) == "stop"
    assert map_finish_reason("length") == map_finish_reason("max_tokens") == "length"
    assert map_finish_reason("content_filter") == "content_filter"
    with pytest.raises(ValueError):
        OpenAISampler("m", base_url="http://127.0.0.1:1/v1", string_prompts="nope")


@pytest.mark.api
def test_real_endpoint_smoke():
    """Opt-in (``-m api``, needs OPENAI_API_KEY; OPENAI_BASE_URL and MLREPRO_OPENAI_TEST_MODEL optional)."""
    import os

    s = get_sampler("openai", model=os.environ.get("MLREPRO_OPENAI_TEST_MODEL", "gpt-4o-mini"), max_retries=2)
    out = s.generate([[{"role": "user", "content": "Reply with the single word: ok"}]],
                     SamplingParams(n=2, temperature=0, max_new_tokens=5, logprobs=True))
    assert len(out[0]) == 2 and all(c.text for c in out[0])
    assert all(c.finish_reason in ("stop", "length") for c in out[0])
