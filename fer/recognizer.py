"""Deprecated module path (0.3.0): use `fer.pipeline`. It keeps working for one release."""

import warnings

import importlib

globals().update({name: value for name, value in vars(importlib.import_module("fer.pipeline")).items()
                  if not name.startswith("__")})
warnings.warn("fer.recognizer is deprecated; import from fer.pipeline (or from fer)", DeprecationWarning, stacklevel=2)
