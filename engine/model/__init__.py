"""The encoder and its parts: attention kernels, the encoder, LoRA adapters, the model registry,
checkpoint conversion and loading. Window, dtype and threads are arguments, never written onto a
loaded model. Importing this package does not import torch."""
