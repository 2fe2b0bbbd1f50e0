"""emosketch: faces to emotion-driven line-drawing animations for tiny monochrome screens."""

__version__ = "0.1.0"
