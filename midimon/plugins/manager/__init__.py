"""The daemon's plugins at run time: the PluginManager, grants, host limits, stats, audit,
readiness.
"""
