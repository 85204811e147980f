"""Deprecated module path (0.3.0): use `fer.model.preprocessing`. It keeps working for one release."""

import warnings

import importlib

globals().update({name: value for name, value in vars(importlib.import_module("fer.model.preprocessing")).items()
                  if not name.startswith("__")})
warnings.warn("fer.preprocessing is deprecated; import from fer.model.preprocessing (or from fer)", DeprecationWarning, stacklevel=2)
