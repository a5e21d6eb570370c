"""The incident demo (`carnet demo`, `make demo`): the seed incident played by the real system."""
