"""The simulated city: a case-management database and channel file drops (a plain library)."""
