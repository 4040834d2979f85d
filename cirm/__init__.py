"""CiRM Warehouse: settings, the source contract and the `cirm` command line."""
