"""Arbiter: an external, multi-region failover monitor for two-data-center services."""

__version__ = "0.1.0"
