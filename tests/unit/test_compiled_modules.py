"""deploy.compile's bookkeeping on a scratch tree (no compiler run): a compiled module is fresh only
while its source matches the digest its build recorded, --check says so, --clean removes it all."""

from __future__ import annotations

import importlib
import importlib.machinery
import json
import pickle
from pathlib import Path

import pytest

from deploy import compile as build
from ordermesh.compiled import MODULES, running_compiled

SUFFIX = importlib.machinery.EXTENSION_SUFFIXES[0]


def _tree(root: Path, compiled: tuple[str, ...], recorded: dict[str, str] | None = None) -> None:
    for module in MODULES:
        path = root / module
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"# {module}\n")
    for module in compiled:
        (root / module).with_suffix(SUFFIX).write_bytes(b"\x7fELF")
    if recorded is not None:
        (root / "build").mkdir(exist_ok=True)
        build.manifest(root).write_text(json.dumps(recorded))


def test_a_compiled_module_is_fresh_while_its_source_matches_the_recorded_digest(tmp_path: Path) -> None:
    first, second = MODULES[0], MODULES[1]
    _tree(tmp_path, (first, second), recorded={})
    digests = {m: build.fingerprint(m, tmp_path) for m in MODULES}
    build.manifest(tmp_path).write_text(json.dumps(digests))
    assert build.stale(tmp_path) == []
    assert build.compiled(tmp_path) == [first, second]

    (tmp_path / second).write_text("# edited after the build\n")
    assert build.stale(tmp_path) == [second]


def test_a_change_to_a_project_module_it_imports_makes_a_compiled_module_stale(tmp_path: Path) -> None:
    importer = "ordermesh/order.py"
    _tree(tmp_path, (importer,))
    imports = "import json\nfrom ordermesh.money import Money\nfrom ordermesh import status\n"
    (tmp_path / importer).write_text(imports)
    for dependency in ("ordermesh/money.py", "ordermesh/status.py"):
        (tmp_path / dependency).write_text("# v1\n")
    (tmp_path / "build").mkdir()
    manifest = build.manifest(tmp_path)
    manifest.write_text(json.dumps({importer: build.fingerprint(importer, tmp_path)}))
    assert build.stale(tmp_path) == []
    # `from module import name`, then `from package import module`
    for dependency in ("ordermesh/money.py", "ordermesh/status.py"):
        (tmp_path / dependency).write_text("# v2\n")
        assert build.stale(tmp_path) == [importer], dependency
        manifest.write_text(json.dumps({importer: build.fingerprint(importer, tmp_path)}))


def test_a_compiled_module_no_build_recorded_is_stale_and_plain_sources_never_are(tmp_path: Path) -> None:
    _tree(tmp_path, (MODULES[2],))  # no manifest at all
    assert build.stale(tmp_path) == [MODULES[2]]
    _tree(tmp_path, ())
    (tmp_path / MODULES[2]).with_suffix(SUFFIX).unlink()
    assert build.stale(tmp_path) == [] and build.compiled(tmp_path) == []


def test_a_compiled_file_of_a_module_no_longer_compiled_is_stale_until_cleaned(tmp_path: Path) -> None:
    _tree(tmp_path, ())
    dropped = tmp_path / "region_service" / "storage" / f"pg_create{SUFFIX}"
    dropped.parent.mkdir(parents=True, exist_ok=True)
    dropped.write_bytes(b"\x7fELF")  # built when pg_create.py was in MODULES: it would shadow the source
    assert build.stale(tmp_path) == [f"region_service/storage/pg_create{SUFFIX}"]
    build.clean(tmp_path)
    assert not dropped.exists() and build.stale(tmp_path) == []


def test_clean_removes_every_compiled_file_and_the_record(tmp_path: Path) -> None:
    _tree(tmp_path, MODULES, recorded={"x": "y"})
    (tmp_path / f"0123abcd__mypyc{SUFFIX}").write_bytes(b"\x7fELF")
    build.clean(tmp_path)
    assert build.compiled(tmp_path) == []
    assert not list(tmp_path.glob("*__mypyc*")) and not build.manifest(tmp_path).exists()
    assert all((tmp_path / m).exists() for m in MODULES)  # the sources stay


def test_check_fails_on_a_stale_module(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(build, "stale", lambda: [MODULES[0]])
    assert build.main(["--check"]) == 1
    assert f"stale: {MODULES[0]}" in capsys.readouterr().out
    monkeypatch.setattr(build, "stale", lambda: [])
    assert build.main(["--check"]) == 0


def test_the_running_process_reports_which_modules_it_imported_compiled() -> None:
    for module in MODULES:
        importlib.import_module(module.removesuffix(".py").replace("/", "."))
    running = running_compiled()
    assert set(running) <= set(MODULES)
    assert running == build.compiled()  # this tree's build is what the tests run (or none at all)


def test_every_frozen_record_of_the_compiled_modules_pickles_round_trip() -> None:
    """Compiled or not: the simulator's worker processes and tests pickle records."""
    from ordermesh.audit import ChainReport, EventType, OrderEvent, SealedEvent
    from ordermesh.ids import OrderIdParts
    from ordermesh.money import Money
    from ordermesh.order import Customer, Order, OrderDraft, OrderLine
    from ordermesh.residency import ResidencyDecision
    from ordermesh.shard import Placement, ShardKey
    from ordermesh.status import OrderStatus

    shard = ShardKey("acme", "eu", 3)
    draft = OrderDraft(Customer("c-1", "DE"), (OrderLine("SKU-1", 2, Money(150, "EUR")),))
    order = Order.create("eu-3-x", "acme", "eu", 3, draft, now_us=7)
    created, pending = EventType.CREATED, OrderStatus.PENDING
    event = OrderEvent("ev-1", shard, order.order_id, 1, created, None, pending, "t", "", 7)
    records = [
        shard, Placement(shard, "eu-west", 2), Money(1, "EUR"), draft, order, OrderIdParts("eu", 3, "t"),
        event, SealedEvent(event, 1, "0" * 64, "1" * 64), ChainReport(shard, 1, True, unsealed=2),
        ResidencyDecision("acme", "DE", "eu"),
    ]  # fmt: skip
    for record in records:
        assert pickle.loads(pickle.dumps(record)) == record, record
