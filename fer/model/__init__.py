"""What a model is, apart from any runtime: its config, its preprocessing, where it comes from
(sources), and the registry of architectures. Light: importing this package loads no TensorFlow."""
