"""Domain errors <-> gRPC rich status (google.rpc.Status with ErrorInfo and BadRequest).

Status details travel in the `grpc-status-details-bin` trailer, and receivers cap metadata size
(8 KiB by default), so the encoded details are kept under a budget: field violations beyond it are
dropped and counted in ErrorInfo metadata rather than breaking the answer.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import grpc
from google.protobuf import any_pb2
from google.rpc import error_details_pb2, status_pb2

from ordermesh.errors import (
    ERROR_BY_REASON,
    ERROR_DOMAIN,
    ERROR_TABLE,
    FieldViolation,
    InvalidArgument,
    OrdermeshError,
)

DETAILS_KEY = "grpc-status-details-bin"
# gRPC retry (gRFC A6): a negative pushback tells the client's retryPolicy not to retry at all.
PUSHBACK_KEY = "grpc-retry-pushback-ms"
# Reasons whose retry on the same channel cannot succeed: the caller must re-read or re-route.
NOT_RETRYABLE = frozenset({"STALE_VERSION", "FENCED"})
MAX_MESSAGE = 400
MAX_FIELD = 120
MAX_DESCRIPTION = 200
DETAILS_BUDGET = 3000  # bytes before base64; leaves room in an 8 KiB trailer for grpc-message


class _RichStatus(grpc.Status):  # type: ignore[misc]
    """grpc.Status is an abstract marker class; this is its plain-data implementation."""

    def __init__(self, code: grpc.StatusCode, details: str, trailing_metadata: tuple[Any, ...]) -> None:
        self.code = code
        self.details = details
        self.trailing_metadata = trailing_metadata


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _pack(message: Any) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message)
    return packed


def to_rpc_status(err: OrdermeshError) -> grpc.Status:
    """The gRPC status for a domain error: code and reason from ERROR_TABLE, details for rich clients."""
    code_name, reason = ERROR_TABLE[type(err)]
    code = grpc.StatusCode[code_name]
    message = _clip(str(err), MAX_MESSAGE)
    metadata = {_clip(str(k), 64): _clip(str(v), MAX_DESCRIPTION) for k, v in list(err.metadata.items())[:16]}
    violations = list(err.violations) if isinstance(err, InvalidArgument) else []

    def build(kept: int) -> status_pb2.Status:
        info = error_details_pb2.ErrorInfo(reason=reason, domain=ERROR_DOMAIN, metadata=metadata)
        if kept < len(violations):
            info.metadata["violations_omitted"] = str(len(violations) - kept)
        status = status_pb2.Status(code=code.value[0], message=message, details=[_pack(info)])
        if violations:
            bad = error_details_pb2.BadRequest(
                field_violations=[
                    error_details_pb2.BadRequest.FieldViolation(
                        field=_clip(v.field, MAX_FIELD), description=_clip(v.description, MAX_DESCRIPTION)
                    )
                    for v in violations[:kept]
                ]
            )
            status.details.append(_pack(bad))
        return status

    kept = len(violations)
    status = build(kept)
    while status.ByteSize() > DETAILS_BUDGET and kept > 0:
        kept = kept // 2
        status = build(kept)
    trailers: list[tuple[str, str | bytes]] = [(DETAILS_KEY, status.SerializeToString())]
    if reason in NOT_RETRYABLE:
        trailers.append((PUSHBACK_KEY, "-1"))
    return _RichStatus(code, message, tuple(trailers))


def _details_bytes(metadata: Iterable[Any] | None) -> bytes | None:
    for item in metadata or ():
        key, value = item[0], item[1]
        if key == DETAILS_KEY and isinstance(value, bytes):
            return value
    return None


def from_rpc_error(e: grpc.RpcError | grpc.aio.AioRpcError) -> OrdermeshError | None:
    """The domain error a failed call carries in its ErrorInfo, or None when it carries none
    (transport failures, deadlines, or an error from something that is not an ordermesh server)."""
    trailing = e.trailing_metadata() if hasattr(e, "trailing_metadata") else None
    raw = _details_bytes(trailing)
    if raw is None:
        return None
    status = status_pb2.Status()
    try:
        status.ParseFromString(raw)
    except Exception:  # a malformed trailer from a foreign server is "no rich status"
        return None
    info: error_details_pb2.ErrorInfo | None = None
    violations: list[FieldViolation] = []
    for detail in status.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            candidate = error_details_pb2.ErrorInfo()
            detail.Unpack(candidate)
            if candidate.domain == ERROR_DOMAIN:
                info = candidate
        elif detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            violations.extend(FieldViolation(v.field, v.description) for v in bad.field_violations)
    if info is None:
        return None
    cls = ERROR_BY_REASON.get(info.reason)
    if cls is None:
        return None
    metadata = dict(info.metadata)
    if cls is InvalidArgument:
        return InvalidArgument(status.message, metadata, violations=tuple(violations))
    return cls(status.message, metadata)
