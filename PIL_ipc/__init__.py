"""PIL_ipc: an edge-and-inpainting image codec (.ipc) as a Pillow plugin.

Importing the package registers the IPC format with Pillow (open, save, ".ipc",
"image/x-ipc"); the codec itself is imported only when an image is loaded or saved.
"""

from . import IpcImagePlugin  # noqa: F401  (registers the format with Pillow)

__version__ = "0.3.0"
