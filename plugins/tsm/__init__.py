"""tetra plugin ``tsm``: a PM2-class service manager with one small supervisor per process.

``plugin`` is built on first access, so that ``python -m
tetra_plugins.tsm.supervisor`` (which imports this package) loads nothing but
the stdlib-only supervisor modules.
"""


def __getattr__(name):
    if name == "plugin":
        from .commands import plugin

        return plugin
    raise AttributeError(name)
