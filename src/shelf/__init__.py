"""shelf: product search and recommendations for online stores."""

__version__ = "0.1.0"

__all__ = ["__version__"]
