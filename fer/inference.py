"""Deprecated module path (0.3.0): use `fer.runtime.base`. It keeps working for one release."""

import warnings

import importlib

globals().update({name: value for name, value in vars(importlib.import_module("fer.runtime.base")).items()
                  if not name.startswith("__")})
warnings.warn("fer.inference is deprecated; import from fer.runtime.base (or from fer)", DeprecationWarning, stacklevel=2)
