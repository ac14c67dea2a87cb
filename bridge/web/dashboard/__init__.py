"""The support dashboard at /admin/: server-rendered pages over the project's
service functions (bridge.views, search, replay, connections), behind the
admin rules of bridge.web.admin_auth."""

from bridge.web.dashboard import connection_pages, events, golive_pages, guard, replays  # noqa: F401  (they add the routes)
from bridge.web.dashboard.blueprint import dashboard

__all__ = ["dashboard"]
