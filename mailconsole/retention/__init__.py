"""Data retention as a scheduled job (the deletes themselves are in services/retention.py)."""
