"""Where a plugin runs: the sandboxed worker process (wire protocol, spec, enforcement), the
runners that choose worker or in-process, the probe, and the Filesystem-grant path rules.
"""
