"""Điểm Cầu: a self-hosted multi-site online conference system."""

__version__ = "0.1.0"
