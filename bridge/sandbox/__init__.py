"""The sandbox loyalty core: a small Flask app speaking the Xtarly and Cockato POS APIs.

Self-contained on purpose (stdlib and Flask only): the bridge mounts it at
/sandbox in embedded mode, tests use it as the fake core, and fault tests run
it as its own process. See README.md in this folder.
"""
from .app import create_sandbox_app

__all__ = ["create_sandbox_app"]
