"""Square: payments and refunds awarded from payment.* / refund.* webhooks."""

from bridge.registry import register
from connectors.square.connector import SquareConnector

register(SquareConnector)
