"""The edge agent: a tenant's connector runtime at its own site, connecting out to the city."""
