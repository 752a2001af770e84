"""Shared inputs for the simulator's unit tests: the example topology and the smoke scenario as data."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from ordermesh.topology import Topology, load_topology

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="session")
def topology() -> Topology:
    return load_topology(ROOT / "deploy/topologies/three-zones.yaml")


@pytest.fixture
def smoke_data() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "deploy/scenarios/smoke.yaml").read_text())
    return copy.deepcopy(data)
