"""Text processing: tokenisation and pretrained encoders."""
