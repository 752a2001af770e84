"""ordermesh package."""
