"""Camera health: last seen per camera, the offline rules driven by status and a timer, coverage per district."""
