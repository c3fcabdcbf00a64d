"""Server-rendered pages of ``tilik api``: small HTML forms, no front-end build, usable on a phone."""
