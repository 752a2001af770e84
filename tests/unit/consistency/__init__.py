"""Unit tests of the pure inventory, allocation, backorder and multi-zone stock decisions."""
