"""``python -m bench``: see :mod:`bench.cli` (``python -m bench --help``)."""
from .cli import main

main()
