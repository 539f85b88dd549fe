"""Types of the optional C extension built from ``_kernels.c`` (see its method table for the contracts).

Arrays are C-contiguous: ``src``/``dst``/``band`` uint8 ``(rows, width, channels)``, ``bounds`` and ``coeffs`` the
taps of :class:`vlm.bicubic.Taps`, ``out`` float32 ``(tiles, channels, size, size)``, ``lut`` float32
``(channels, 256)``.
"""

import numpy as np

def vertical(src: np.ndarray, dst: np.ndarray, bounds: np.ndarray, coeffs: np.ndarray, /) -> None: ...
def horizontal(src: np.ndarray, dst: np.ndarray, bounds: np.ndarray, coeffs: np.ndarray, /) -> None: ...
def normalise(band: np.ndarray, out: np.ndarray, lut: np.ndarray, x0: int, y0: int, cols: int, /) -> None: ...
