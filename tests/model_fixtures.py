"""Session fixtures that export models once per test session (owned by the export_model work)."""
