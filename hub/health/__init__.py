"""Camera health: last seen per camera, offline alerts raised by a timer, coverage per district."""
