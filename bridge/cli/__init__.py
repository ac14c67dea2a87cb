"""The `bridge` command. Its flags and JSON fields are a public interface
(docs/interface.md): add freely, change nothing."""

from bridge.cli import claims, connections, events, golive, reconcile, serve, stats  # noqa: F401  (they register their commands)
from bridge.cli.base import main

__all__ = ["main"]

if __name__ == "__main__":
    main()
