"""Text processing: tokenisation and pretrained encoders."""

from shelf.text.encoder import CachedEncoder, Encoder, MiniLMEncoder, load_encoder
from shelf.text.tokenize import Analyzer

__all__ = ["Analyzer", "CachedEncoder", "Encoder", "MiniLMEncoder", "load_encoder"]
