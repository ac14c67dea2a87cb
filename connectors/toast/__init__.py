"""Toast: paid checks awarded from the orders webhook, voids and refunds as reversals."""

from bridge.registry import register
from connectors.toast.connector import ToastConnector

register(ToastConnector)
