"""Access: every party's principal and what it may read and write, declared beside the catalog.

``roles`` is the declaration, ``broker`` applies it through the Admin API, ``manage`` adds,
rotates and revokes principals (``tilik access``), ``docs`` renders it.
"""
