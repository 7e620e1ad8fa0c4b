"""Blueprints, one per page group."""
