"""Fuzz suite, the embedding API's corpus: Hypothesis calls `start_server` and `serve` with one
keyword argument of a wrong type or out of range (NaN and infinities where a number belongs, a
string or bytes where a list or a number belongs, lists of mixed items, negative sizes) and the
rest valid. Each call must raise TypeError or ValueError with one line that starts with the
argument's name, before anything starts: no port bound, no workspace made. The TypeScript half
(spawnWorker, connectWorker, attackSpec) is in test/suites/fuzz.suite.ts.

Run: `npm run test:fuzz`, or `node scripts/pytest.mjs -m suite tests/suites/test_fuzz_embedding.py`.
ROBUSTSEG_FUZZ_EXAMPLES sets the examples per function (default 24)."""

import json
import math
import os
from collections import Counter

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from robustseg_worker import embedding

pytestmark = pytest.mark.suite

EXAMPLES = int(os.environ.get("ROBUSTSEG_FUZZ_EXAMPLES", "24"))
TALLY: Counter = Counter()

not_finite = st.sampled_from([math.nan, math.inf, -math.inf])
wrong_number = st.one_of(not_finite, st.sampled_from(["10", b"10", [], {}, None]), st.integers(max_value=0))
wrong_count = st.one_of(not_finite, st.sampled_from(["10", 2.5, [], True]), st.integers(max_value=-1))
wrong_path = st.sampled_from([0, 3.5, b"/data", [], {}, True])
wrong_path_list = st.sampled_from([7, b"/data", ["ok", 3], [None], [b"/x"], {"a": 1}, ["", "ok"]])
wrong_flag = st.sampled_from(["yes", 1, 0, None, [], "true"])
wrong_text = st.sampled_from([0, b"x", [], {}, True])

# keyword -> what it must not be; None is allowed for several optional keywords, so it is left
# out of their wrong values.
WRONG = {
    "workspace": wrong_path,
    "listen": st.sampled_from([0, b"127.0.0.1:0", [], None]),
    "token": wrong_text,
    "device": st.sampled_from(["gpu", "cuda:x", "tpu:0", 0, None]),
    "tls_cert": wrong_path,
    "insecure": wrong_flag,
    "data_roots": wrong_path_list,
    "max_message_mb": wrong_count,
    "threads": st.one_of(not_finite, st.sampled_from(["2", 1.5, [], -1])),
    "max_image_pixels": st.one_of(not_finite, st.sampled_from(["9", 2.5, -1, 0])),
    "max_memory_gb": st.one_of(not_finite, st.sampled_from(["1", -1.0, 0, 1e9])),
}


def check_refusal(function, tmp_path, keyword, value):
    workspace = tmp_path / f"ws-{TALLY['calls']}"
    TALLY["calls"] += 1
    arguments = {"workspace": workspace, "listen": "127.0.0.1:0", "device": "cpu", keyword: value}
    if keyword == "workspace":
        arguments["workspace"] = value
    with pytest.raises((TypeError, ValueError)) as caught:
        result = function(**arguments)
        # Accepted: stop what was started before failing the case.
        if hasattr(result, "stop"):
            result.stop(0)
    message = str(caught.value)
    assert "\n" not in message, f"{keyword}={value!r}: more than one line: {message!r}"
    assert message.startswith(keyword), f"{keyword}={value!r}: does not name {keyword}: {message!r}"
    assert not workspace.exists(), f"{keyword}={value!r}: the workspace was made"
    TALLY[keyword] += 1


@pytest.fixture(scope="module", autouse=True)
def report():
    yield
    path = os.environ.get("ROBUSTSEG_SUITE_REPORT")
    if path:
        with open(path, "a", encoding="utf-8") as f:
            f.write(json.dumps({"suite": "fuzz-embedding", "inputs": dict(TALLY)}) + "\n")


@settings(max_examples=EXAMPLES, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_start_server_refuses_one_wrong_argument_by_name(tmp_path, data):
    keyword = data.draw(st.sampled_from(sorted(WRONG)))
    check_refusal(embedding.start_server, tmp_path, keyword, data.draw(WRONG[keyword]))


@settings(max_examples=EXAMPLES, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_serve_refuses_one_wrong_argument_by_name(tmp_path, data):
    # serve() would block serving a valid call: only wrong ones are drawn, each refused up front.
    keyword = data.draw(st.sampled_from(sorted(WRONG)))
    check_refusal(embedding.serve, tmp_path, keyword, data.draw(WRONG[keyword]))
