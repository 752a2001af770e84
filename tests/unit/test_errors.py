"""The one error table: every domain error has exactly one gRPC status code and reason."""

from __future__ import annotations

import ast
import inspect

import grpc
import pytest

from ordermesh import errors
from ordermesh.errors import ERROR_BY_REASON, ERROR_TABLE, FieldViolation, InvalidArgument, OrdermeshError

DEFINED = sorted(
    (
        cls
        for _, cls in inspect.getmembers(errors, inspect.isclass)
        if issubclass(cls, OrdermeshError) and cls is not OrdermeshError and cls.__module__ == errors.__name__
    ),
    key=lambda c: c.__name__,
)


def test_every_error_defined_is_in_the_table_and_nothing_else_is() -> None:
    assert DEFINED, "found no error classes: the discovery above is broken"
    assert set(ERROR_TABLE) == set(DEFINED)
    assert OrdermeshError not in ERROR_TABLE


def test_each_error_is_written_in_the_table_exactly_once() -> None:
    # A dict literal silently keeps the last of two equal keys, so count them in the source.
    tree = ast.parse(inspect.getsource(errors))
    table = next(
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.AnnAssign)
        and isinstance(node.target, ast.Name)
        and node.target.id == "ERROR_TABLE"
    )
    assert isinstance(table, ast.Dict)
    names = [k.id for k in table.keys if isinstance(k, ast.Name)]
    assert len(names) == len(table.keys)
    assert sorted(names) == sorted(c.__name__ for c in DEFINED)


def test_reasons_are_unique_and_map_back_to_their_error() -> None:
    reasons = [reason for _, reason in ERROR_TABLE.values()]
    assert len(set(reasons)) == len(reasons)
    assert {ERROR_BY_REASON[reason] for reason in reasons} == set(ERROR_TABLE)
    assert all(r.isupper() and r.replace("_", "").isalpha() for r in reasons)  # ErrorInfo reason style


@pytest.mark.parametrize("cls", DEFINED, ids=lambda c: c.__name__)
def test_codes_are_grpc_status_codes_and_never_internal_or_ok(cls: type[OrdermeshError]) -> None:
    code, _ = ERROR_TABLE[cls]
    status = grpc.StatusCode[code]
    assert status not in (grpc.StatusCode.OK, grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN)


@pytest.mark.parametrize(
    ("cls", "code", "reason"),
    [
        (errors.InvalidArgument, "INVALID_ARGUMENT", "INVALID_ARGUMENT"),
        (errors.NotFound, "NOT_FOUND", "NOT_FOUND"),
        (errors.ResidencyViolation, "FAILED_PRECONDITION", "RESIDENCY_VIOLATION"),
        (errors.StaleVersion, "ABORTED", "STALE_VERSION"),
        (errors.IdempotencyKeyReused, "FAILED_PRECONDITION", "IDEMPOTENCY_KEY_REUSED"),
        (errors.Fenced, "UNAVAILABLE", "FENCED"),
        (errors.ZoneUnavailable, "UNAVAILABLE", "ZONE_UNAVAILABLE"),
        (errors.InsufficientInventory, "FAILED_PRECONDITION", "INSUFFICIENT_INVENTORY"),
    ],
)
def test_the_reasons_named_in_the_design_keep_their_codes(
    cls: type[OrdermeshError], code: str, reason: str
) -> None:
    # Clients branch on these; DESIGN.md names them. Changing one is a breaking API change.
    error = cls("message")
    assert (error.code, error.reason) == (code, reason)


def test_an_error_instance_reports_its_message_and_metadata() -> None:
    error = errors.ZoneUnavailable("no healthy region in zone eu", {"zone": "eu"})
    assert str(error) == "no healthy region in zone eu"
    assert dict(error.metadata) == {"zone": "eu"}
    assert isinstance(error, Exception)


def test_invalid_argument_lists_the_fields_in_its_message() -> None:
    error = InvalidArgument.of(
        [FieldViolation("customer.country", "required"), FieldViolation("lines[2].quantity", "1..")]
    )
    assert "customer.country: required" in str(error)
    assert "lines[2].quantity" in str(error)
    assert [v.field for v in error.violations] == ["customer.country", "lines[2].quantity"]


def test_invalid_argument_message_stays_short_but_keeps_every_violation() -> None:
    bad = [FieldViolation(f"lines[{i}].sku", "bad") for i in range(8)]
    error = InvalidArgument.of(bad)
    assert "lines[4].sku" in str(error)
    assert "lines[5].sku" not in str(error)
    assert "(+3 more)" in str(error)
    assert len(error.violations) == 8


def test_single_names_one_field() -> None:
    error = InvalidArgument.single("request_id", "required")
    assert [(v.field, v.description) for v in error.violations] == [("request_id", "required")]
    assert error.code == "INVALID_ARGUMENT"
