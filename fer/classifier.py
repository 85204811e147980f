"""Deprecated module path (0.3.0): use `fer.runtime.keras`. It keeps working for one release."""

import warnings

import importlib

globals().update({name: value for name, value in vars(importlib.import_module("fer.runtime.keras")).items()
                  if not name.startswith("__")})
warnings.warn("fer.classifier is deprecated; import from fer.runtime.keras (or from fer)", DeprecationWarning, stacklevel=2)
