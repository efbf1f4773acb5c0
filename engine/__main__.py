"""`python -m engine` runs the payjourney CLI."""

from engine.cli import main

if __name__ == "__main__":  # a spawned worker process (simulate --jobs) imports this module too
    main()
