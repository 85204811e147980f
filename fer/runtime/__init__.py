"""Model runtimes: where a model folder's network runs. fer.runtime.onnx (ONNX Runtime, no TensorFlow) serves
predictions; fer.runtime.keras (Keras) trains and explains. This package imports nothing heavy."""
