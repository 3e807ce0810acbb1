"""Game days: an on-call team (or its runbook) against a fault it did not choose, timed by the harness."""
