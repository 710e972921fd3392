"""The OpenAPI document at /api matches the server's behaviour, checked by schemathesis.

Requests generated from the document (valid ones, and invalid ones that break its parameter schemas) go to the
served Worms demo, as an anonymous caller and as a planner: no response may be a server error, and each must have
a status code and content type that the document lists for the operation. Only reading operations (GET, OPTIONS)
are exercised: writes would change the demo that other tests read, and executing a process queues coverage jobs.

The operations are walked in one test with Hypothesis directly: schemathesis's lazy pytest loader does not work
with this pytest (it reads a private attribute of the test node).
"""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.generation.modes import GenerationMode
from schemathesis.specs.openapi.checks import content_type_conformance, status_code_conformance

from tests.conftest import Served

CHECKS = [schemathesis.checks.not_a_server_error, status_code_conformance, content_type_conformance]
READS = ("GET", "OPTIONS")
SETTINGS = settings(
    max_examples=6, derandomize=True, deadline=None, database=None, suppress_health_check=list(HealthCheck)
)


def _describe(e: BaseException) -> str:
    if isinstance(e, BaseExceptionGroup):
        return "; ".join(_describe(x) for x in e.exceptions) + f" [{str(e).splitlines()[0]}]"
    return " ".join(str(e).split())[:400]


def test_served_api_matches_its_openapi_document(served: Served) -> None:
    schema = schemathesis.openapi.from_url(f"{served.url}/api").include(method=list(READS))
    callers = {"anonymous": {}, "planner": {"Authorization": f"Bearer {served.planner_key}"}}
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {op.method.upper() for op in operations} == set(READS)
    assert any(op.path == "/jobs" for op in operations)
    failures: list[str] = []
    for op in operations:
        assert op.method.upper() in READS  # never a write, never a process execution
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @SETTINGS
            @given(case=op.as_strategy(generation_mode=mode))
            def check(case: schemathesis.Case) -> None:
                for headers in callers.values():
                    case.call_and_validate(headers=headers, checks=CHECKS, timeout=60)

            try:
                check()
            except Unsatisfiable:  # every value of every parameter is valid: there is no invalid request to make
                assert mode == GenerationMode.NEGATIVE, f"no request generated for {op.method.upper()} {op.path}"
            # schemathesis raises a BaseExceptionGroup; gather every operation's mismatch, not just the first
            except (Exception, BaseExceptionGroup) as e:
                failures.append(f"{op.method.upper()} {op.path} ({mode}): {_describe(e)}")
    assert not failures, "\n\n".join(failures)
