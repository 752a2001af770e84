"""CreateOrder's hot modules that may run compiled to C (mypyc; built by deploy/compile.py)."""

from __future__ import annotations

import importlib.machinery
import sys

# Paths from the repository root; deploy/compile.py says why these and not others.
MODULES = (
    "ordermesh/record.py",
    "ordermesh/money.py",
    "ordermesh/order.py",
    "ordermesh/ids.py",
    "ordermesh/shard.py",
    "ordermesh/residency.py",
    "ordermesh/audit.py",
    "region_service/translate.py",
    "region_service/async_group_commit.py",
)


def running_compiled() -> list[str]:
    """The MODULES this process has imported from a compiled extension, not from their source (it
    imports nothing itself: the kernel does not import region_service)."""
    suffixes = tuple(importlib.machinery.EXTENSION_SUFFIXES)
    out = []
    for path in MODULES:
        module = sys.modules.get(path.removesuffix(".py").replace("/", "."))
        if module is not None and str(getattr(module, "__file__", "")).endswith(suffixes):
            out.append(path)
    return out
