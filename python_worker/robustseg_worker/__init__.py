"""robustseg worker: the PyTorch compute plane behind the gRPC contract."""

__version__ = "0.1.0"
