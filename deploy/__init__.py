"""Deployment: a complete Hugging Face Space folder built from this repository (python -m deploy.space)."""
