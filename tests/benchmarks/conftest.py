"""Benchmarks are collected only when asked for (`pytest tests/benchmarks -s`), never by the default suite.

Their files are named `bench_*.py`, which pytest's default `test_*.py` pattern skips; this hook
collects them when the command line names this folder (or a file in it) — a plain `pytest` run,
whose `testpaths` is `tests`, leaves them out.
"""

from __future__ import annotations

from pathlib import Path

import pytest

_HERE = Path(__file__).resolve().parent


def _benchmarks_requested(config: pytest.Config) -> bool:
    for arg in config.args:
        path = Path(str(arg).split("::", 1)[0]).resolve()
        if path == _HERE or _HERE in path.parents:
            return True
    return False


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Module | None:
    if file_path.suffix != ".py" or not file_path.name.startswith("bench_"):
        return None
    # A file named on the command line is collected by pytest itself; collecting it here too would
    # run it twice.
    if parent.session.isinitpath(file_path) or not _benchmarks_requested(parent.config):
        return None
    module: pytest.Module = pytest.Module.from_parent(parent, path=file_path)
    return module


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if _HERE in Path(item.path).resolve().parents:
            item.add_marker("benchmark")
