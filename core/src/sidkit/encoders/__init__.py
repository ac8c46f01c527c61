"""Encoders that ship with the core (method-specific encoders live in plugins)."""
