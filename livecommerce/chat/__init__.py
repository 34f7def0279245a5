"""Chat: what a line may say, how fast people may talk, and reactions."""
