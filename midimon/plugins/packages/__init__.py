"""Plugin packages: the verification report and installing or removing a plugin, shared by
the CLI and the daemon.
"""
