from bridge.store.db import Database

__all__ = ["Database"]
