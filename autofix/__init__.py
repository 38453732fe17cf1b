"""autofix: find and fix the bugs that silently ruin PyTorch training."""

__version__ = "0.1.0"
