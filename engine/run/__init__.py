"""Running the Analyzer over many documents: runner.py (process pool), dask_backend.py, cache.py."""
