"""Deprecated module path (0.3.0): use `fer.runtime.export`. It keeps working for one release."""

import warnings

import importlib

globals().update({name: value for name, value in vars(importlib.import_module("fer.runtime.export")).items()
                  if not name.startswith("__")})
warnings.warn("fer.exported is deprecated; import from fer.runtime.export (or from fer)", DeprecationWarning, stacklevel=2)
