"""Generic endpoint: one sale per POST from Zapier, Make, n8n, Pipedream or a till."""

from bridge.registry import register
from connectors.generic.connector import GenericConnector

register(GenericConnector)
