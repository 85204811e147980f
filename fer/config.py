"""Deprecated module path (0.3.0): use `fer.model.config`. It keeps working for one release."""

import warnings

import importlib

globals().update({name: value for name, value in vars(importlib.import_module("fer.model.config")).items()
                  if not name.startswith("__")})
warnings.warn("fer.config is deprecated; import from fer.model.config (or from fer)", DeprecationWarning, stacklevel=2)
