"""One Dagster module per flow, plus the machinery they share (sensor factories, outcome reporting)."""
