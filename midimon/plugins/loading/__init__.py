"""Verified bytes become a callable plugin: the C ABI (cffi), the loader, the in-memory image,
binary dependencies, and the trigger context handed to ``execute``.
"""
