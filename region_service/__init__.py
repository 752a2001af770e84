"""region_service package."""
