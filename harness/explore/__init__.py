"""`certchaos explore`: Hypothesis draws fault schedules against one live lab, checks the lifecycle invariants after
every step and liveness at the end, and shrinks a failure to a replayable scenario (docs/explore.md)."""
