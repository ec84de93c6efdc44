"""Is this exact binary what a trusted signer published? minisign keys and signatures, the
trust store, signer pins, key rotation, anti-rollback, the verify step, signing and packs.
"""
