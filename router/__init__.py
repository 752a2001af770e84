"""The router: routing and residency policy, placement directory, forwarding, failover."""
