"""The HTTP service: FastAPI app, request/response schemas and the error envelope."""

from shelf.serve.app import create_app

__all__ = ["create_app"]
