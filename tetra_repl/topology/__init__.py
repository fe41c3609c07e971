"""Topology files and the eight-level TES resolver: data in, data out, no sockets."""
