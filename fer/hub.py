"""Deprecated module path (0.3.0): use `fer.model.sources`. It keeps working for one release."""

import warnings

import importlib

globals().update({name: value for name, value in vars(importlib.import_module("fer.model.sources")).items()
                  if not name.startswith("__")})
warnings.warn("fer.hub is deprecated; import from fer.model.sources (or from fer)", DeprecationWarning, stacklevel=2)
