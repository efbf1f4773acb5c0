"""The scheduler daemon: claims due steps, re-decides them on fresh facts, sends each once."""
