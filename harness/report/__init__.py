"""What a run leaves behind: one journal per scenario (the timeline) and the summaries drawn from them."""
