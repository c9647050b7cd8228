"""Integrations of GenOps governance with ML tools (Weights & Biases)."""
