"""Tilik's top layer: the ``tilik`` command line, the demo city and its simulated analytics."""

from core import __version__

__all__ = ["__version__"]
