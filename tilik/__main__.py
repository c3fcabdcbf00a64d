"""``python -m tilik``: the same CLI as the ``tilik`` script."""

from tilik.cli import main

main()
