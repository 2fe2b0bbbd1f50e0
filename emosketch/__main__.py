"""`python -m emosketch`: the same command line as `emosketch`."""

from .cli import main

main()
