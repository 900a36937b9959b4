"""status_gate: turns each agency's own status topic into complaints.status.v1, with the
agency taken from the topic it was written to (only that agency may write it)."""
