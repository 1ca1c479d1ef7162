"""The machine's matmul peak, measured at start-up on the active backend.

Vendor peak figures assume every core at its top clock with every vector unit
busy; a model can only come as close as the backend's best kernel. So the
reference here is what the backend itself reaches on a large square matrix
product, in the dtype the model computes in: `n x n` by `n x n` (`2 n^3`
FLOPs), best of a few repeats after one untimed call. `peak_fraction` in the
result rows is the model's achieved GFLOP/s over this figure.
"""

import functools
import time

import numpy as np


@functools.lru_cache(maxsize=None)
def _cached_peak(backend, dtype, size, repeats):
    del backend  # part of the cache key only
    from keras import ops

    rng = np.random.default_rng(0)
    a = ops.convert_to_tensor(rng.standard_normal((size, size)), dtype=dtype)
    b = ops.convert_to_tensor(rng.standard_normal((size, size)), dtype=dtype)

    def run():
        # Reading one element back waits for the product on every backend
        # (JAX dispatches asynchronously); the cast lets TensorFlow hand a
        # bfloat16 scalar to numpy.
        product = ops.matmul(a, b)
        return ops.convert_to_numpy(ops.cast(product[0, 0], "float32"))

    run()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    return 2.0 * size**3 / best / 1e9


def measure_matmul_peak(dtype="float32", size=2048, repeats=5):
    """GFLOP/s of an `size x size` matrix product on the active backend.

    Measured once per process and (backend, dtype, size); later calls return
    the cached figure.

    Args:
        dtype: str, the compute dtype (`"float32"`, `"bfloat16"`,
            `"float16"`).
        size: int, side of the square matrices.
        repeats: int, timed products; the fastest counts.

    Returns:
        float, GFLOP/s (a multiply-add counts 2).
    """
    import keras

    return _cached_peak(keras.backend.backend(), dtype, int(size),
                        int(repeats))
