"""The codec benchmark (python -m bench.codec): see __main__.py."""
