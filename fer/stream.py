"""Deprecated module path (0.3.0): use `fer.live`. It keeps working for one release."""

import warnings

import importlib

globals().update({name: value for name, value in vars(importlib.import_module("fer.live")).items()
                  if not name.startswith("__")})
warnings.warn("fer.stream is deprecated; import from fer.live (or from fer)", DeprecationWarning, stacklevel=2)
