"""A minimal stand-in for the Kubeflow Pipelines SDK (not installable here)."""
