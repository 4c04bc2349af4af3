"""I/O: the PostgreSQL side (schema, reference data load, visit and lifecycle writer)."""
