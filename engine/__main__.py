"""`python -m engine` runs the payjourney CLI."""

from engine.cli import main

main()
