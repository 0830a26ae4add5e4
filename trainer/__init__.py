"""BS4NN trainer: datasets, spike encoding, numba kernels, training loop, model file, plots."""
