"""learned-index: recursive model indexes with exact lookups.

>>> import numpy as np
>>> from learned_index import LearnedIndex
>>> LearnedIndex(np.arange(0, 100, 10)).lower_bound(35)
4
"""
from .index import LearnedIndex
from .kv import LearnedKV

__all__ = ["LearnedIndex", "LearnedKV"]
__version__ = "0.1.0"
