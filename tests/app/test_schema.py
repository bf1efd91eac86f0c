"""A bounded schemathesis run against the app's OpenAPI schema: no request gets a server error (5xx).

Every operation gets up to MAX_EXAMPLES generated requests (schemathesis's valid and invalid data)
against a running server over a small real library; the event stream, which never ends by design, is
left out. (schemathesis's lazy pytest fixture does not run on pytest 9, so the operations are driven
here with Hypothesis directly.)
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

schemathesis = pytest.importorskip("schemathesis", reason="needs schemathesis (pip install -e '.[dev]')")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402

from tests.app.conftest import Running, serving  # noqa: E402
from tests.index.test_indexer import BlobDetector  # noqa: E402

MAX_EXAMPLES = 12
SKIP = {"/api/events"}


@pytest.fixture
def running(library_dir: tuple[Path, Path], tmp_path: Path) -> Iterator[Running]:
    """A server over a copy of the library: generated requests may add and remove media."""
    root, media = library_dir
    copy = tmp_path / "lib"
    shutil.copytree(root, copy, ignore=shutil.ignore_patterns(".lock"))
    with serving(copy, media, tmp_path / "uploads", BlobDetector()) as server:
        yield server


def test_no_server_error(running: Running) -> None:
    schema = schemathesis.openapi.from_url(running.url + "/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    operations = [op for op in operations if op.path not in SKIP]
    assert len(operations) >= 25
    failures: list[str] = []
    calls = 0
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))  # fmt: skip
        def check(case) -> None:  # type: ignore[no-untyped-def]
            nonlocal calls
            calls += 1
            case.call_and_validate(base_url=running.url, checks=[not_a_server_error], timeout=60)

        try:
            check()
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as exc:  # schemathesis raises groups of failures: collect and report them all
            failures.append(f"{operation.method.upper()} {operation.path}: {str(exc)[:600]}")
    assert not failures, "\n".join(failures)
    assert calls >= 5 * len(operations)
