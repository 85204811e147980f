"""Deprecated module path (0.3.0): use `fer.model.architectures`. It keeps working for one release."""

import warnings

import importlib

globals().update({name: value for name, value in vars(importlib.import_module("fer.model.architectures")).items()
                  if not name.startswith("__")})
warnings.warn("fer.models is deprecated; import from fer.model.architectures (or from fer)", DeprecationWarning, stacklevel=2)
