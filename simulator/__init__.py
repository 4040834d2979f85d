"""The simulated city: a case-management database and channel file drops (a plain library).

The public API is in `simulator.run` (`simulate`, `continue_simulation`, `SimulationSummary`); it is
not imported here, so that `from simulator import schema` stays light for ingestion code.
"""
