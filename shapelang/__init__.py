"""shapelang — a compact language for neural networks, and the tools that read it.

    net = shapelang.load("examples/alexnet.net")
    result = net.analyse(H=270, W=480, classes=29)
    result.ok, result.total("params")   # False (two `expect`s fail at this size), 116071837
    model = net.to_keras()              # a keras.Model (Keras is imported only here)
"""
from .api import Layer, Network, Result, ShapelangError, load, loads
from .diagnostics import Diagnostic
from .version import __version__

__all__ = ["Diagnostic", "Layer", "Network", "Result", "ShapelangError", "__version__", "load",
           "loads"]
