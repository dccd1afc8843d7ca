"""``python -m fstore.cli``."""

from fstore.cli import main

main()
