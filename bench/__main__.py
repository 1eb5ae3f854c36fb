"""``python -m bench``: see :mod:`bench.cli` (``python -m bench --help``)."""
from .cli import main

if __name__ == "__main__":      # not when pytest imports this module for doctests
    main()
