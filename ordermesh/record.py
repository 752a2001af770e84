"""The base of the kernel's frozen records: pickled by their constructor's arguments.

Why: compiled (deploy/compile.py), a frozen dataclass unpickles by assigning its fields one by one,
which `frozen` refuses; rebuilt through its constructor it round-trips compiled or not (the
simulator's worker processes and tests pickle records).
"""

from __future__ import annotations

import dataclasses
from typing import Any


class Record:
    """Subclassed by frozen dataclasses whose every field is a constructor argument."""

    def __reduce__(self) -> tuple[type[Any], tuple[Any, ...]]:
        fields = dataclasses.fields(self)  # type: ignore[arg-type]  # every subclass is a dataclass
        return type(self), tuple(getattr(self, f.name) for f in fields)
