"""`ordermesh demo` runs the whole embedded deployment and every step it shows behaves as it says."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from deploy.demo import DEFAULT_TOPOLOGY, run_demo
from ordermesh.topology import load_topology


def test_demo_runs_every_step(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_demo(load_topology(DEFAULT_TOPOLOGY), tmp_path) == 0
    out = capsys.readouterr().out
    # Orders landed in the zone of their customer's country, with ids that carry the zone.
    assert re.search(r"eu-\d+-\w{26}\s+zone=eu\s+status=pending", out)
    assert re.search(r"us-\d+-\w{26}\s+zone=us\s+status=pending", out)
    assert re.search(r"apac-\d+-\w{26}\s+zone=apac\s+status=pending", out)
    assert "same request_id -> same order: True" in out
    assert "IDEMPOTENCY_KEY_REUSED" in out
    assert "lines[0].quantity: must be 1..1000000" in out
    assert "RESIDENCY_VIOLATION" in out
    assert "STALE_VERSION" in out
    assert "INVALID_TRANSITION" in out
    assert "chain acme/eu/" in out and "chain intact" in out and "BROKEN" not in out
    # Stock: reserved in CreateOrder's transaction, tier holdback, partial shipment, commit on ship.
    assert "8 available to promise to a standard customer" in out
    assert "9 available to promise to a gold customer" in out
    assert re.search(r"7 lamps -> allocated, held in the same transaction: 6 in dub-1, 1 in fra-1", out)
    assert "1 promisable to standard -> allocated, partially" in out
    assert "gets the held-back lamp (1) -> allocated" in out
    assert "(dub-1 0 on hand/0 held, fra-1 3 on hand/2 held)" in out
    assert re.search(r"\(zone eu\) -> allocated: the us count says 98 free, 2 held, oversold 0", out)
    # The outage: the controller moved the shard within the zone and the next order was served there.
    assert re.search(r"controller moved acme/eu/\d+ to eu-(central|north) at epoch 1", out)
    assert re.search(r"served by eu-(central|north) after [\d.]+ s, still in zone eu", out)
    assert "served outside their zone: 0  -> OK" in out
    assert out.rstrip().endswith("demo finished: every step behaved as expected")
    # One SQLite file per zone, nowhere else.
    assert sorted(p.name for p in tmp_path.glob("*.sqlite")) == ["apac.sqlite", "eu.sqlite", "us.sqlite"]
    assert (tmp_path / "residency.jsonl").stat().st_size > 0


def test_demo_command_line_reports_bad_topology(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("zones: {eu: {database: 'mysql://x', regions: {eu-west: {endpoint: '127.0.0.1:1'}}}}\n")
    proc = subprocess.run(
        [sys.executable, "-m", "ordermesh.cli", "demo", "--topology", str(bad)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert "zones.eu.database" in proc.stderr
