"""A stand-in for triton in compare_fla.py's tests."""
from . import testing  # noqa: F401
