"""Baselines for the learned index: a B+tree of our own and adapters to peer libraries."""
from .bplustree import BPlusTree

__all__ = ["BPlusTree"]
