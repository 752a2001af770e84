"""The committed gRPC stubs are what proto/ generates today, with the pinned grpc toolchain."""

from __future__ import annotations

import re
import shutil
from importlib.metadata import version
from pathlib import Path

import pytest

from ordermesh.api import generate
from ordermesh.status import OrderStatus


@pytest.fixture(scope="module")
def rendered() -> dict[str, str]:
    return generate.render()


def test_committed_stubs_equal_a_fresh_render(rendered: dict[str, str]) -> None:
    committed = {p.name: p.read_text() for p in generate.OUT_DIR.iterdir() if p.is_file()}
    assert sorted(committed) == sorted(rendered), (
        "stub files added or missing: run python -m ordermesh.api.generate"
    )
    stale = [name for name in rendered if committed[name] != rendered[name]]
    assert not stale, f"stale stubs {stale}: run python -m ordermesh.api.generate"


def test_render_changes_when_the_proto_changes(
    rendered: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Guards the test above: an edited proto must render differently (on a copy, never the real one).
    shutil.copytree(generate.PROTO_ROOT, tmp_path / "proto")
    proto = tmp_path / "proto" / "ordermesh" / "v1" / "orders.proto"
    text = re.sub(r"//[^\n]*", "", proto.read_text())  # comment-free, so only the field differs
    edited, n = re.subn(r"(message Money \{)", r"\1\n  string note = 99;", text)
    assert n == 1
    proto.write_text(edited)
    monkeypatch.setattr(generate, "PROTO_ROOT", tmp_path / "proto")
    changed = generate.render()
    assert changed["orders_pb2.py"] != rendered["orders_pb2.py"]
    assert "note" in changed["orders_pb2.pyi"] and "note" not in rendered["orders_pb2.pyi"]


def test_stubs_import_from_their_committed_package(rendered: dict[str, str]) -> None:
    assert "from ordermesh.v1 import" not in rendered["orders_pb2_grpc.py"]
    assert "from ordermesh.api.v1 import orders_pb2" in rendered["orders_pb2_grpc.py"]


def test_grpcio_and_grpcio_tools_are_the_same_version() -> None:
    # Stubs from a newer grpcio-tools refuse to import under an older grpcio runtime.
    assert version("grpcio") == version("grpcio-tools")


def test_committed_stubs_were_generated_for_the_installed_grpcio() -> None:
    from ordermesh.api.v1 import orders_pb2_grpc

    assert version("grpcio") == orders_pb2_grpc.GRPC_GENERATED_VERSION


def test_every_domain_status_exists_in_the_api() -> None:
    from ordermesh.api.v1 import orders_pb2

    names = set(orders_pb2.OrderStatus.keys())
    assert {s.name for s in OrderStatus} <= names
    assert names - {s.name for s in OrderStatus} == {"ORDER_STATUS_UNSPECIFIED"}
