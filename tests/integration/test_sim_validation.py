"""The harness run as M/M/c agrees with Erlang C and Little's law within 95% confidence intervals."""

from __future__ import annotations

from simulation.validation import validate


def test_mmc_matches_erlang_c_and_littles_law() -> None:
    checks = validate(lam=80.0, mu=10.0, c=10, duration_s=300.0, warmup_s=30.0, seeds=range(1, 7), jobs=2)
    for check in checks:
        assert check.ok, f"{check.name}: expected {check.expected}, measured {check.measured}"
    # The intervals are tight enough to mean something: a 10% error in P(wait) would be caught.
    p_wait = checks[0]
    assert p_wait.measured.half_width < 0.1 * p_wait.expected
