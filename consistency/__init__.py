"""consistency package."""
